from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from kraken2mqtt.devices.base import LocalKind
from kraken2mqtt.devices.config import DeviceList, OpenEVSEConfig
from kraken2mqtt.devices.registry import adapter_class, adapter_names, build_adapter
from tests.devices.helpers import CONFIG

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "devices.example.toml"
DEVICES: TypeAdapter[Any] = TypeAdapter(DeviceList)


def test_registry_names() -> None:
    assert adapter_names() == [
        "ebusd",
        "espaltherma",
        "evcc",
        "givtcp",
        "goe",
        "openevse",
        "shelly",
        "tasmota",
        "template",
    ]
    for name in adapter_names():
        assert adapter_class(name).name == name
    with pytest.raises(KeyError, match="known: ebusd"):
        adapter_class("nope")


def test_example_file_builds_every_adapter() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    devices = DEVICES.validate_python(data["devices"])
    adapters = [build_adapter(d) for d in devices]
    assert {a.name for a in adapters} == set(adapter_names())
    for a in adapters:
        assert a.subscriptions()
        assert all("#" not in s for s in a.subscriptions())


def test_minimal_and_defaults() -> None:
    cfg = CONFIG.validate_python({"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "openevse-1a2b"})
    assert isinstance(cfg, OpenEVSEConfig)
    assert (cfg.voltage, cfg.phases, cfg.min_current_a, cfg.max_current_a) == (230, 1, 6, 32)
    assert (cfg.refresh_seconds, cfg.qos, cfg.kind) == (300, 1, LocalKind.EV)


@pytest.mark.parametrize(
    ("cfg", "error"),
    [
        ({"id": "EV", "kind": "ev", "adapter": "openevse", "topic": "t"}, "id"),
        ({"id": "ev", "kind": "car", "adapter": "openevse", "topic": "t"}, "kind"),
        (
            {"id": "ev", "kind": "ev", "adapter": "tesla", "topic": "t"},
            "does not match any of the expected tags",
        ),
        ({"id": "ev", "kind": "ev", "topic": "t"}, "Unable to extract tag using discriminator 'adapter'"),
        (
            {"id": "ev", "kind": "battery", "adapter": "openevse", "topic": "t"},
            "cannot control a 'battery' device",
        ),
        ({"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "t", "colour": 1}, "Extra inputs"),
        ({"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "a/+/b"}, "wildcards"),
        ({"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "/a"}, "start or end"),
        (
            {
                "id": "ev",
                "kind": "ev",
                "adapter": "openevse",
                "topic": "t",
                "min_current_a": 20,
                "max_current_a": 10,
            },
            "above",
        ),
        ({"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "t", "phases": 2}, "phases"),
        (
            {"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "t", "refresh_seconds": 1},
            "refresh_seconds",
        ),
        ({"id": "ev", "kind": "ev", "adapter": "evcc"}, "needs loadpoint"),
        ({"id": "b", "kind": "battery", "adapter": "evcc", "loadpoint": 1}, "remove loadpoint"),
        ({"id": "b", "kind": "battery", "adapter": "givtcp"}, "serial"),
        ({"id": "b", "kind": "battery", "adapter": "givtcp", "serial": "a/b"}, "serial"),
        (
            {"id": "r", "kind": "relay", "adapter": "tasmota", "topic": "t", "pulse_time_seconds": 5},
            "pulse_time",
        ),
        (
            {
                "id": "h",
                "kind": "heat_pump",
                "adapter": "ebusd",
                "circuit": "c",
                "setpoint": "s",
                "min_c": 30,
                "max_c": 20,
            },
            "min_c",
        ),
        (
            {
                "id": "h",
                "kind": "heat_pump",
                "adapter": "ebusd",
                "circuit": "c",
                "setpoint": "s",
                "temperature": "t",
            },
            "go together",
        ),
        ({"id": "h", "kind": "ev", "adapter": "ebusd", "circuit": "c", "setpoint": "s"}, "cannot control"),
    ],
)
def test_validation_errors(cfg: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CONFIG.validate_python(cfg)


def test_duplicate_ids() -> None:
    dev = {"id": "x", "kind": "relay", "adapter": "tasmota", "topic": "t"}
    with pytest.raises(ValidationError, match="used twice"):
        DEVICES.validate_python([dev, dev])


def test_configs_are_frozen() -> None:
    cfg = CONFIG.validate_python({"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "t"})
    with pytest.raises(ValidationError):
        setattr(cfg, "id", "other")  # noqa: B010 - mypy knows it is frozen
