from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.forecast.measured_sun import (
    HIGH,
    LOW,
    MeasuredSun,
    scale_rest_of_today,
    today_scale,
)
from kraken2mqtt.forecast.model import EnergySlot, SolarForecast
from kraken2mqtt.forecast.planning import measured_scale, plan_forecast, planned_solar
from kraken2mqtt.forecast.sun_history import blended_day
from kraken2mqtt.planner import make_plan
from kraken2mqtt.planner.model import (
    LoadProfile,
    PlanInputs,
    SolarSlot,
    Tariff,
    TariffSlot,
    TemperaturePoint,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)  # midnight UTC (01:00 in London)
H = timedelta(hours=1)


def test_the_scale_follows_the_measured_sun_with_a_prior() -> None:
    assert today_scale(0.0, 0.0) == 1.0  # night: nothing to go by
    assert today_scale(3.0, 3.0) == pytest.approx(1.0)
    assert today_scale(1.0, 3.0, prior_kwh=1.0) == pytest.approx(0.5)
    assert today_scale(9.0, 1.0, prior_kwh=1.0) == HIGH
    assert today_scale(0.0, 20.0, prior_kwh=1.0) == LOW


def test_a_day_blends_yesterday_with_the_recent_mean() -> None:
    days = [[4.0, 0.0], [2.0, 2.0], [0.0, 4.0]]  # yesterday first
    assert blended_day(days, 1.0) == [4.0, 0.0]
    assert blended_day(days, 0.0) == [2.0, 2.0]
    assert blended_day(days, 0.5) == [3.0, 1.0]
    assert blended_day([], 0.5) == []


def test_only_the_rest_of_today_is_scaled() -> None:
    slots = tuple(SolarSlot(T0 + i * H, T0 + (i + 1) * H, 1.0) for i in range(10, 40))
    out = scale_rest_of_today(slots, T0 + 10 * H, "UTC", 0.5)
    assert [s.kwh for s in out if s.start < T0 + 24 * H] == [0.5] * 14
    assert [s.kwh for s in out if s.start >= T0 + 24 * H] == [1.0] * 16


def test_measured_sun_integrates_samples_and_restarts_each_day() -> None:
    m = MeasuredSun("UTC")
    assert m.today_kwh(T0) is None
    for minute in range(0, 61, 5):
        m.sample(T0 + 8 * H + timedelta(minutes=minute), 2.0)
    assert m.today_kwh(T0 + 9 * H) == pytest.approx(2.0)
    m.sample(T0 + 11 * H, 2.0)  # after a gap of two hours: not integrated
    assert m.today_kwh(T0 + 11 * H) == pytest.approx(2.0)
    m.sample(T0 + 24 * H + 5 * H, 1.0)
    assert m.today_kwh(T0 + 29 * H) == 0.0
    assert m.today_kwh(T0 + 9 * H) == pytest.approx(2.0)  # yesterday's count is kept in the history


def test_planned_solar_scales_today_by_what_the_panels_gave() -> None:
    fc = SolarForecast("x", T0, tuple(EnergySlot(T0 + i * H, T0 + (i + 1) * H, 1.0) for i in range(48)))
    m = MeasuredSun("UTC")
    for minute in range(0, 181, 10):
        m.sample(T0 + 8 * H + timedelta(minutes=minute), 2.0)
    now = T0 + 12 * H  # forecast so far 12 kWh; measured 6 kWh
    assert measured_scale(fc, m, now) == pytest.approx(7 / 13)
    slots = planned_solar(fc, now, 24, 1.0, m)
    today = [s.kwh for s in slots if s.start < T0 + 24 * H]
    assert today and all(k == pytest.approx(7 / 13) for k in today)
    assert all(s.kwh == 1.0 for s in slots if s.start >= T0 + 24 * H)
    assert planned_solar(fc, now, 24, 1.0, None)[0].kwh == 1.0
    # a forecast that starts now (Solcast) cannot be compared with the morning's sun
    late = SolarForecast("solcast", now, fc.slots[12:])
    assert measured_scale(late, m, now) == 1.0


def test_plan_forecast_lists_sun_load_and_temperature_per_slot() -> None:
    prices = tuple(TariffSlot(T0 + i * H / 2, T0 + (i + 1) * H / 2, 20.0, 5.0) for i in range(48))
    plan = make_plan(
        PlanInputs(
            now=T0,
            tariff=Tariff(prices),
            house_load=LoadProfile((0.5,), "UTC"),
            solar=(SolarSlot(T0 + 10 * H, T0 + 11 * H, 3.0),),
            outdoor=(TemperaturePoint(T0, 12.0),),
            horizon_h=24,
            forecast_missing_prices=False,
            tz="UTC",
        )
    )
    rows = plan_forecast(plan, T0, hours=24)
    assert len(rows) == 48
    sunny = [r for r in rows if r["solar_kw"] > 0]
    assert [r["start"] for r in sunny] == [(T0 + 10 * H).isoformat(), (T0 + 10.5 * H).isoformat()]
    assert sunny[0] == {"start": sunny[0]["start"], "solar_kw": 3.0, "load_kw": 0.5, "outdoor_c": 12.0}
    assert all(r["load_kw"] == 0.5 for r in rows)
