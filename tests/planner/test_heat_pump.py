from __future__ import annotations

from datetime import timedelta

import pytest
from benchmarks.planner.reference import RefHeatPump, solve_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from kraken2mqtt.planner import (
    ActionKind,
    Comfort,
    ComfortBand,
    HeatPump,
    HeatPumpModel,
    HeatPumpState,
    HotWaterNeed,
    HotWaterTank,
    TemperaturePoint,
    make_plan,
)
from kraken2mqtt.planner.heat_pump import cop

from .helpers import T0, at, inputs


def hp(
    indoor: float = 20.0, lo: float = 19.0, hi: float = 22.0, max_kw: float = 3.0, **kw: object
) -> HeatPump:
    return HeatPump(
        "hp",
        HeatPumpModel(0.2, 8.0, max_kw, **kw),  # type: ignore[arg-type]
        HeatPumpState(indoor),
        Comfort(lo, hi),
    )


def test_keeps_the_comfort_band() -> None:
    plan = make_plan(inputs([20] * 24, [hp()], outdoor=(TemperaturePoint(T0, 0.0),)))
    dp = plan.device("hp")
    assert not dp.warnings
    for iv in dp.intervals:
        if iv.action.kind is ActionKind.HEAT:
            assert iv.action.setpoint_c is not None and 19 - 1e-6 <= iv.action.setpoint_c <= 22 + 1e-6
    assert dp.end_state["indoor_c"] >= 19 - 1e-6


def test_pre_heats_in_cheap_slots() -> None:
    prices = [5] * 6 + [50] * 12
    dp = make_plan(inputs(prices, [hp()], outdoor=(TemperaturePoint(T0, 0.0),))).device("hp")
    cheap = sum(iv.grid_kwh for iv in dp.intervals if iv.start < at(3))
    dear = sum(iv.grid_kwh for iv in dp.intervals if iv.start >= at(3))
    assert cheap > dear
    assert any("pre-heating" in iv.action.reason for iv in dp.intervals)


def test_cop_depends_on_outdoor_temperature() -> None:
    h = hp(cop_at_7c=3.5, cop_per_k=0.1, cop_min=1.5)
    assert cop(h, 7.0) == pytest.approx(3.5)
    assert cop(h, -3.0) == pytest.approx(2.5)
    assert cop(h, -50.0) == pytest.approx(1.5)
    cold = make_plan(inputs([20] * 12, [h], outdoor=(TemperaturePoint(T0, -3.0),))).device("hp")
    mild = make_plan(inputs([20] * 12, [h], outdoor=(TemperaturePoint(T0, 7.0),))).device("hp")
    assert cold.grid_kwh > mild.grid_kwh


def test_unreachable_comfort_heats_flat_out_and_warns() -> None:
    dp = make_plan(
        inputs([20] * 8, [hp(indoor=12.0, max_kw=1.0)], outdoor=(TemperaturePoint(T0, -5.0),))
    ).device("hp")
    assert dp.warnings
    assert all(iv.action.power_kw == pytest.approx(1.0, abs=1e-4) for iv in dp.intervals)


def test_comfort_bands_override_the_default() -> None:
    h = HeatPump(
        "hp",
        HeatPumpModel(0.2, 8.0, 3.0),
        HeatPumpState(20.0),
        Comfort(19.0, 22.0, (ComfortBand(T0, at(3), 15.0, 22.0),)),
    )
    dp = make_plan(inputs([20] * 12, [h], outdoor=(TemperaturePoint(T0, 0.0),))).device("hp")
    assert sum(iv.grid_kwh for iv in dp.intervals if iv.end <= at(2)) == pytest.approx(0.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(1, 60, allow_nan=False), min_size=4, max_size=40), st.floats(-5, 12))
def test_heat_pump_matches_the_lp(prices: list[float], outdoor: float) -> None:
    h = hp(indoor=20.0)
    plan = make_plan(inputs(prices, [h], outdoor=(TemperaturePoint(T0, outdoor),)))
    dp = plan.device("hp")
    n = len(plan.slots)
    hours = [(s.end - s.start).total_seconds() / 3600 for s in plan.slots]
    ref = solve_reference(
        hours,
        [s.import_p for s in plan.slots],
        [0.0] * n,
        [0.0] * n,
        hp=RefHeatPump(0.2, 8.0, 3.0, 20.0, [outdoor] * n, [cop(h, outdoor)] * n, [19.0] * n, [22.0] * n),
    )
    assert ref.status == "optimal"
    assert dp.cost_p == pytest.approx(ref.cost_p, rel=1e-5, abs=1e-5)


