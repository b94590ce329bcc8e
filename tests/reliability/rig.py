"""Shared pieces of the reliability suite: test secrets, the tally behind the report table, a daemon on
the fake Kraken and a real broker, a wildcard MQTT recorder and private Mosquitto instances."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from kraken2mqtt.mqtt.connection import SOCKET_OPTIONS
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.settings import Settings, load_settings
from tests.brokers import Broker, free_port, mosquitto_exe
from tests.timing import scaled

# Secrets of the suite. Not shaped like a Kraken key or a JWT on purpose: only registration (not the
# shape-based net of ``redact``) keeps them out of the outputs, so the grep really tests registration.
API_KEY = "rel-apikey-6c1f0e9b77d24a"
MQTT_USER = "k2m-daemon"
MQTT_PASSWORD = "rel-mqtt-pw-93e1c4d0aa"
STATIC_SECRETS = (API_KEY, MQTT_PASSWORD)


@dataclass
class Tally:
    """What the suite injected and what came of it (printed as a table at the end of the session)."""

    injected: Counter[str] = field(default_factory=Counter)
    survived: Counter[str] = field(default_factory=Counter)
    commands_sent: int = 0
    commands_lost: int = 0
    crashes: int = 0
    secrets_found: int = 0
    outputs_checked: int = 0
    bytes_checked: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def fault(self, kind: str, survived: bool = True, n: int = 1) -> None:
        self.injected[kind] += n
        if survived:
            self.survived[kind] += n

    def table(self) -> str:
        rows = ["| fault kind | injected | survived |", "| --- | ---: | ---: |"]
        for kind in sorted(self.injected):
            rows.append(f"| {kind} | {self.injected[kind]} | {self.survived[kind]} |")
        rows.append(f"| **total** | {sum(self.injected.values())} | {sum(self.survived.values())} |")
        rows += [
            "",
            f"commands accepted and tracked: {self.commands_sent}; commands lost: {self.commands_lost}",
            f"daemon crashes (unhandled exceptions / exits): {self.crashes}",
            f"secrets found: {self.secrets_found} (in {self.outputs_checked} outputs, "
            f"{self.bytes_checked} bytes grepped)",
            *self.notes,
        ]
        return "\n".join(rows)


TALLY = Tally()


class Outputs:
    """Everything a test lets out of the daemon (logs, MQTT payloads, metrics, status, stderr): grepped
    for the secrets at the end of the test."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.fakes: list[FakeKraken] = []
        self.files: list[Path] = []

    def add(self, what: str, text: str | bytes) -> None:
        self.texts.append((what, text.decode("utf-8", "replace") if isinstance(text, bytes) else text))

    def secrets(self) -> list[str]:
        found = list(STATIC_SECRETS)
        for fk in self.fakes:
            found += fk.tokens.issued()
        return found

    def leaks(self, extra: list[tuple[str, str]]) -> list[str]:
        secrets = self.secrets()
        texts = list(self.texts) + extra
        texts += [(str(p), p.read_text("utf-8", "replace")) for p in self.files if p.exists()]
        problems = []
        for what, text in texts:
            TALLY.outputs_checked += 1
            TALLY.bytes_checked += len(text)
            for secret in secrets:
                if secret in text:
                    problems.append(f"{what}: contains a secret ({secret[:4]}…)")
        return problems


def fake_kraken(outputs: Outputs, **kw: Any) -> FakeKraken:
    fk = FakeKraken(api_key=API_KEY, **kw)
    outputs.fakes.append(fk)
    return fk


def daemon_settings(tmp_path: Path, broker: Broker, *, base: str | None = None, **over: Any) -> Settings:
    base = base or f"rel{uuid.uuid4().hex[:8]}"
    mqtt: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "base_topic": base,
        "client_id": base,
        "discovery_prefix": f"{base}-ha",
        "keepalive_seconds": 5,
    }
    mqtt.update(over.pop("mqtt", {}))
    values: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "mqtt": mqtt,
        "metrics": {"port": free_port()},
        "planner": {"reconcile_seconds": 5},
        "devices": [
            {
                "id": "ev",
                "kind": "ev",
                "adapter": "openevse",
                "topic": f"{base}-evse",
                "plan": {"capacity_kwh": 60, "max_kw": 7.2},
            }
        ],
    }
    values.update(over)
    return load_settings(None, **values)


class Recorder:
    """A wildcard subscriber on a broker: every message anyone publishes (for the secret grep and the
    checks). Reconnects by itself after a broker restart."""

    def __init__(self, broker: Broker, outputs: Outputs, *, topic: str = "#", **client: Any) -> None:
        self.broker, self.outputs, self.topic, self._client_kw = broker, outputs, topic, client
        self.messages: list[tuple[float, str, bytes, bool]] = []  # (monotonic, topic, payload, retain)
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), scaled(10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, topic, payload, _ in self.messages:
            self.outputs.add(f"mqtt {topic}", topic.encode() + b" " + payload)

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    identifier=f"rec-{uuid.uuid4().hex[:8]}",
                    socket_options=SOCKET_OPTIONS,
                    **self._client_kw,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.connected.set()
                    async for m in client.messages:
                        payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                        self.messages.append((time.monotonic(), m.topic.value, payload, bool(m.retain)))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.05)

    def live_since(self, t0: float) -> list[tuple[str, bytes]]:
        """Messages published (not retained copies) after ``t0``."""
        return [(t, p) for (at, t, p, r) in self.messages if at >= t0 and not r]


async def until(condition: Callable[[], bool | Awaitable[bool]], within: float, what: str) -> float:
    """Poll ``condition`` until true (returns the seconds it took); fail the test after ``within`` s."""
    start = time.monotonic()
    while True:
        value = condition()
        if not isinstance(value, bool):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def mosquitto(extra: str = "", *, persistence: bool = True) -> Iterator[Broker]:
    """A private Mosquitto (persistence on, as Home Assistant's add-on runs it) on a free port."""
    if not mosquitto_exe():
        pytest.skip("mosquitto is not installed")
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="k2m-rel-mosq-"))
    conf = work / "mosquitto.conf"
    # run as ourselves: as root Mosquitto would switch to the "mosquitto" user, who cannot write here
    lines = [f"listener {port} 127.0.0.1", "log_type none", f"user {getpass.getuser()}"]
    if persistence:
        lines += ["persistence true", f"persistence_location {work}/"]
    else:
        lines += ["persistence false"]
    if "allow_anonymous" not in extra:
        lines.append("allow_anonymous true")
    conf.write_text("\n".join(lines) + "\n" + extra)
    broker = Broker("127.0.0.1", port, "mosquitto", _conf=conf)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def run_quiet(args: list[str], cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=scaled(60), env={**os.environ})


def target_for(fk: FakeKraken, url: str | None = None) -> Any:
    from pydantic import SecretStr

    from kraken2mqtt.daemon import KrakenTarget
    from kraken2mqtt.kraken.auth import Credentials

    return KrakenTarget(url or fk.url, Credentials(api_key=SecretStr(API_KEY)), fk.deployment)
