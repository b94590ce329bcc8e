"""A person's heat-pump change from Home Assistant wins over the local planner for the hold time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kraken2mqtt.controls import Control
from kraken2mqtt.mqtt.commands import CommandResult
from kraken2mqtt.mqtt.holds import RESUMED_NOTE, Holds
from kraken2mqtt.planner.model import ActionKind, DeviceAction

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
    assert held["hp"].kind is ActionKind.FOLLOW_KRAKEN  # the pump follows the person's setpoint
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
    assert not Holds(0).note(result(Control.SETPOINT, 20.5), T0, ["hp"])


def test_a_planner_mode_set_by_a_person_wins_over_the_hold() -> None:
    holds = Holds(120)
    holds.note(result(Control.SETPOINT, 20.5), T0, ["hp"])
    assert holds.apply(PLANNED, T0, {"hp": "force_on"})["hp"] == PLANNED["hp"]
    assert holds.shown(T0, {"hp": "off"}) == {}
    assert holds.apply(PLANNED, T0, {"hp": "auto"})["hp"].kind is ActionKind.FOLLOW_KRAKEN