def tank(energy: float = 0.0, needs: tuple[HotWaterNeed, ...] = ()) -> HotWaterTank:
    return HotWaterTank(
        "tank", capacity_kwh=10, heater_kw=3, energy_kwh=energy, loss_pct_per_h=0.0, needs=needs
    )


def test_hot_water_boosts_in_the_cheapest_slots_before_the_need() -> None:
    prices = [30, 30, 4, 5, 30, 30, 1, 1]
    t = tank(needs=(HotWaterNeed(at(2.75), 2.0),))
    dp = make_plan(inputs(prices, [t])).device("tank")
    on = [iv for iv in dp.intervals if iv.action.kind is ActionKind.HOT_WATER_BOOST]
    assert sum(iv.grid_kwh for iv in on) == pytest.approx(2.0)
    assert all(at(1) <= iv.start and iv.end <= at(2.75) for iv in on)
    assert all(iv.action.power_kw == pytest.approx(3.0) for iv in on)  # relay: full power, part slot
    assert "ready for" in on[0].action.reason


def test_hot_water_need_already_covered_needs_no_boost() -> None:
    dp = make_plan(inputs([10] * 8, [tank(energy=5, needs=(HotWaterNeed(at(2), 3.0),))])).device("tank")
    assert dp.grid_kwh == pytest.approx(0.0)


def test_hot_water_need_too_big_warns() -> None:
    dp = make_plan(inputs([10] * 8, [tank(needs=(HotWaterNeed(at(0.5) + timedelta(minutes=10), 5.0),))]))
    assert dp.device("tank").warnings


def _runs(dp: object) -> list[tuple[float, float]]:
    """(hours, kW) of each continuous heating run in a device plan."""
    out: list[tuple[float, float]] = []
    end = None
    for iv in dp.intervals:  # type: ignore[attr-defined]
        if iv.action.kind is not ActionKind.HEAT or iv.grid_kwh <= 1e-9:
            end = None
            continue
        hours = (iv.end - iv.start).total_seconds() / 3600
        if end is not None and iv.start == end:
            h, _ = out[-1]
            out[-1] = (h + hours, iv.action.power_kw)
        else:
            out.append((hours, iv.action.power_kw))
        end = iv.end
        assert iv.action.power_kw >= 0.75 - 1e-6  # never below the minimum modulation power
    return out


@pytest.mark.parametrize("outdoor", [12.0, 8.0, 2.0])
def test_compressor_limits_min_power_and_min_run(outdoor: float) -> None:
    # issue 12: 0.001-0.25 kW asked for, runs under 30 minutes in the mild scenario
    prices = [20, 18, 25, 9, 30, 12, 28, 10] * 6
    limited = hp(min_kw=0.75, min_run_h=0.5, min_off_h=0.25)
    dp = make_plan(inputs(prices, [limited], outdoor=(TemperaturePoint(T0, outdoor),))).device("hp")
    runs = _runs(dp)
    assert runs, "it heats at all"
    horizon_end = dp.intervals[-1].end
    for hours, _kw in runs[:-1]:
        assert hours >= 0.5 - 1e-6
    assert dp.intervals[-1].end == horizon_end


def test_compressor_runs_merge_close_blocks_and_drop_crumbs() -> None:
    from kraken2mqtt.planner.heat_pump import compressor_runs

    kwh = [0.0001, 0.0, 0.0, 0.0, 0.2, 0.0, 0.2, 0.0]
    runs = compressor_runs(kwh, [0.5] * 8, 1.0, 3.0, 0.5, 0.75)
    assert runs[0] == []  # a crumb: not worth a start
    # two blocks 30 minutes apart (< 45 min off) are one run: 0.4 kWh at the 1 kW minimum for the
    # 30-minute minimum run
    assert runs[4] == [(0.0, 1.0, 1.0)] and runs[5] == runs[6] == []
