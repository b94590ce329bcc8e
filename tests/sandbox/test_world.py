"""The simulated world: 48 h of EV routine, smart-charge dispatches, boost/suspend, prices, battery, heat
pump, hot water and prepay, advanced as a pure function of time (no sleeping)."""

from __future__ import annotations

import itertools
import time as wall
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.sim_account import UK, SimAccount, SimSchedule
from kraken2mqtt.sandbox.world import SimWorld, WorldEvent
from tests.sandbox.conftest import ACCOUNT, Gql

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # Thursday, GMT
DOCS = Path(__file__).parent / "documents"
SEED = 1


def make_world(start: datetime = T0, seed: int = SEED) -> SimWorld:
    return SimWorld(SimAccount.demo(start), ManualClock(start), rng_seed=seed)


def run(
    world: SimWorld,
    until: datetime,
    step: timedelta = timedelta(minutes=30),
    each: Callable[[SimWorld], None] | None = None,
) -> list[WorldEvent]:
    events: list[WorldEvent] = []
    t = world.now
    while t < until:
        t = min(until, t + step)
        events += world.advance(t)
        if each is not None:
            each(world)
    return events


def texts(events: list[WorldEvent], kind: str | None = None) -> list[str]:
    return [e.text for e in events if kind is None or e.kind == kind]


@pytest.fixture
def world() -> SimWorld:
    return make_world()


def _at(world: SimWorld, day: int, hour: int, minute: int = 0) -> datetime:
    """UK local time on T0's date + day."""
    local = T0.astimezone(UK).date() + timedelta(days=day)
    return datetime(local.year, local.month, local.day, hour, minute, tzinfo=UK).astimezone(UTC)


# -- the EV routine and smart charging -----------------------------------------------------------------------
def test_48h_ev_plugs_in_each_evening_and_reaches_target_by_ready_by(world: SimWorld) -> None:
    seen: list[tuple[datetime, float, bool]] = []
    checks: list[str] = []

    def each(w: SimWorld) -> None:
        seen.append((w.now, w.ev.soc_pct, w.ev.plugged_in))
        acc = w.account
        for d in acc.planned_dispatches:
            assert d.end > w.now and d.start < w.now + timedelta(hours=24)
            assert d.delta_kwh < 0 and d.source == "smart-charge" and d.location is None
        for d in acc.completed_dispatches:
            assert w.now - timedelta(hours=12) < d.end <= w.now
            assert d.delta_kwh < 0 and d.source is None and d.location == "AT_HOME"
        if w.ready_by is not None and w.now == w.ready_by:
            assert w.target_soc is not None
            assert w.ev.soc_pct >= w.target_soc - 0.5, (w.now, w.ev.soc_pct)
            checks.append("ready")
        if acc.planned_dispatches:
            checks.append("planned")
        if acc.completed_dispatches:
            checks.append("completed")

    events = run(world, T0 + timedelta(hours=48), timedelta(minutes=15), each)
    plugs = [e for e in events if e.kind == "ev" and "plugged in" in e.text]
    leaves = [e for e in events if e.kind == "ev" and e.text.startswith("EV left")]
    assert len(plugs) == 2 and len(leaves) == 2
    for e in plugs:
        local = e.at.astimezone(UK)
        assert 17 * 60 + 30 <= local.hour * 60 + local.minute <= 19 * 60
    for e in leaves:
        assert "reached" in e.text
        local = e.at.astimezone(UK)
        assert 7 * 60 + 10 <= local.hour * 60 + local.minute <= 7 * 60 + 50
    assert checks.count("ready") == 2
    assert "planned" in checks and "completed" in checks
    assert any("dispatch planned" in t for t in texts(events, "dispatch"))
    assert world.smart_ev is not None and world.smart_ev.completed >= 2
    arrivals = [
        soc
        for (_, soc, plugged), (_, _, before) in zip(seen[1:], seen, strict=False)
        if plugged and not before
    ]
    assert all(30 <= soc <= 50 for soc in arrivals)
    assert world.ev_device is not None and len(world.ev_device.charging_sessions) == 3  # demo one + 2


