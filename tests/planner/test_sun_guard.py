"""The grid-charge guard: a battery is charged from the grid only for what an optimistic sun will not fill."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kraken2mqtt.planner import make_plan
from kraken2mqtt.planner.model import Battery, BatteryModel, BatteryState, LoadProfile, SolarSlot
from kraken2mqtt.planner.sun_guard import grid_charge_ceiling

from .helpers import T0, inputs

# 10 slots at 10p (5 h), then 30p; export 5p; the house draws 0.5 kW; sun 9-15 h after T0.
PRICES = [10.0] * 10 + [30.0] * 38
BATTERY = Battery(
    "batt",
    BatteryModel(capacity_kwh=10, max_charge_kw=3, max_discharge_kw=3, stored_value_p=0.0),
    BatteryState(0.0),
)


def sun(kw: float) -> tuple[SolarSlot, ...]:
    return tuple(SolarSlot(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1), kw) for h in range(9, 15))


def night_grid_charge(prices: list[float], high: tuple[SolarSlot, ...]) -> float:
    base = replace(
        inputs(prices, [BATTERY], export=5.0),
        house_load=LoadProfile((0.5,), tz="UTC"),
        solar=sun(1.0),  # the forecast the plan counts on: a dull day
        solar_high=high,  # the optimistic estimate: the recent days' best
    )
    plan = make_plan(base).device("batt")
    return sum(i.grid_kwh for i in plan.intervals if i.start < T0 + timedelta(hours=5) and i.grid_kwh > 0)


def test_the_ceiling_leaves_room_for_the_optimistic_sun() -> None:
    # 2 slots of 1 kWh deficit, then 3 of 2 kWh surplus; 1 h slots, lossless, 10 kWh, 5 kW.
    net = [1.0, 1.0, -2.0, -2.0, -2.0]
    ceiling = grid_charge_ceiling(0.0, 0.0, 10.0, net, [1.0] * 5, [False] * 5, 5.0, 5.0, 1.0, 1.0)
    # 6 kWh of surplus to come: 4 before the deficits, 6 at the sun's start, none at the end.
    assert ceiling == pytest.approx([6.0, 5.0, 4.0, 6.0, 8.0, 10.0])


def test_the_ceiling_never_forces_the_battery_down_and_lifts_after_a_cheap_slot() -> None:
    net = [1.0, 1.0, -2.0, -2.0, -2.0]
    full = grid_charge_ceiling(9.0, 0.0, 10.0, net, [1.0] * 5, [False] * 5, 5.0, 5.0, 1.0, 1.0)
    # from 9 kWh, self-consumption gives 8, 7, then the sun fills it: the ceiling never asks for less
    assert full == pytest.approx([9.0, 8.0, 7.0, 9.0, 10.0, 10.0])
    cheap = grid_charge_ceiling(0.0, 0.0, 10.0, net, [1.0] * 5, [True] + [False] * 4, 5.0, 5.0, 1.0, 1.0)
    assert cheap[1] == pytest.approx(10.0)  # buying below the export price: no limit after it


def test_no_night_charge_the_optimistic_sun_would_fill() -> None:
    unguarded = night_grid_charge(PRICES, ())
    guarded = night_grid_charge(PRICES, sun(3.0))
    # The dull forecast stores 3 kWh of (1 - 0.5) kW spare: the plan buys the rest of the day's need.
    assert unguarded > 4.0
    # 3 kW of sun fills the battery by itself: only the 2 kWh of the morning before it is bought.
    assert guarded == pytest.approx(2 / 0.95 / 0.95, rel=0.02)


def test_the_guard_is_off_below_the_export_price() -> None:
    cheap = [3.0] * 10 + [30.0] * 38
    assert night_grid_charge(cheap, sun(3.0)) == pytest.approx(night_grid_charge(cheap, ()), rel=1e-6)


def test_without_an_optimistic_sun_nothing_changes() -> None:
    assert night_grid_charge(PRICES, ()) == pytest.approx(night_grid_charge(PRICES, sun(1.0)), rel=1e-9)


def test_the_reasons_say_room_is_kept_for_the_sun() -> None:
    base = replace(
        inputs(PRICES, [BATTERY], export=5.0),
        house_load=LoadProfile((0.5,), tz="UTC"),
        solar=sun(1.0),
        solar_high=sun(3.0),
    )
    plan = make_plan(base).device("batt")
    night = [i for i in plan.intervals if i.start < T0 + timedelta(hours=5)]
    reasons = {i.action.reason for i in night}
    assert any("room kept for up to" in r and "kWh of sun" in r for r in reasons), reasons
    assert any(r.startswith("not charging from the grid above") for r in reasons) or any(
        "stopping at" in r for r in reasons
    ), reasons
    unguarded = make_plan(replace(base, solar_high=())).device("batt")
    assert not any("room kept" in i.action.reason for i in unguarded.intervals)
