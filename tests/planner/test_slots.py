from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from kraken2mqtt.planner import DispatchWindow, LoadProfile, PlanInputs, Tariff
from kraken2mqtt.planner.model import SolarSlot
from kraken2mqtt.planner.slots import FORECAST_RULES, HOLD_MARGIN_P, build_grid, dispatch_overlap_h, to_dt

from .helpers import T0, at, inputs, prices


def test_grid_starts_at_now_and_cuts_at_slot_boundaries() -> None:
    g = build_grid(inputs([10, 20, 30], now=T0 + timedelta(minutes=10)))
    assert [to_dt(t) for t in g.t] == [T0 + timedelta(minutes=10), at(0.5), at(1), at(1.5)]
    assert g.hours[0] == pytest.approx(20 / 60)
    assert g.import_p == (10, 20, 30)


def test_fifteen_minute_tariff() -> None:
    g = build_grid(inputs([1, 2, 3, 4], minutes=15))
    assert g.n == 4 and all(h == pytest.approx(0.25) for h in g.hours)


def test_extra_breaks_split_slots_off_the_boundary() -> None:
    g = build_grid(inputs([10, 20]), [at(0.75)])
    assert [to_dt(t) for t in g.t] == [T0, at(0.5), at(0.75), at(1)]
    assert g.import_p == (10, 20, 20)


def test_dispatch_windows_are_off_peak_and_split_partial_slots() -> None:
    inp = inputs([30, 30, 30], dispatches=(DispatchWindow(at(0.25), at(0.75)),), off_peak=7.0)
    g = build_grid(inp)
    assert [to_dt(t) for t in g.t] == [T0, at(0.25), at(0.5), at(0.75), at(1), at(1.5)]
    assert g.import_p == (30, 7, 7, 30, 30)
    assert g.dispatch == (False, True, True, False, False)


def test_dispatch_overlap_merges_overlapping_windows() -> None:
    ws = (DispatchWindow(at(0), at(1)), DispatchWindow(at(0.5), at(2)), DispatchWindow(at(3), at(4)))
    assert dispatch_overlap_h(ws, at(0.5).timestamp(), at(3.5).timestamp()) == pytest.approx(2.0)


def test_missing_prices_are_forecast_from_the_day_before() -> None:
    values = list(range(48))
    inp = PlanInputs(now=at(24), tariff=Tariff(prices(values)), horizon_h=12, tz="UTC")
    g = build_grid(inp)
    assert g.n == 24 and all(g.forecast)
    assert g.import_p[:3] == (0, 1, 2)


def test_without_forecast_the_horizon_ends_with_the_prices() -> None:
    g = build_grid(inputs([10, 20]))
    assert to_dt(g.t[-1]) == at(1)
    assert not any(g.forecast)


def test_long_flat_rate_slots_are_cut_to_half_hours() -> None:
    g = build_grid(inputs([10], minutes=60))
    assert g.n == 2


def test_house_load_profile_is_local_time() -> None:
    kw = tuple(1.0 if k == 24 else 0.0 for k in range(48))  # 12:00–12:30 local
    inp = PlanInputs(
        now=T0,
        tariff=Tariff(prices([10] * 4)),
        house_load=LoadProfile(kw, "Europe/London"),
        horizon_h=2,
        forecast_missing_prices=False,
    )
    g = build_grid(inp)
    assert g.house_kwh == pytest.approx((0.5, 0, 0, 0))  # January: London = UTC


def test_solar_lowers_the_house_load_and_can_make_it_an_export() -> None:
    sun = (SolarSlot(T0, T0 + timedelta(hours=1), 2.0),)
    base = inputs([20, 20, 20, 20], house_kw=0.5)
    g = build_grid(replace(base, solar=sun))
    assert g.house_kwh == pytest.approx((-0.75, -0.75, 0.25, 0.25))


def test_forecast_rules_use_yesterday_and_a_week_ago() -> None:
    # eight days of prices: the same slot costs 10p a week ago and 20p yesterday
    values = [15.0] * 48 + [10.0] * 48 + [15.0] * (48 * 5) + [20.0] * 48
    inp = PlanInputs(now=at(8 * 24), tariff=Tariff(prices(values)), horizon_h=1, tz="UTC")
    expect = {"min_1_7": 10.0, "yesterday": 20.0, "mean_1_7": 15.0, "min_1_7_less": 10.0 - HOLD_MARGIN_P}
    for rule, price in expect.items():
        g = build_grid(replace(inp, forecast_rule=rule))
        assert all(g.forecast) and g.import_p[0] == pytest.approx(price), rule
    assert set(expect) <= set(FORECAST_RULES)


def test_level_rule_adds_half_of_a_late_rise_and_ignores_a_fall() -> None:
    # eight days at 10p; on the last published day its last three hours rose to 16p (or fell to 4p)
    def grid(last: float) -> tuple[float, ...]:
        values = [10.0] * (48 * 8 - 6) + [last] * 6
        inp = PlanInputs(now=at(8 * 24), tariff=Tariff(prices(values)), horizon_h=24, tz="UTC")
        return build_grid(replace(inp, forecast_rule="min_1_7_level")).import_p

    rise = grid(16.0)
    assert rise[0] == pytest.approx(10.0 + 0.5 * 6.0 * math.exp(-0.25 / 12))  # half the 6p rise, 15 min out
    assert rise[0] > rise[12] > rise[-1] > 10.0  # fading over 12 h
    assert all(p == pytest.approx(10.0) for p in grid(4.0)[:42])  # a fall is not followed
