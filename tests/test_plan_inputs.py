"""The bridge from the polled snapshot and the local devices to the planner's inputs."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.devices.base import ReportedState
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.plan_inputs import build_inputs, next_local
from kraken2mqtt.planner.config import PlannerSettings
from kraken2mqtt.planner.model import EV, Battery, HotWaterTank, RelayLoad
from kraken2mqtt.planner.plan import make_plan
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.settings import ConfigError, load_settings
from tests.fixtures_kraken import MakeClient

DEVICES = [
    {
        "id": "ev",
        "kind": "ev",
        "adapter": "openevse",
        "topic": "evse",
        "plan": {"capacity_kwh": 60, "max_kw": 7.2, "target_soc_pct": 90, "ready_by": "06:30"},
    },
    {
        "id": "bat",
        "kind": "battery",
        "adapter": "givtcp",
        "serial": "SA1",
        "plan": {"capacity_kwh": 9.5, "max_charge_kw": 3.6, "max_discharge_kw": 3.6},
    },
    {
        "id": "tank",
        "kind": "hot_water",
        "adapter": "tasmota",
        "topic": "imm",
        "plan": {"capacity_kwh": 10, "heater_kw": 3, "needs": [{"at": "07:00", "kwh": 3}]},
    },
    {
        "id": "relay",
        "kind": "relay",
        "adapter": "tasmota",
        "topic": "r",
        "plan": {"power_kw": 1, "energy_kwh": 2, "earliest": "10:00", "deadline": "16:00"},
    },
    {"id": "lamp", "kind": "relay", "adapter": "shelly", "topic": "lamp"},
]


def test_next_local_crosses_midnight_and_clock_changes() -> None:
    now = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # the night the UK clocks go forward
    assert next_local(now, time(7, 0), "Europe/London") == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert next_local(now, time(23, 30), "Europe/London") == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def test_plan_table_needs_the_fields_of_its_kind() -> None:
    bad = {"id": "b", "kind": "battery", "adapter": "givtcp", "serial": "S", "plan": {"capacity_kwh": 5}}
    with pytest.raises(ConfigError, match="needs max_charge_kw, max_discharge_kw"):
        load_settings(None, devices=[bad])


async def test_inputs_from_a_real_poll(fake: FakeKraken, make_client: MakeClient, clock: ManualClock) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    settings = load_settings(None, devices=DEVICES)
    now = clock.now()
    reported = {
        "ev": ReportedState(soc_pct=40.0, plugged_in=True),
        "bat": ReportedState(soc_pct=70.0, power_kw=-2.5),
    }
    inputs = build_inputs(poller.snapshot, now, PlannerSettings(), settings.devices, reported, {})
    assert inputs is not None
    assert inputs.tariff.prices and any(s.end > now for s in inputs.tariff.prices)
    by_id = {d.id: d for d in inputs.devices}
    assert set(by_id) == {"ev", "bat", "tank", "relay"}  # the lamp has no plan table
    ev = by_id["ev"]
    assert isinstance(ev, EV) and ev.state.soc_pct == 40.0 and ev.target is not None
    assert ev.target.soc_pct == 90 and ev.target.deadline is not None and ev.target.deadline > now
    assert isinstance(by_id["bat"], Battery) and by_id["bat"].state.soc_pct == 70.0
    assert by_id["bat"].state.power_kw == -2.5  # discharging now: a time-shared slot continues that first
    assert isinstance(by_id["tank"], HotWaterTank) and len(by_id["tank"].needs) == 1
    assert isinstance(by_id["relay"], RelayLoad)
    plan = make_plan(inputs)
    assert {dp.device_id for dp in plan.devices} == {"ev", "bat", "tank", "relay"}

    forced = build_inputs(poller.snapshot, now, PlannerSettings(), settings.devices, reported, {"ev": "off"})
    assert forced is not None and "ev" not in {d.id for d in forced.devices}

    limited = PlannerSettings(grid_import_limit_kw=15.0, grid_export_limit_kw=3.68)
    capped = build_inputs(poller.snapshot, now, limited, settings.devices, reported, {})
    assert capped is not None and (capped.grid.import_kw, capped.grid.export_kw) == (15.0, 3.68)


def test_no_prices_no_plan() -> None:
    from kraken2mqtt.kraken.snapshot import Snapshot

    empty = Snapshot(deployment="octopus-gb")
    assert build_inputs(empty, datetime(2026, 1, 1, tzinfo=UTC), PlannerSettings(), [], {}, {}) is None


async def test_an_ev_without_its_own_soc_uses_what_kraken_reports(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    """A charger (OpenEVSE) rarely knows the car's SoC: the car's own reading through Kraken
    (``status.stateOfCharge``) stands in for it while fresh."""
    fake.account.devices[0].sim_soc_pct = 37.0
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    settings = load_settings(None, devices=DEVICES)
    reported = {"ev": ReportedState(plugged_in=True)}
    inputs = build_inputs(poller.snapshot, clock.now(), PlannerSettings(), settings.devices, reported, {})
    assert inputs is not None
    ev = next(d for d in inputs.devices if d.id == "ev")
    assert isinstance(ev, EV) and ev.state.soc_pct == 37.0
    own = build_inputs(
        poller.snapshot,
        clock.now(),
        PlannerSettings(),
        settings.devices,
        {"ev": ReportedState(soc_pct=55.0)},
        {},
    )
    assert own is not None and next(d for d in own.devices if d.id == "ev").state.soc_pct == 55.0  # type: ignore[union-attr]
    clock.advance(2 * 3600)  # stale Kraken data is not used
    later = build_inputs(poller.snapshot, clock.now(), PlannerSettings(), settings.devices, reported, {})
    assert later is not None
    assert next(d for d in later.devices if d.id == "ev").state.soc_pct != 37.0  # type: ignore[union-attr]


def test_the_plan_reads_money_in_the_deployments_currency() -> None:
    from kraken2mqtt.kraken.snapshot import Snapshot
    from kraken2mqtt.plan_inputs import currency

    assert currency(Snapshot(deployment="octopus-gb")).money(150) == "£1.50"
    assert currency(Snapshot(deployment="octopus-de")).rate(25.0) == "25.0ct/kWh"
    assert currency(Snapshot(deployment="octopus-jp")).money(150) == "¥150"
    assert currency(Snapshot(deployment="red-energy-au")).money(150) == "A$1.50"


def test_a_boost_is_no_off_peak_window_for_the_planner() -> None:
    """A BOOST dispatch (bump-charge) is billed at the usual rate: only smart (and test) dispatches make the
    plan's off-peak windows (and its 'Intelligent dispatch' reasons)."""
    from kraken2mqtt.kraken.snapshot import Snapshot, TrackedDispatch
    from kraken2mqtt.plan_inputs import dispatch_windows

    now = datetime(2026, 1, 15, 20, 0, tzinfo=UTC)

    def at(hour: int, source: str | None, kind: str | None) -> TrackedDispatch:
        start = datetime(2026, 1, 15, hour, 0, tzinfo=UTC)
        return TrackedDispatch(start=start, end=start.replace(minute=30), source=source, type=kind)

    snap = Snapshot(
        deployment="octopus-gb",
        dispatches=(at(21, "smart-charge", "SMART"), at(22, "bump-charge", "BOOST"), at(23, None, None)),
    )
    assert [w.start.hour for w in dispatch_windows(snap, now)] == [21, 23]
