from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraken2mqtt.planner import (
    EV,
    ActionKind,
    DispatchWindow,
    EVModel,
    EVState,
    EVTarget,
    GridLimits,
    make_plan,
)
from kraken2mqtt.planner.costs import make_context
from kraken2mqtt.planner.model import DevicePlan
from kraken2mqtt.planner.plan import asap_cost
from kraken2mqtt.planner.slots import build_grid

from .helpers import T0, at, car, charged_kwh, inputs

PRICES = [30, 25, 20, 5, 6, 30, 4, 40, 10, 12, 15, 30]  # 12 half-hours from 12:00


def test_cheapest_slots_are_chosen_exactly() -> None:
    # 10 kWh at 7 kW: the cheapest slot (4p) fully, then 3.5 of the 5p slot... is 3.5 kWh per slot
    ev = car(soc=0, target=20, cap=50, max_kw=7)  # 10 kWh
    plan = make_plan(inputs(PRICES, [ev]))
    dp = plan.device("car")
    got = {iv.start: iv.grid_kwh for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE}
    assert got == pytest.approx({at(3.0): 3.5, at(1.5): 3.5, at(2.0): 3.0})
    assert dp.cost_p == pytest.approx(3.5 * 4 + 3.5 * 5 + 3.0 * 6)
    assert dp.end_state["soc_pct"] == pytest.approx(20.0)


def test_efficiency_scales_grid_energy() -> None:
    ev = car(soc=0, target=10, cap=45, eff=0.9)  # 4.5 kWh into the car = 5 kWh from the grid
    dp = make_plan(inputs(PRICES, [ev])).device("car")
    assert dp.grid_kwh == pytest.approx(5.0)


def test_target_already_met_does_nothing() -> None:
    dp = make_plan(inputs(PRICES, [car(soc=85, target=80)])).device("car")
    assert dp.grid_kwh == 0
    assert all(iv.action.kind is ActionKind.STOP for iv in dp.intervals)
    assert "already met" in dp.summary


def test_not_plugged_in_does_nothing() -> None:
    ev = EV("car", EVModel(50, 7), EVState(20, plugged_in=False), EVTarget(None, 80))
    dp = make_plan(inputs(PRICES, [ev])).device("car")
    assert dp.grid_kwh == 0 and "not plugged in" in dp.summary


def test_unreachable_target_charges_everything_and_says_so() -> None:
    ev = car(soc=0, target=100, cap=100, max_kw=7, deadline=at(2))  # 4 slots × 3.5 = 14 kWh only
    plan = make_plan(inputs(PRICES, [ev]))
    dp = plan.device("car")
    assert dp.grid_kwh == pytest.approx(14.0)
    assert dp.end_state["soc_pct"] == pytest.approx(14.0)
    assert any("unreachable" in w for w in dp.warnings)
    assert any("unreachable" in w for w in plan.warnings)


def test_deadline_off_a_slot_boundary() -> None:
    # deadline 13:45: the 13:30 slot is usable only for 15 minutes
    ev = car(soc=0, target=100, cap=100, max_kw=8, deadline=at(1.75))
    dp = make_plan(inputs(PRICES, [ev])).device("car")
    assert dp.grid_kwh == pytest.approx(8 * 1.75)
    assert all(iv.end <= at(1.75) for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE)


def test_now_mid_slot_gives_a_partial_first_slot() -> None:
    now = T0 + timedelta(minutes=20)
    ev = car(soc=0, target=100, cap=100, max_kw=6, deadline=at(0.5))
    plan = make_plan(inputs(PRICES, [ev], now=now))
    assert plan.slots[0].start == now and plan.slots[0].end == at(0.5)
    assert plan.device("car").grid_kwh == pytest.approx(6 * 10 / 60)


def test_partial_slot_uses_min_power_for_part_of_the_slot() -> None:
    ev = car(soc=0, target=1, cap=100, max_kw=7, min_kw=4)  # 1 kWh: 15 min at 4 kW in the 4p slot
    dp = make_plan(inputs(PRICES, [ev])).device("car")
    runs = [iv for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE]
    assert len(runs) == 1
    assert runs[0].action.power_kw == pytest.approx(4.0)
    assert runs[0].end - runs[0].start == timedelta(minutes=15)
    assert runs[0].start == at(3.0)


def test_power_never_below_min_power() -> None:
    ev = car(soc=0, target=23, cap=100, max_kw=7, min_kw=2)
    dp = make_plan(inputs(PRICES, [ev])).device("car")
    for iv in dp.intervals:
        if iv.action.kind is ActionKind.CHARGE:
            assert 2 - 1e-9 <= iv.action.power_kw <= 7 + 1e-9


