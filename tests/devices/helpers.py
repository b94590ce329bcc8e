"""Shared helpers for the device adapter tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from kraken2mqtt.devices.base import Adapter, Message
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.devices.registry import build_adapter
from kraken2mqtt.planner.model import ActionKind, DeviceAction

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CONFIG: TypeAdapter[DeviceConfig] = TypeAdapter(DeviceConfig)


def make(**cfg: Any) -> Adapter[Any]:
    return build_adapter(CONFIG.validate_python(cfg))


def act(kind: str, power_kw: float = 0.0, setpoint_c: float | None = None) -> DeviceAction:
    return DeviceAction(ActionKind(kind), power_kw, setpoint_c, "test")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def wire(msgs: list[Message]) -> list[tuple[str, str]]:
    return [(m.topic, m.payload if isinstance(m.payload, str) else m.payload.decode()) for m in msgs]


def send(adapter: Adapter[Any], action: DeviceAction, now: datetime = T0) -> list[tuple[str, str]]:
    """What the reconcile loop would publish now (and record it as sent)."""
    msgs = adapter.commands(action, None, now)
    adapter.record_sent(msgs, now)
    return wire(msgs)


def feed(adapter: Adapter[Any], topic: str, payload: str | bytes, now: datetime = T0) -> None:
    adapter.on_message(topic, payload.encode() if isinstance(payload, str) else payload, now)
