from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.forecast.model import EnergySlot, SolarForecast, TemperatureAt, WeatherForecast, sum_planes

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)
H = timedelta(hours=1)


def test_planes_sum_on_all_boundaries() -> None:
    a = [EnergySlot(T0, T0 + H, 1.0)]
    b = [EnergySlot(T0 + H / 2, T0 + 3 * H / 2, 2.0)]
    fc = sum_planes("x", T0, [a, b])
    assert [s.kwh for s in fc.slots] == pytest.approx([0.5, 1.5, 1.0])
    assert fc.energy_between(T0, T0 + 2 * H) == pytest.approx(3.0)


def test_half_hours_split_an_hour_evenly() -> None:
    fc = SolarForecast("x", T0, (EnergySlot(T0, T0 + H, 1.0),))
    halves = fc.half_hours(T0 + timedelta(minutes=10), T0 + H)
    assert [(s.start.minute, s.kwh) for s in halves] == [(0, 0.5), (30, 0.5)]


def test_round_trip_through_json() -> None:
    fc = SolarForecast("open-meteo", T0, (EnergySlot(T0, T0 + H, 1.25),))
    assert SolarForecast.from_json(fc.to_json()) == fc
    w = WeatherForecast("Open-Meteo", T0, (TemperatureAt(T0, 3.5),))
    assert WeatherForecast.from_json(w.to_json()) == w


def test_weather_offset_from_a_measurement_fades_over_twelve_hours() -> None:
    w = WeatherForecast("x", T0, tuple(TemperatureAt(T0 + i * H, 5.0) for i in range(25)))
    c = w.corrected(7.0, T0)
    assert c.celsius_at(T0) == pytest.approx(7.0)
    assert c.celsius_at(T0 + 6 * H) == pytest.approx(6.0)
    assert c.celsius_at(T0 + 24 * H) == pytest.approx(5.0)
    assert w.corrected(None, T0) is w