def test_continuous_block_is_the_cheapest_block() -> None:
    prices = [30, 5, 30, 5, 6, 7, 30, 4, 40]
    ev = car(soc=0, target=20, cap=50, max_kw=5, continuous=True)  # 10 kWh = 4 half-hours at 5 kW
    dp = make_plan(inputs(prices, [ev])).device("car")
    charging = [iv for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE]
    assert len(charging) == 1, "one uninterrupted block"
    assert charging[0].start == at(0.5) and charging[0].end == at(2.5)
    assert dp.cost_p == pytest.approx(2.5 * (5 + 30 + 5 + 6))
    # brute force over all contiguous windows of 4 half-hours
    best = min(sum(prices[k : k + 4]) * 2.5 for k in range(len(prices) - 3))
    assert dp.cost_p == pytest.approx(best)


def test_continuous_block_may_end_part_way_through_a_slot() -> None:
    prices = [50, 50, 1, 1, 50]
    ev = car(soc=0, target=10, cap=70, max_kw=4, continuous=True)  # 7 kWh = 1.75 h at 4 kW
    dp = make_plan(inputs(prices, [ev])).device("car")
    # cheapest: both 1p slots (4 kWh) plus 3 kWh from one neighbour
    assert dp.cost_p == pytest.approx(4 * 1 + 3 * 50)
    charging = [iv for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE]
    assert charging[0].end == charging[-1].start or len(charging) <= 2


def test_import_limit_is_respected() -> None:
    ev = car(soc=0, target=100, cap=100, max_kw=7)
    plan = make_plan(inputs(PRICES, [ev], house_kw=2.0, grid=GridLimits(import_kw=6.0)))
    for s in plan.slots:
        assert s.grid_kwh <= 6.0 * (s.end - s.start).total_seconds() / 3600 + 1e-9


def test_kraken_controlled_car_follows_dispatches() -> None:
    ev = car(soc=20, target=30, cap=50, max_kw=7, deadline=at(6), kraken_controlled=True)  # 5 kWh
    windows = (DispatchWindow(at(2), at(3)),)
    plan = make_plan(inputs(PRICES, [ev], dispatches=windows))
    dp = plan.device("car")
    assert not dp.boost_recommended
    assert {iv.action.kind for iv in dp.intervals} == {ActionKind.FOLLOW_KRAKEN}
    assert charged_kwh(dp) == pytest.approx(5.0)


def test_kraken_controlled_car_asks_for_boost_when_deadline_would_be_missed() -> None:
    ev = car(soc=20, target=60, cap=50, max_kw=7, deadline=at(6), kraken_controlled=True)  # 20 kWh
    windows = (DispatchWindow(at(2), at(2) + timedelta(minutes=40)),)  # only 4.67 kWh
    dp = make_plan(inputs(PRICES, [ev], dispatches=windows)).device("car")
    assert dp.boost_recommended
    assert any(iv.action.kind is ActionKind.REQUEST_BOOST for iv in dp.intervals)
    assert dp.grid_kwh == pytest.approx(20.0)
    assert "boost" in dp.summary


def test_dispatch_makes_slots_off_peak_with_partial_overlap() -> None:
    windows = (DispatchWindow(at(1) + timedelta(minutes=10), at(1.5)),)
    inp = inputs([30] * 8, [car(soc=0, target=2, cap=100, max_kw=7)], dispatches=windows, off_peak=7.0)
    plan = make_plan(inp)
    dp = plan.device("car")
    charging = [iv for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE]
    assert charging and charging[0].start >= at(1) + timedelta(minutes=10)
    assert charging[-1].end <= at(1.5)
    assert dp.cost_p == pytest.approx(2 * 7.0)


# ----------------------------------------------------------------------------------- properties

price_lists = st.lists(st.floats(-5, 60, allow_nan=False), min_size=2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    price_lists,
    st.floats(0, 100),
    st.floats(0, 100),
    st.floats(1, 11),
    st.floats(0.5, 1.0),
    st.floats(0.1, 20),
    st.floats(0, 3),
    st.booleans(),
)
def test_ev_properties(
    values: list[float],
    soc: float,
    target: float,
    max_kw: float,
    eff: float,
    deadline_h: float,
    min_kw: float,
    continuous: bool,
) -> None:
    min_kw = min(min_kw, max_kw)
    ev = car(
        soc, target, at(deadline_h), cap=60, max_kw=max_kw, eff=eff, min_kw=min_kw, continuous=continuous
    )
    inp = inputs(values, [ev])
    plan = make_plan(inp)
    dp = plan.device("car")
    need_grid = max(0.0, (target - soc) / 100 * 60) / eff
    horizon_end = at(len(values) / 2)
    usable_h = max(0.0, (min(at(deadline_h), horizon_end) - T0).total_seconds() / 3600)
    feasible = max_kw * usable_h
    # energy balance: exactly the need, or everything possible (the grid drops sub-second slivers)
    sliver = 2 * max_kw / 3600
    assert dp.grid_kwh == pytest.approx(min(need_grid, feasible), abs=sliver + 1e-6)
    assert dp.end_state["soc_pct"] == pytest.approx(soc + dp.grid_kwh * eff / 60 * 100, abs=1e-6)
    # deadline met whenever feasible, else said so
    if need_grid <= feasible - sliver:
        assert not dp.warnings
    elif need_grid > feasible + sliver:
        assert dp.warnings
    # limits: power within [min, max], nothing after the deadline
    for iv in dp.intervals:
        if iv.action.kind is ActionKind.CHARGE:
            assert min_kw - 1e-9 <= iv.action.power_kw <= max_kw + 1e-9
            assert iv.end <= at(deadline_h) + timedelta(seconds=1)
    # never more expensive than charging immediately
    grid = build_grid(inp, [at(deadline_h)])
    base = asap_cost(ev, make_context(grid, None, None))
    assert dp.cost_p <= base + 1e-6
    if not continuous:
        assert dp.baseline_cost_p == pytest.approx(base)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 50, allow_nan=False), min_size=2, max_size=16), st.floats(0.5, 30))