def test_dispatches_sit_on_cheap_slots(world: SimWorld) -> None:
    run(world, _at(world, 0, 19))
    planned = world.account.planned_dispatches
    assert planned
    evening_peak = [world.prices.price_at(_at(world, 0, 17, 30))]
    for d in planned:
        t = d.start
        while t < d.end:
            assert world.prices.price_at(t) < max(evening_peak)
            t += timedelta(minutes=30)
    need = world.ev.grid_kwh_to(80.0)
    assert sum(-d.delta_kwh for d in planned) == pytest.approx(need, abs=0.05)


def test_same_seed_same_world_however_advanced() -> None:
    a, b = make_world(), make_world()
    end = T0 + timedelta(hours=40)
    ea = run(a, end, timedelta(minutes=7))
    eb = b.advance(end)
    assert [str(e) for e in ea if e.kind == "ev"] == [str(e) for e in eb if e.kind == "ev"]
    assert a.ev.soc_pct == pytest.approx(b.ev.soc_pct, abs=0.01)
    assert a.account.completed_dispatches == b.account.completed_dispatches
    c = make_world(seed=2)
    assert [str(e) for e in c.advance(end) if e.kind == "ev"] != [str(e) for e in eb if e.kind == "ev"]


def test_advance_is_idempotent(world: SimWorld) -> None:
    t = _at(world, 0, 20)
    world.advance(t)
    soc, planned = world.ev.soc_pct, list(world.account.planned_dispatches)
    assert world.advance(t) == []
    assert world.advance(t - timedelta(hours=1)) == []
    assert world.ev.soc_pct == soc and world.account.planned_dispatches == planned


def test_started_in_the_night_the_ev_is_plugged_in() -> None:
    start = datetime(2026, 1, 15, 1, 0, tzinfo=UTC)
    w = make_world(start)
    events = w.advance(start)
    assert w.ev.plugged_in and w.ev_device is not None and w.ev_device.state == "SMART_CONTROL_CAPABLE"
    assert any("plugged in" in t for t in texts(events, "ev"))
    assert w.account.planned_dispatches


def test_unplugged_device_state_and_no_dispatches(world: SimWorld) -> None:
    world.advance(world.now)
    assert not world.ev.plugged_in
    assert world.ev_device is not None and world.ev_device.state == "NOT_PLUGGED_IN"
    assert world.account.planned_dispatches == [] and world.account.completed_dispatches == []


# -- boost, suspend, preferences, local charger --------------------------------------------------------------
def test_boost_charges_now_to_the_limit_then_stops(world: SimWorld) -> None:
    run(world, _at(world, 0, 19))
    dev = world.ev_device
    assert dev is not None
    soc = world.ev.soc_pct
    dev.boosting = True  # what updateBoostCharge(BOOST) does
    events = world.advance(world.now + timedelta(minutes=1))
    planned = world.account.planned_dispatches
    assert [d.source for d in planned] == ["bump-charge"] and planned[0].start <= world.now
    assert "boost requested" in texts(events, "boost")
    assert world.ev.soc_pct > soc
    events = run(world, world.now + timedelta(hours=8))
    assert world.ev.soc_pct == pytest.approx(100.0, abs=0.01)
    assert not dev.boosting and any("boost finished" in t for t in texts(events, "boost"))
    assert world.account.planned_dispatches == []


def test_boost_cancel_goes_back_to_smart_plan(world: SimWorld) -> None:
    run(world, _at(world, 0, 19))
    dev = world.ev_device
    assert dev is not None
    dev.boosting = True
    world.advance(world.now + timedelta(minutes=10))
    dev.boosting = False
    events = world.advance(world.now + timedelta(minutes=1))
    assert "boost cancelled" in texts(events, "boost")
    assert {d.source for d in world.account.planned_dispatches} == {"smart-charge"}
    assert any(d.end <= world.now for d in world.account.completed_dispatches)


