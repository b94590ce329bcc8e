"""An MQTT broker for the sandbox when the user has none: a private Mosquitto, else in-process amqtt.

* Mosquitto (``mosquitto`` on PATH, else in the sbin directories distributions install it in, which an
  ordinary user's PATH lacks: Debian's ``/usr/sbin``, ``/usr/local/sbin``, Homebrew's): its own config in
  a temporary directory, a free port on loopback only, anonymous access, no persistence; the process is
  ours and is terminated on :meth:`EmbeddedBroker.stop` (and at interpreter exit).
* amqtt (the optional extra ``kraken2mqtt[broker]``): runs in a background thread with its own event loop.
* Neither: :class:`BrokerUnavailable` says what to install.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

BrokerKind = Literal["mosquitto", "amqtt"]
LOOPBACK = "127.0.0.1"
# Where packages put Mosquitto when it is not on PATH: Debian/Raspberry Pi OS (``/usr/sbin/mosquitto``, not
# on a non-root user's PATH), source builds, Homebrew on Apple silicon and on Intel.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")


def find_mosquitto(path: str | None = None) -> str | None:
    """The Mosquitto executable: on ``path`` (default ``$PATH``), else in :data:`SBIN_DIRS`, else None."""
    found = shutil.which("mosquitto", path=path)
    if found is None:
        found = shutil.which("mosquitto", path=os.pathsep.join(SBIN_DIRS))
    return found


class BrokerUnavailable(RuntimeError):
    pass


@dataclass
class EmbeddedBroker:
    host: str
    port: int
    kind: BrokerKind
    program: str = ""
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def description(self) -> str:
        """What runs it, for the person: ``mosquitto (/usr/sbin/mosquitto)`` or ``amqtt (in-process)``."""
        return f"{self.kind} ({self.program or 'in-process'})"

    def stop(self) -> None:
        """Stop the broker (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop_event.set()
            thread.join(timeout=5)
        tmp, self._dir = self._dir, None
        if tmp is not None:
            tmp.cleanup()
        atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def available_kinds() -> list[BrokerKind]:
    kinds: list[BrokerKind] = []
    if find_mosquitto():
        kinds.append("mosquitto")
    if importlib.util.find_spec("amqtt") is not None:
        kinds.append("amqtt")
    return kinds


def start_embedded_broker(
    prefer: Literal["auto", "mosquitto", "amqtt"] = "auto", *, port: int | None = None, timeout: float = 10.0
) -> EmbeddedBroker:
    """Start a private broker on loopback (Mosquitto if installed, else amqtt); stop it when done."""
    kinds = available_kinds()
    if prefer != "auto":
        kinds = [k for k in kinds if k == prefer]
    if not kinds:
        wanted = "" if prefer == "auto" else f" ({prefer} was asked for)"
        raise BrokerUnavailable(
            f"no MQTT broker configured and none can be started here{wanted}: no mosquitto on PATH nor in "
            f"{', '.join(SBIN_DIRS)}; install Mosquitto "
            "(e.g. `apt install mosquitto`) or the embedded one (`pip install 'kraken2mqtt[broker]'`), "
            "or set [mqtt] host to a broker you have"
        )
    kind = kinds[0]
    if port is not None and reachable(LOOPBACK, port, timeout=0.2):
        raise BrokerUnavailable(f"cannot start a broker on {LOOPBACK}:{port}: the port is in use")
    broker = EmbeddedBroker(LOOPBACK, port or free_port(), kind)
    atexit.register(broker.stop)
    try:
        if kind == "mosquitto":
            _start_mosquitto(broker)
            _wait_listening(broker, timeout)
        else:
            _start_amqtt(broker, timeout)
    except BaseException:
        broker.stop()
        raise
    return broker


def ensure_broker(
    host: str | None, port: int = 1883, *, start_if_unreachable: bool = False
) -> tuple[str, int, EmbeddedBroker | None]:
    """(host, port, the broker we started or None): the configured broker if there is one (and it answers,
    with ``start_if_unreachable``), else an embedded one."""
    if host and (not start_if_unreachable or reachable(host, port)):
        return host, port, None
    broker = start_embedded_broker()
    return broker.host, broker.port, broker


def _start_mosquitto(broker: EmbeddedBroker) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="kraken2mqtt-mosquitto-")
    broker._dir = tmp
    conf = Path(tmp.name) / "mosquitto.conf"
    conf.write_text(
        f"listener {broker.port} {LOOPBACK}\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n",
        encoding="utf-8",
    )
    exe = find_mosquitto()
    if exe is None:
        raise BrokerUnavailable(f"mosquitto is neither on PATH nor in {', '.join(SBIN_DIRS)}")
    broker.program = exe
    log = (Path(tmp.name) / "mosquitto.log").open("wb")
    with log:
        broker._proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own config
            [exe, "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )


def _start_amqtt(broker: EmbeddedBroker, timeout: float) -> None:
    ready = threading.Event()
    errors: list[BaseException] = []
    broker._stop_event = threading.Event()

    def main() -> None:
        from amqtt.broker import Broker as AmqttBroker

        async def serve() -> None:
            config = {
                "listeners": {"default": {"type": "tcp", "bind": f"{broker.host}:{broker.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
            server = AmqttBroker(config)
            await server.start()
            ready.set()
            await asyncio.to_thread(broker._stop_event.wait)
            await server.shutdown()

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the starter
            errors.append(exc)
            ready.set()

    broker._thread = threading.Thread(target=main, name="embedded-amqtt", daemon=True)
    broker._thread.start()
    if not ready.wait(timeout=timeout):
        raise BrokerUnavailable(f"amqtt did not start on {broker.host}:{broker.port}")
    if errors:
        raise BrokerUnavailable(f"amqtt failed to start: {errors[0]}") from errors[0]


def _wait_listening(broker: EmbeddedBroker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(broker.host, broker.port, timeout=0.2):
            return
        proc = broker._proc
        if proc is not None and proc.poll() is not None:
            raise BrokerUnavailable(f"mosquitto exited with {proc.returncode}: {_mosquitto_log(broker)}")
        time.sleep(0.02)
    raise BrokerUnavailable(f"{broker.kind} did not start listening on {broker.host}:{broker.port}")


def _mosquitto_log(broker: EmbeddedBroker) -> str:
    if broker._dir is None:
        return ""
    path = Path(broker._dir.name) / "mosquitto.log"
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[-500:]
    except OSError:
        return ""
