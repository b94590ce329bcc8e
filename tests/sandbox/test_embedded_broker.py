"""The sandbox's own broker: a private Mosquitto, else amqtt, else a clear error."""

from __future__ import annotations

import shutil
import socket
from typing import Literal

import aiomqtt
import pytest

from kraken2mqtt.sandbox.broker import (
    BrokerUnavailable,
    available_kinds,
    ensure_broker,
    reachable,
    start_embedded_broker,
)

KINDS = available_kinds()


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
    monkeypatch.setattr(shutil, "which", lambda _name: None)
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
