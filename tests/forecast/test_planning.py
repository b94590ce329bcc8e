from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.forecast.model import EnergySlot, SolarForecast, TemperatureAt, WeatherForecast
from kraken2mqtt.forecast.planning import outdoor_points, solar_slots

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)
H = timedelta(hours=1)


def test_solar_slots_cover_the_horizon_only() -> None:
    fc = SolarForecast("x", T0, tuple(EnergySlot(T0 + i * H, T0 + (i + 1) * H, 1.0) for i in range(-2, 60)))
    slots = solar_slots(fc, T0 + H / 2, 24)
    assert slots[0].start == T0 and slots[-1].end == T0 + 25 * H
    assert solar_slots(None, T0, 24) == ()


def test_outdoor_points_are_corrected_by_the_measurement() -> None:
    w = WeatherForecast("x", T0, tuple(TemperatureAt(T0 + i * H, 4.0) for i in range(-3, 30)))
    pts = outdoor_points(w, 6.0, T0)
    assert pts is not None and pts[0].at == T0 - H
    now = next(p for p in pts if p.at == T0)
    assert now.celsius == pytest.approx(6.0)
    assert outdoor_points(None, 6.0, T0) is None


def test_the_plan_counts_on_a_share_of_the_sun() -> None:
    fc = SolarForecast("x", T0, (EnergySlot(T0, T0 + H, 2.0),))
    assert solar_slots(fc, T0, 24, weight=0.8)[0].kwh == pytest.approx(1.6)


def test_status_says_what_the_stored_forecasts_say(tmp_path: object) -> None:
    from pathlib import Path

    from kraken2mqtt.app import forecast_status
    from kraken2mqtt.store.sqlite import SqliteForecastStore, StateStore

    assert isinstance(tmp_path, Path)
    store = StateStore(tmp_path)
    try:
        kv = SqliteForecastStore(store)
        assert forecast_status(kv, T0) == {}
        kv.save_forecast("solar", SolarForecast("open-meteo", T0, (EnergySlot(T0, T0 + H, 2.5),)).to_json())
        kv.save_forecast("weather", WeatherForecast("Open-Meteo", T0, (TemperatureAt(T0, 3.0),)).to_json())
        lines = forecast_status(kv, T0)
        assert lines["solar"] == "2.5 kWh in the next 24 h (open-meteo, fetched 2026-06-01 10:00 UTC)"
        assert lines["weather"] == "3.0 °C now (fetched 2026-06-01 10:00 UTC)"
        from kraken2mqtt.forecast.sun_history import SunHistory

        sun = SunHistory("UTC")
        for day in (1, 2):  # two complete days before T0's, 1 kWh at noon each
            sun.add(T0 - timedelta(days=day, hours=-2), T0 - timedelta(days=day, hours=-2, minutes=-30), 1.0)
        sun.add(T0 - timedelta(hours=1), T0 - timedelta(minutes=30), 0.4)
        kv.save_forecast("measured_sun", sun.to_json())
        assert forecast_status(kv, T0)["measured sun"] == (
            "0.4 kWh today; 2 complete day(s) of the last 7 for the forecast and the grid-charge guard"
        )
    finally:
        store.close()