def test_suspend_stops_dispatching_and_resume_replans(world: SimWorld) -> None:
    run(world, _at(world, 0, 19))
    dev = world.ev_device
    assert dev is not None and world.account.planned_dispatches
    dev.suspended = True
    events = world.advance(world.now + timedelta(minutes=1))
    assert "smart control suspended" in texts(events, "control")
    assert world.account.planned_dispatches == []
    soc = world.ev.soc_pct
    world.advance(_at(world, 1, 6))
    assert world.ev.soc_pct == soc  # nothing charged all night
    dev.suspended = False
    events = world.advance(world.now + timedelta(minutes=1))
    assert "smart control resumed" in texts(events, "control")
    assert world.account.planned_dispatches  # 06:00-07:00 is still left


def test_new_preferences_replan(world: SimWorld) -> None:
    run(world, _at(world, 0, 19))
    dev = world.ev_device
    assert dev is not None and dev.preferences is not None
    dev.preferences.schedules = [SimSchedule(s.day_of_week, "06:00", 95.0) for s in dev.preferences.schedules]
    events = world.advance(world.now + timedelta(minutes=1))
    assert any("95 %" in t for t in texts(events, "control"))
    assert all(d.end <= _at(world, 1, 6) for d in world.account.planned_dispatches)
    world.advance(_at(world, 1, 6))
    assert world.ev.soc_pct >= 94.5


def test_local_charger_can_block_and_force(world: SimWorld) -> None:
    run(world, _at(world, 0, 19))
    first = world.account.planned_dispatches[0]
    world.set_ev_charger(0.0)
    soc = world.ev.soc_pct
    world.advance(first.end)
    assert world.ev.soc_pct == soc  # blocked during its dispatch
    world.set_ev_charger(None)
    world.advance(_at(world, 1, 7))
    assert world.ev.soc_pct >= 79.5  # IO caught up (replanned when behind)
    w2 = make_world()
    run(w2, _at(w2, 0, 19))
    soc = w2.ev.soc_pct
    w2.set_ev_charger(7.0)
    events = w2.advance(w2.now + timedelta(hours=1))
    assert w2.ev.soc_pct == pytest.approx(soc + 7.0 * 0.9 / 60 * 100, abs=0.5)
    assert any("charge now" in t for t in texts(events, "ev"))


# -- prices --------------------------------------------------------------------------------------------------
def test_tomorrows_prices_appear_at_16_uk(world: SimWorld) -> None:
    tariff = world.account.properties[0].meter_points[0].agreements[0].tariff
    tomorrow = _at(world, 1, 0)
    world.advance(_at(world, 0, 15, 59))
    assert max(r.valid_to for r in tariff.unit_rates) == tomorrow
    events = world.advance(_at(world, 0, 16))
    assert max(r.valid_to for r in tariff.unit_rates) == _at(world, 2, 0)
    assert any("published" in t for t in texts(events, "prices"))
    assert all(r.value == world.prices.price_at(r.valid_from) for r in tariff.unit_rates)


# -- battery, heat pump, hot water, prepay -------------------------------------------------------------------
def test_battery_responds_to_commands_and_mirrors_into_telemetry(world: SimWorld) -> None:
    world.advance(world.now)
    b = world.battery
    b.soc_pct = 20.0
    world.command_battery("charge", until=world.now + timedelta(hours=1), rate_kw=3.0)
    world.advance(world.now + timedelta(hours=1))
    assert b.soc_pct == pytest.approx(20 + 3.0 * 0.95 / 9.5 * 100, abs=0.5)
    world.advance(world.now + timedelta(minutes=2))
    assert b.mode == "eco" and b.power_kw < 0  # the timed run reverted; eco covers the house
    world.command_battery("pause")
    soc = b.soc_pct
    world.advance(world.now + timedelta(hours=2))
    assert b.soc_pct == soc
    world.command_battery("export", rate_kw=3.6)
    world.advance(world.now + timedelta(hours=6))
    assert b.soc_pct == pytest.approx(b.reserve_pct, abs=0.01)
    inverter = next(d for d in world.account.devices if d.kind == "inverter")
    assert inverter.telemetry is not None and inverter.telemetry.battery_soc == round(b.soc_pct, 1)


