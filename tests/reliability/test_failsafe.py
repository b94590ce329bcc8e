"""Item 4, failsafe: with Kraken unreachable for hours the devices follow the last plan while its prices
are valid (also from the persisted snapshot after a restart), then the configured safe default: an EV
charges in the failsafe window and is never left stuck "off"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.daemon import Daemon
from kraken2mqtt.devices.reconcile import UNPLANNED, wanted_action, wanted_actions
from kraken2mqtt.planner.model import ActionKind
from kraken2mqtt.settings import ConfigError, load_settings
from tests.brokers import Broker
from tests.reliability.rig import TALLY, Outputs, daemon_settings, fake_kraken, target_for

DEVICES = [
    {
        "id": "ev",
        "kind": "ev",
        "adapter": "openevse",
        "topic": "evse",
        "plan": {"capacity_kwh": 60, "max_kw": 7.2},
    },
    {
        "id": "tank",
        "kind": "hot_water",
        "adapter": "tasmota",
        "topic": "tank",
        "plan": {"capacity_kwh": 10, "heater_kw": 3},
    },
    {
        "id": "batt",
        "kind": "battery",
        "adapter": "givtcp",
        "serial": "SA1234",
        "topic": "giv",
        "plan": {"capacity_kwh": 9.5, "max_charge_kw": 3, "max_discharge_kw": 3},
    },
    {"id": "imm", "kind": "relay", "adapter": "tasmota", "topic": "imm"},
]


def test_failsafe_defaults_without_a_plan() -> None:
    settings = load_settings(None, planner={"failsafe_hot_water_window": "23:30-01:00"}, devices=DEVICES)
    planner = settings.planner
    assert planner.failsafe_ev_window == "00:30-05:00"  # on by default
    night = datetime(2026, 1, 20, 2, 0, tzinfo=UTC)  # London = UTC in January
    day = datetime(2026, 1, 20, 14, 0, tzinfo=UTC)
    at_night = wanted_actions(settings.devices, None, {}, night, planner)
    assert at_night["ev"].kind is ActionKind.CHARGE and at_night["ev"].power_kw == 7.2
    assert at_night["ev"].reason.startswith("failsafe")
    assert at_night["tank"].kind is ActionKind.HOT_WATER_OFF  # its window is 23:30-01:00
    assert at_night["batt"].kind is ActionKind.HOLD
    assert at_night["imm"] == UNPLANNED  # no plan table: left to itself as before
    at_day = wanted_actions(settings.devices, None, {}, day, planner)
    assert at_day["ev"].kind is ActionKind.STOP and "00:30-05:00" in at_day["ev"].reason
    wrapped = wanted_actions(settings.devices, None, {}, datetime(2026, 1, 20, 0, 15, tzinfo=UTC), planner)
    assert wrapped["tank"].kind is ActionKind.HOT_WATER_BOOST and wrapped["tank"].power_kw == 3
    # the user's planner mode still wins; with the planner disabled nothing changes (no failsafe)
    assert wanted_action(settings.devices[0], None, "off", night, planner).kind is ActionKind.STOP
    assert wanted_action(settings.devices[0], None, "auto", night, None) == UNPLANNED
    # summer time: the window is local
    summer = datetime(2026, 7, 1, 23, 45, tzinfo=UTC)  # 00:45 BST
    assert wanted_actions(settings.devices, None, {}, summer, planner)["ev"].kind is ActionKind.CHARGE
    off = load_settings(
        None, planner={"failsafe_ev_window": "", "failsafe_battery": "follow_kraken"}, devices=DEVICES
    )
    assert wanted_actions(off.devices, None, {}, night, off.planner)["ev"] == UNPLANNED
    assert wanted_actions(off.devices, None, {}, night, off.planner)["batt"] == UNPLANNED


@pytest.mark.parametrize("window", ["25:00-01:00", "00:30", "01:00-01:00", "1:00-2:00"])
def test_failsafe_window_is_validated(window: str) -> None:
    with pytest.raises(ConfigError, match="failsafe_ev_window"):
        load_settings(None, planner={"failsafe_ev_window": window})


async def test_kraken_down_for_hours(tmp_path: Path, broker: Broker, outputs: Outputs) -> None:
    clock = ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    settings = daemon_settings(tmp_path, broker)
    fk = fake_kraken(outputs, clock=clock)
    fk.start()
    daemon = Daemon(settings, clock=clock, target=target_for(fk))
    try:
        await daemon.poller.poll_once()
        await daemon.reconcile()
        assert daemon.plan is not None
        tariffs = daemon.poller.snapshot.tariffs
        assert tariffs is not None and tariffs.import_ is not None
        known_until = tariffs.import_.known_until
        assert known_until is not None
        fk.stop()  # Kraken unreachable from now on (connection refused)
        url = fk.url
        TALLY.fault("Kraken unreachable (hours, simulated)", n=0)

        history: list[tuple[datetime, bool, ActionKind, str]] = []
        end = clock.now() + timedelta(hours=20)
        restarted = False
        while clock.now() < end:
            await daemon.poller.poll_once()
            await daemon.reconcile()
            action = daemon.driver.last_actions["ev"]
            history.append((clock.now(), daemon.plan is not None, action.kind, action.reason))
            if not restarted and clock.now() > known_until - timedelta(hours=3):
                # a power cut: the new process plans from the persisted snapshot, Kraken still down
                await daemon.close()
                daemon = Daemon(settings, clock=clock, target=target_for(fk, url))
                await daemon.poller.restore()
                await daemon.reconcile()
                assert daemon.plan is not None, "prices already fetched must stay valid after a restart"
                restarted = True
            clock.advance(300)
        hours = (history[-1][0] - history[0][0]).total_seconds() / 3600
        TALLY.fault("Kraken unreachable (hours, simulated)", n=round(hours))

        valid = [h for h in history if h[0] < known_until]
        after = [h for h in history if h[0] >= known_until + timedelta(minutes=5)]
        assert valid and after
        assert all(planned for _, planned, _, _ in valid), "the last plan is followed while its prices last"
        assert not any(r.startswith("failsafe") for *_, r in valid)
        assert not any(planned for _, planned, _, _ in after)
        for at, _, kind, reason in after:
            in_window = (at.hour, at.minute) >= (0, 30) and at.hour < 5
            assert reason.startswith("failsafe"), reason
            assert kind is (ActionKind.CHARGE if in_window else ActionKind.STOP), (at, kind)
        charging = sum(1 for _, _, kind, _ in after if kind is ActionKind.CHARGE) * 5 / 60
        assert charging >= 4.4  # the whole 00:30-05:00 window: never stuck off
        stale = daemon.poller.signals().stale
        assert {s.value for s in stale} >= {"dispatches", "devices"}  # and the data is marked stale
        TALLY.survived["Kraken unreachable (hours, simulated)"] = TALLY.injected[
            "Kraken unreachable (hours, simulated)"
        ]
    finally:
        await daemon.close()