def test_continuous_block_beats_every_contiguous_block(values: list[float], kwh: float) -> None:
    ev = car(soc=0, target=kwh, cap=100, max_kw=4, continuous=True)
    dp = make_plan(inputs(values, [ev])).device("car")
    charging = [iv for iv in dp.intervals if iv.action.kind is ActionKind.CHARGE]
    for a, b in itertools.pairwise(charging):
        assert a.end == b.start, "contiguous"
    need = min(kwh, 4 * len(values) * 0.5)
    if need > 4 * len(values) * 0.5 - 1e-9:
        return
    # brute force: blocks at full power starting every 1/20 of a slot
    dur = need / 4
    best = float("inf")
    for q in range(0, 20 * len(values) + 1):
        start = q / 40
        end = start + dur
        if end > len(values) * 0.5 + 1e-9:
            break
        cost = 0.0
        for i, p in enumerate(values):
            ov = max(0.0, min(end, (i + 1) * 0.5) - max(start, i * 0.5))
            cost += ov * 4 * p
        best = min(best, cost)
    assert dp.cost_p <= best + 1e-6


def _runs(dp: DevicePlan) -> list[tuple[datetime, datetime]]:
    out: list[list[datetime]] = []
    for iv in dp.intervals:
        if iv.action.kind is ActionKind.CHARGE:
            if out and out[-1][1] == iv.start:
                out[-1][1] = iv.end
            else:
                out.append([iv.start, iv.end])
    return [(a, b) for a, b in out]


def test_no_run_shorter_than_the_minimum_unless_the_deadline_needs_it() -> None:
    # a 10-minute first slot is the cheapest: alone it would be a 10-minute run
    now = T0 + timedelta(minutes=20)
    ev = car(soc=0, target=7, cap=100, max_kw=7, deadline=at(3))  # 7 kWh = 1 h
    values = [1, 30, 9, 9, 30, 30]
    short = make_plan(inputs(values, [ev], now=now, min_run=0)).device("car")
    assert _runs(short)[0] == (now, at(0.5)), "without a minimum the sliver is used"
    dp = make_plan(inputs(values, [ev], now=now)).device("car")
    assert all(b - a >= timedelta(minutes=15) for a, b in _runs(dp))
    assert dp.grid_kwh == pytest.approx(7.0)
    # the deadline needs every minute: the short run stays
    tight = car(soc=0, target=7 * 40 / 60, cap=100, max_kw=7, deadline=at(1))  # every minute to 13:00
    dp = make_plan(inputs(values, [tight], now=now)).device("car")
    assert dp.grid_kwh == pytest.approx(7 * 40 / 60) and not dp.warnings


def test_min_run_is_configurable() -> None:
    ev = car(soc=0, target=7, cap=100, max_kw=7, deadline=at(3), min_run_minutes=0.0)
    now = T0 + timedelta(minutes=20)
    dp = make_plan(inputs([1, 30, 9, 9, 30, 30], [ev], now=now)).device("car")
    assert _runs(dp)[0] == (now, at(0.5))


def test_equal_cost_ties_go_to_the_latest_block_before_the_deadline() -> None:
    ev = car(soc=0, target=7, cap=100, max_kw=7, deadline=at(3))  # 1 h at 7 kW
    dp = make_plan(inputs([10] * 8, [ev])).device("car")
    assert _runs(dp) == [(at(2), at(3))]


def test_min_power_step_at_the_end_of_a_run_lasts_the_minimum() -> None:
    # 7.45 kWh at up to 7 kW with a 1.4 kW minimum: not 7 kW then 2 minutes at 1.4 kW
    ev = car(soc=0, target=7.45, cap=100, max_kw=7, min_kw=1.4, deadline=at(2))
    dp = make_plan(inputs([5, 5, 5, 5], [ev])).device("car")
    for iv in dp.intervals:
        if iv.action.kind is ActionKind.CHARGE:
            assert iv.end - iv.start >= timedelta(minutes=15)