def test_battery_cycles_by_itself_overnight(world: SimWorld) -> None:
    low = high = world.battery.soc_pct

    def each(w: SimWorld) -> None:
        nonlocal low, high
        low, high = min(low, w.battery.soc_pct), max(high, w.battery.soc_pct)

    run(world, T0 + timedelta(hours=36), each=each)
    assert high == pytest.approx(100.0, abs=0.1) and low < 20
    assert world.totals.battery_in_kwh > 5 and world.totals.battery_out_kwh > 5


def test_heat_pump_keeps_the_room_in_band_and_follows_kraken(world: SimWorld) -> None:
    run(world, T0 + timedelta(hours=48))
    sp = world.heat_pump.setpoint_c
    assert sp - 1.0 <= world.totals.indoor_min_c and world.totals.indoor_max_c <= sp + 0.5
    assert 1.8 <= world.heat_pump.cop <= 5.0
    legacy = world.account.legacy_heat_pump
    assert legacy is not None and legacy.current_climate_c == round(world.heat_pump.indoor_c, 1)
    legacy.target_climate_c = 21.5  # what setRoomTemperature does
    events = world.advance(world.now + timedelta(hours=12))
    assert world.heat_pump.setpoint_c == 21.5 and any("Kraken" in t for t in texts(events, "heat_pump"))
    assert world.heat_pump.indoor_c == pytest.approx(21.5, abs=0.4)
    controller = world.account.heat_pump_controllers[0]
    assert controller.zones[1].setpoint_c == 21.5
    assert controller.sensors[0].temperature_c == round(world.heat_pump.indoor_c, 1)
    legacy.climate_enabled = False
    before = world.heat_pump.indoor_c
    world.advance(world.now + timedelta(hours=6))
    assert world.heat_pump.power_kw == 0 and world.heat_pump.indoor_c < before - 0.5


def test_cop_falls_when_colder(world: SimWorld) -> None:
    hp = world.heat_pump
    assert hp.cop_at(-5) < hp.cop_at(5) < hp.cop_at(12)


def test_immersion_heats_the_tank_up_to_its_thermostat(world: SimWorld) -> None:
    world.advance(_at(world, 0, 13))
    t0 = world.hot_water.temperature_c
    world.set_immersion(True)
    world.advance(world.now + timedelta(hours=1))
    assert world.hot_water.temperature_c > t0 + 10
    world.advance(world.now + timedelta(hours=4))
    assert world.hot_water.temperature_c <= world.hot_water.max_c + 0.5


def test_prepay_credit_falls_with_use_and_tops_up(world: SimWorld) -> None:
    bal = next(iter(world.account.prepay_balances.values()))
    start = bal.credit_pence
    world.advance(world.now + timedelta(hours=3))
    assert bal.credit_pence < start
    assert world.totals.cost_pence == pytest.approx(start - bal.credit_pence, abs=1)
    world.account.payment_schedules[-1].payment_amount = 3000  # like updateAutoTopUpAmount
    triggers = len(world.account.auto_topup_triggers)
    events = run(world, world.now + timedelta(hours=48))
    assert any("auto top-up £30.00" in t for t in texts(events, "prepay"))
    assert len(world.account.auto_topup_triggers) > triggers
    assert bal.credit_pence >= world.low_credit_pence


def test_site_demand_and_greenness_follow_the_world(world: SimWorld) -> None:
    world.advance(T0 + timedelta(days=3, hours=1))
    assert world.account.site_demand_w == pytest.approx(max(0.0, world.grid_kw) * 1000, abs=0.1)
    first = world.account.greenness[0].valid_from
    assert first == _at(world, 3, 0)
    saving = world.account.saving_events[0]
    assert saving.end > world.now - timedelta(days=1) and saving.status == "UPCOMING"


def test_status_line_and_event_text(world: SimWorld) -> None:
    events = world.advance(_at(world, 0, 19))
    line = world.status_line()
    assert "Agile" in line and "EV" in line and "room" in line and "credit £" in line
    assert str(events[0])[:3] == "Thu"


def test_48h_is_fast() -> None:
    w = make_world()
    started = wall.perf_counter()
    w.advance(T0 + timedelta(hours=48))
    assert wall.perf_counter() - started < 2.0


