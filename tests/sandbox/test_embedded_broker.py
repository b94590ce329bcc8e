"""The sandbox's own broker: a private Mosquitto, else amqtt, else a clear error."""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path
from typing import Literal

import aiomqtt
import pytest

from kraken2mqtt.sandbox import broker as broker_module
from kraken2mqtt.sandbox.broker import (
    SBIN_DIRS,
    BrokerUnavailable,
    available_kinds,
    ensure_broker,
    find_mosquitto,
    reachable,
    start_embedded_broker,
)
from kraken2mqtt.sandbox.run import run_sandbox
from kraken2mqtt.settings import load_settings
from tests.brokers import start_broker

KINDS = available_kinds()
# An ordinary user's PATH on Debian / Raspberry Pi OS: no sbin directory.
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
REAL_MOSQUITTO = find_mosquitto()
needs_sbin_mosquitto = pytest.mark.skipif(
    REAL_MOSQUITTO is None or os.path.dirname(REAL_MOSQUITTO) not in SBIN_DIRS,
    reason="needs Mosquitto installed in an sbin directory (as Debian does: /usr/sbin/mosquitto)",
)


async def roundtrip(host: str, port: int) -> None:
    async with aiomqtt.Client(host, port, identifier="embedded-broker-test") as client:
        await client.subscribe("k2m/test")
        await client.publish("k2m/test", "hello", qos=1)
        async for message in client.messages:
            assert message.payload == b"hello"
            return


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
async def test_starts_serves_and_stops(kind: Literal["mosquitto", "amqtt"]) -> None:
    if kind not in KINDS:
        pytest.skip(f"{kind} not available")
    with start_embedded_broker(kind) as b:
        assert b.kind == kind and b.host == "127.0.0.1" and b.url == f"mqtt://127.0.0.1:{b.port}"
        await roundtrip(b.host, b.port)
    assert not reachable(b.host, b.port)
    b.stop()  # idempotent


def test_auto_prefers_mosquitto() -> None:
    if not KINDS:
        pytest.skip("no broker available")
    with start_embedded_broker() as b:
        assert b.kind == KINDS[0]


def test_clear_error_when_nothing_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name, path=None: None)
    monkeypatch.setattr("importlib.util.find_spec", lambda _name: None)
    with pytest.raises(BrokerUnavailable, match=r"install Mosquitto .*kraken2mqtt\[broker\]"):
        start_embedded_broker()


@pytest.mark.skipif("mosquitto" not in KINDS, reason="mosquitto not installed")
def test_a_busy_port_is_reported() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BrokerUnavailable, match="in use"):
            start_embedded_broker("mosquitto", port=port, timeout=5)


def test_configured_broker_is_used_as_is() -> None:
    assert ensure_broker("broker.example", 1883) == ("broker.example", 1883, None)


def test_unreachable_configured_broker_can_fall_back() -> None:
    if not KINDS:
        pytest.skip("no broker available")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    host, port, started = ensure_broker("127.0.0.1", dead, start_if_unreachable=True)
    try:
        assert started is not None and (host, port) == (started.host, started.port) and port != dead
        assert reachable(host, port)
    finally:
        assert started is not None
        started.stop()
    host, port, started = ensure_broker(None)
    assert started is not None
    started.stop()


def test_mosquitto_is_found_outside_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    stub = sbin / "mosquitto"
    stub.write_text("#!/bin/sh\n")
    monkeypatch.setattr(broker_module, "SBIN_DIRS", ("/nonexistent", str(sbin)))
    empty = tmp_path / "bin"
    empty.mkdir()
    assert find_mosquitto(str(empty)) is None  # not executable: not a program
    stub.chmod(0o755)
    assert find_mosquitto(str(empty)) == str(stub)
    on_path = empty / "mosquitto"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert find_mosquitto(str(empty)) == str(on_path)  # PATH first


@needs_sbin_mosquitto
async def test_the_sandbox_broker_runs_from_sbin_with_a_user_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", USER_PATH)
    assert shutil.which("mosquitto") is None
    with start_embedded_broker() as b:
        assert b.kind == "mosquitto" and b.program == REAL_MOSQUITTO
        assert b.description == f"mosquitto ({REAL_MOSQUITTO})"
        await roundtrip(b.host, b.port)


@needs_sbin_mosquitto
async def test_the_tests_broker_runs_from_sbin_with_a_user_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", USER_PATH)
    b = start_broker()
    try:
        assert b.kind == "mosquitto"
        await roundtrip(b.host, b.port)
    finally:
        b.stop()


@needs_sbin_mosquitto
async def test_the_readme_sandbox_as_an_ordinary_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker on the configured address and Mosquitto only in /usr/sbin: the sandbox starts it, says so."""
    monkeypatch.setenv("PATH", USER_PATH)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings = load_settings(None, mqtt={"host": "127.0.0.1", "port": dead}, metrics={"enabled": False})
    out = io.StringIO()
    code = await run_sandbox(settings, speed=60, duration=1.0, out=out)
    text = out.getvalue()
    assert code == 0, text[-2000:]
    assert f"(embedded mosquitto ({REAL_MOSQUITTO}))" in text, text[:2000]
    assert "install Mosquitto" not in text
