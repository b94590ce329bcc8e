"""The plan with a solar forecast: the sun feeds the house first, then the battery or the export."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kraken2mqtt.planner import make_plan
from kraken2mqtt.planner.model import Battery, BatteryModel, BatteryState, LoadProfile, SolarSlot

from .helpers import T0, inputs

# 00:00-05:00 at 10p, then 30p; export 5p. Sun 09:00-15:00 at 3 kW; the house draws 0.5 kW.
NIGHT, DAY = 10.0, 30.0
PRICES = [NIGHT] * 10 + [DAY] * 38
SUN = tuple(SolarSlot(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1), 3.0) for h in range(9, 15))
BATTERY = Battery(
    "batt",
    BatteryModel(capacity_kwh=10, max_charge_kw=3, max_discharge_kw=3, stored_value_p=0.0),
    BatteryState(0.0),
)


def night_grid_charge(solar: tuple[SolarSlot, ...]) -> float:
    base = replace(
        inputs(PRICES, [BATTERY], export=5.0), house_load=LoadProfile((0.5,), tz="UTC"), solar=solar
    )
    plan = make_plan(base).device("batt")
    return sum(i.grid_kwh for i in plan.intervals if i.start < T0 + timedelta(hours=5) and i.grid_kwh > 0)


def test_no_grid_charging_for_what_the_sun_will_bring() -> None:
    without = night_grid_charge(())
    with_sun = night_grid_charge(SUN)
    assert without == pytest.approx(10 / 0.95, rel=0.02)
    # Only the morning before the sun (05:00-09:00, 2 kWh) is worth buying at night.
    assert with_sun == pytest.approx(2 / 0.95 / 0.95, rel=0.05)


def test_surplus_sun_is_exported_when_the_battery_is_full() -> None:
    base = replace(inputs(PRICES, [], export=5.0), house_load=LoadProfile((0.5,), tz="UTC"), solar=SUN)
    plan = make_plan(base)
    sunny = [s for s in plan.slots if T0 + timedelta(hours=9) <= s.start < T0 + timedelta(hours=15)]
    assert all(s.grid_kwh == pytest.approx(-1.25) for s in sunny)  # (3 - 0.5) kW for half an hour
    assert all(s.cost_p == pytest.approx(-1.25 * 5.0) for s in sunny)


def test_the_reason_cites_the_sun_the_battery_waits_for() -> None:
    base = replace(
        inputs(PRICES, [BATTERY], export=5.0), house_load=LoadProfile((0.5,), tz="UTC"), solar=SUN, tz="UTC"
    )
    plan = make_plan(base).device("batt")
    held = [i for i in plan.intervals if i.action.kind.value == "hold" and i.end <= T0 + timedelta(hours=9)]
    assert held
    reason = held[-1].action.reason
    assert reason.startswith("not charging from the grid: ")
    # T0 is 12:00 UTC: the sun of SUN shines from 21:00 to 03:00
    assert reason.endswith("kWh of sun expected today 21:00–03:00")
    kwh = float(reason.split(": ")[1].split(" kWh")[0])
    assert 2.0 <= kwh <= 10.0  # what the plan stores of the (3 - 0.5) kW spare for 6 h
