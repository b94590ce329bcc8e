"""A person's heat-pump change from Home Assistant wins over the local planner for the hold time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.controls import Control
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.kraken.mutations import device_key
from kraken2mqtt.kraken.snapshot import Device, DeviceKind
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.mqtt.holds import RESUMED_NOTE, Holds, describe_links, held_by
from kraken2mqtt.planner.model import ActionKind, DeviceAction
from kraken2mqtt.settings import ConfigError, load_settings

T0 = datetime(2026, 1, 12, 14, 2, tzinfo=UTC)
PLANNED = {
    "hp": DeviceAction(ActionKind.HEAT, 2.5, 21.0, "pre-heating 14:00-15:00"),
    "ev": DeviceAction(ActionKind.STOP),
}


def result(control: Control, value: object, status: str = "done") -> CommandResult:
    return CommandResult("c", control.value, status, T0, value=value)  # type: ignore[arg-type]


def test_the_person_wins_for_the_hold_time_then_the_plan_resumes_and_says_so() -> None:
    holds = Holds(120)
    assert holds.note(result(Control.SETPOINT, 20.5), T0, ["hp"])
    held = holds.apply(PLANNED, T0 + timedelta(minutes=1))
    # the local side holds the pump at the person's setpoint (a release would write its own default)
    assert (held["hp"].kind, held["hp"].setpoint_c) == (ActionKind.HOLD, 20.5)
    assert held["hp"].reason == (
        "held for you until 16:02: setpoint 20.5 °C set from Home Assistant at 14:02; then the plan resumes"
    )
    assert held["ev"] == PLANNED["ev"]  # other devices are not touched
    shown = holds.shown(T0 + timedelta(minutes=1))["hp"]
    assert shown["held_until"] == (T0 + timedelta(hours=2)).isoformat()
    resumed = holds.apply(PLANNED, T0 + timedelta(hours=2, minutes=1))
    assert resumed["hp"].kind is ActionKind.HEAT
    assert resumed["hp"].reason.endswith(
        "the plan resumed at 16:02 after your change (setpoint 20.5 °C set from Home Assistant at 14:02)"
    )
    assert "resumed" in holds.shown(T0 + timedelta(hours=2, minutes=1))["hp"]
    later = T0 + timedelta(hours=2) + RESUMED_NOTE + timedelta(minutes=1)
    assert holds.apply(PLANNED, later) == PLANNED
    assert holds.shown(later) == {}


def test_only_done_heat_pump_controls_hold_and_zero_minutes_never_holds() -> None:
    holds = Holds(120)
    assert not holds.note(result(Control.SETPOINT, 20.5, "refused"), T0, ["hp"])
    assert not holds.note(result(Control.BOOST, True), T0, ["hp"])
    assert not holds.note(result(Control.ZONE_MODE, "OFF"), T0, [])  # no local heat pump
    assert holds.note(result(Control.ZONE_MODE, "OFF"), T0, ["hp"])
    assert "heating off" in holds.apply(PLANNED, T0)["hp"].reason
    assert holds.apply(PLANNED, T0)["hp"].kind is ActionKind.OFF
    assert holds.shown(T0)["hp"]["action"] == "off"
    holds.note(result(Control.ZONE_MODE, "ON"), T0, ["hp"])
    assert holds.apply(PLANNED, T0)["hp"].kind is ActionKind.FOLLOW_KRAKEN  # the pump's own logic
    holds.note(result(Control.SETPOINT, 21.5), T0, ["hp"])
    holds.note(result(Control.ZONE_MODE, "ON"), T0, ["hp"])  # heating on keeps the setpoint just set
    assert (holds.apply(PLANNED, T0)["hp"].kind, holds.apply(PLANNED, T0)["hp"].setpoint_c) == (
        ActionKind.HOLD,
        21.5,
    )
    assert not Holds(0).note(result(Control.SETPOINT, 20.5), T0, ["hp"])


def test_a_planner_mode_set_by_a_person_wins_over_the_hold() -> None:
    holds = Holds(120)
    holds.note(result(Control.SETPOINT, 20.5), T0, ["hp"])
    assert holds.apply(PLANNED, T0, {"hp": "force_on"})["hp"] == PLANNED["hp"]
    assert holds.shown(T0, {"hp": "off"}) == {}
    assert holds.apply(PLANNED, T0, {"hp": "auto"})["hp"].kind is ActionKind.HOLD


def _local(*entries: dict[str, object]) -> list[DeviceConfig]:
    return list(load_settings(None, devices=list(entries)).devices)


HP_A = Device(id="00000000-0000-0000-0000-00000000f001", kind=DeviceKind.HEAT_PUMP)
HP_B = Device(id="00000000-0000-0000-0000-00000000f002", kind=DeviceKind.HEAT_PUMP)


def test_a_kraken_device_link_holds_only_the_pump_it_names() -> None:
    local = _local(
        {"id": "daikin", "kind": "heat_pump", "adapter": "espaltherma", "kraken_device": "heat_pump_f001"},
        {"id": "vaillant", "kind": "heat_pump", "adapter": "espaltherma", "kraken_device": HP_B.id},
        {"id": "unlinked", "kind": "heat_pump", "adapter": "espaltherma"},
        {"id": "immersion", "kind": "relay", "adapter": "tasmota", "topic": "immersion"},
    )
    kraken = [HP_A, HP_B]
    # by its entity-id part, its id, or its topic key; a pump that names none is held by any
    assert held_by(device_key(HP_A.id), local, kraken) == ["daikin", "unlinked"]
    assert held_by(device_key(HP_B.id), local, kraken) == ["vaillant", "unlinked"]
    lines = describe_links(local, 120)
    assert lines[0] == (
        "device daikin: is Kraken heat pump 'heat_pump_f001': a setpoint or heating on/off set from Home "
        "Assistant there holds its plan for 120 min"
    )
    assert lines[2].startswith("device unlinked: names no kraken_device: a change from Home Assistant on any")
    assert len(lines) == 3  # the relay is no heat pump


def test_only_a_heat_pump_may_name_a_kraken_device() -> None:
    with pytest.raises(ConfigError, match="kraken_device names a Kraken heat pump"):
        _local(
            {"id": "immersion", "kind": "relay", "adapter": "tasmota", "topic": "x", "kraken_device": "hp"}
        )
