from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kraken2mqtt.devices.reconcile import UNPLANNED, wanted_actions
from kraken2mqtt.planner.model import ActionKind, DeviceAction, DevicePlan, Interval, Plan
from kraken2mqtt.settings import load_settings

NOW = datetime(2026, 1, 12, 23, 10, tzinfo=UTC)


def _plan() -> Plan:
    charge = DeviceAction(ActionKind.CHARGE, 7.0, reason="cheapest slots")
    dp = DevicePlan(
        "ev",
        "ev",
        (Interval(NOW - timedelta(minutes=10), NOW + timedelta(hours=1), charge),),
        DeviceAction(ActionKind.STOP),
        "summary",
    )
    return Plan(NOW, NOW, NOW + timedelta(hours=1), (), (dp,), 0.0, 0.0)


def test_modes_override_the_plan() -> None:
    devices = load_settings(
        None,
        devices=[
            {
                "id": "ev",
                "kind": "ev",
                "adapter": "openevse",
                "topic": "e",
                "plan": {"capacity_kwh": 60, "max_kw": 7.2},
            },
            {"id": "hp", "kind": "heat_pump", "adapter": "espaltherma", "topic": "alt"},
            {"id": "imm", "kind": "relay", "adapter": "tasmota", "topic": "i"},
        ],
    ).devices
    plan = _plan()
    auto = wanted_actions(devices, plan, {}, NOW)
    assert auto["ev"].kind is ActionKind.CHARGE and auto["ev"].reason == "cheapest slots"
    assert auto["imm"] == UNPLANNED  # nothing planned for it: left alone
    forced = wanted_actions(devices, plan, {"ev": "force_on", "imm": "force_on", "hp": "off"}, NOW)
    assert forced["ev"].kind is ActionKind.CHARGE and forced["ev"].power_kw == 7.2
    assert forced["imm"].kind is ActionKind.ON
    assert forced["hp"].kind is ActionKind.FOLLOW_KRAKEN  # "off" never switches a heat pump off
    off = wanted_actions(devices, plan, {"ev": "off"}, NOW)
    assert off["ev"].kind is ActionKind.STOP
    later = wanted_actions(devices, plan, {}, NOW + timedelta(hours=2))
    assert later["ev"].kind is ActionKind.STOP  # after the plan: the device's idle action
