"""Real MQTT brokers for tests: a private Mosquitto on a free port, or an in-process amqtt broker
where Mosquitto is not installed. Mosquitto is looked up as the sandbox does (PATH, then /usr/sbin and the
other sbin directories an ordinary user's PATH lacks)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kraken2mqtt.sandbox.broker import find_mosquitto


def mosquitto_exe() -> str | None:
    """The Mosquitto executable tests run, or None where it is not installed."""
    return find_mosquitto()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"broker did not start listening on port {port}")


@dataclass
class Broker:
    host: str
    port: int
    kind: str
    _proc: subprocess.Popen[bytes] | None = None
    _conf: Path | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None

    def start(self) -> None:
        if self.kind == "mosquitto":
            assert self._conf is not None
            exe = mosquitto_exe()
            assert exe is not None, "mosquitto is not installed"
            self._proc = subprocess.Popen(
                [exe, "-c", str(self._conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=_run_amqtt, args=(self.port, self._stop), daemon=True)
            self._thread.start()
        _wait_listening(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


def _run_amqtt(port: int, stop: threading.Event) -> None:
    from amqtt.broker import Broker as AmqttBroker

    async def main() -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = AmqttBroker(config)
        await broker.start()
        await asyncio.to_thread(stop.wait)
        await broker.shutdown()

    asyncio.run(main())


def start_broker() -> Broker:
    port = free_port()
    if mosquitto_exe():
        conf = Path(tempfile.mkdtemp(prefix="k2m-mosq-")) / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type none\n"
        )
        broker = Broker("127.0.0.1", port, "mosquitto", _conf=conf)
    else:
        broker = Broker("127.0.0.1", port, "amqtt")
    broker.start()
    return broker
