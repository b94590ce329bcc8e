from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

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


def _at(t: datetime) -> datetime:
    return t


async def test_with_no_prices_home_assistant_and_the_driver_show_the_same_failsafe_action() -> None:
    """Issue 15: the action now is computed once (``wanted_actions``) and carried to the driver, Home
    Assistant (``View.actions``) and ``status``; with no prices all three show the failsafe window."""
    from kraken2mqtt.devices.base import Message
    from kraken2mqtt.devices.driver import DeviceDriver
    from kraken2mqtt.kraken import signals
    from kraken2mqtt.kraken.snapshot import Snapshot
    from kraken2mqtt.mqtt import homeassistant as ha

    settings = load_settings(
        None,
        devices=[
            {
                "id": "ev",
                "kind": "ev",
                "adapter": "openevse",
                "topic": "e",
                "plan": {"capacity_kwh": 60, "max_kw": 7.2},
            }
        ],
    )
    night = datetime(2026, 1, 20, 2, 0, tzinfo=UTC)  # inside the default failsafe window 00:30-05:00

    async def publish(_: Message) -> bool:
        return True

    for now, kind in ((night, ActionKind.CHARGE), (night + timedelta(hours=12), ActionKind.STOP)):
        actions = wanted_actions(settings.devices, None, {}, now, settings.planner)  # no plan: no prices
        driver = DeviceDriver(settings.devices, publish=publish, now=partial(_at, now))
        await driver.apply(actions)
        snapshot = Snapshot(deployment="octopus-gb")
        view = ha.View(
            snapshot,
            signals.of(snapshot, now),
            now,
            None,
            settings.devices,
            driver.reported(),
            actions=actions,
        )
        entity = next(
            e for e in ha.local_device(view, settings.devices[0], "acct").entities if e.key == "action"
        )
        status = driver.status()[0]
        assert entity.value == kind.value == status["action"]
        assert entity.attributes is not None
        assert entity.attributes["reason"] == status["reason"] == actions["ev"].reason
        assert status["reason"].startswith("failsafe: no prices")