# -- through the fake Kraken server --------------------------------------------------------------------------
def test_world_behind_the_fake_server(fk: FakeKraken, clock: ManualClock, authed: Gql) -> None:
    """The world shares the server's account, clock and lock; mutations reach it, queries show it."""
    w = SimWorld(fk.account, clock, rng_seed=SEED, lock=fk.lock)
    clock.advance(3 * 3600)  # 20:00 UK: the EV is home
    w.advance(clock.now())
    authed.login()  # the first token has expired meanwhile
    dispatches = (DOCS / "Dispatches.graphql").read_text(encoding="utf-8")
    out = authed(dispatches, {"accountNumber": ACCOUNT})["data"]
    assert out["plannedDispatches"] and all(float(d["delta"]) < 0 for d in out["plannedDispatches"])
    assert {d["meta"]["source"] for d in out["plannedDispatches"]} == {"smart-charge"}
    mutations = (DOCS / "Mutations.graphql").read_text(encoding="utf-8")
    ev_id = "00000000-0000-4000-8000-00000000e001"
    boost = authed(mutations, {"input": {"deviceId": ev_id, "action": "BOOST"}}, op="UpdateBoostCharge")
    assert boost["data"]["updateBoostCharge"]["status"]["currentState"] == "BOOSTING"
    clock.advance(600)
    events = w.advance(clock.now())
    assert "boost requested" in texts(events, "boost")
    out = authed(dispatches, {"accountNumber": ACCOUNT})["data"]
    assert [d["meta"]["source"] for d in out["plannedDispatches"]] == ["bump-charge"]
    authed(mutations, {"input": {"accountNumber": ACCOUNT, "temperature": 21.0}}, op="SetRoomTemperature")
    clock.advance(600)
    w.advance(clock.now())
    assert w.heat_pump.setpoint_c == 21.0
    clock.advance(12 * 3600)
    w.advance(clock.now())  # 08:20 next day: charged, left
    authed.login()
    # 2026-01-16: plannedDispatches is past its removal date now; per device from here.
    after = (
        "query($accountNumber: String!, $ev: String!) { flexPlannedDispatches(deviceId: $ev) { start }"
        " completedDispatches(accountNumber: $accountNumber) { meta { location } } }"
    )
    out = authed(after, {"accountNumber": ACCOUNT, "ev": ev_id})["data"]
    assert out["flexPlannedDispatches"] == [] and out["completedDispatches"]
    assert all(d["meta"]["location"] == "AT_HOME" for d in out["completedDispatches"])
    assert fk.account.devices[0].state == "NOT_PLUGGED_IN"


@pytest.mark.parametrize(
    "start", [datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 10, 24, 12, tzinfo=UTC)]
)
def test_clock_changes(start: datetime) -> None:
    w = make_world(start)
    events = w.advance(start + timedelta(hours=48))
    leaves = [e.text for e in events if e.text.startswith("EV left")]
    assert len(leaves) == 2 and all("reached" in t for t in leaves)
    for e in events:
        if e.text.startswith("EV plugged in"):
            assert 17 <= e.at.astimezone(UK).hour <= 19
    rates = w.account.properties[0].meter_points[0].agreements[0].tariff.unit_rates
    assert all(a.valid_to == b.valid_from for a, b in itertools.pairwise(rates))


@pytest.mark.parametrize(
    ("deployment", "symbol", "rate"), [("octopus-de", "€", "ct/kWh"), ("octopus-jp", "¥", "/kWh")]
)
def test_terminal_text_is_in_the_deployments_currency(deployment: str, symbol: str, rate: str) -> None:
    world = SimWorld(SimAccount.for_deployment(deployment, T0), ManualClock(T0), rng_seed=SEED)
    events = run(world, T0 + timedelta(hours=30))
    shown = [world.status_line(), *texts(events)]
    assert any(rate in t for t in shown) and not any("£" in t or "p/kWh" in t for t in shown)
    if world.prepay.credit is not None:
        assert f"credit {symbol}" in shown[0]
