"""The forecasts as the planner's inputs (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from kraken2mqtt.forecast.model import SolarForecast, WeatherForecast
from kraken2mqtt.planner.model import SolarSlot, TemperaturePoint


def solar_slots(
    forecast: SolarForecast | None, now: datetime, horizon_h: float, weight: float = 1.0
) -> tuple[SolarSlot, ...]:
    """The sun the plan counts on from ``now`` to the end of the horizon: ``weight`` × the forecast
    (no forecast: no sun)."""
    if forecast is None:
        return ()
    end = now + timedelta(hours=horizon_h)
    return tuple(
        SolarSlot(s.start, s.end, s.kwh * weight) for s in forecast.slots if s.end > now and s.start < end
    )


def outdoor_points(
    weather: WeatherForecast | None, measured_c: float | None, now: datetime
) -> tuple[TemperaturePoint, ...] | None:
    """The forecast temperature from an hour before ``now`` on, shifted by the offset of the device's
    own outdoor reading (None: no forecast, keep the planner's default)."""
    if weather is None:
        return None
    corrected = weather.corrected(measured_c, now)
    points = tuple(
        TemperaturePoint(p.at, p.celsius) for p in corrected.points if p.at >= now - timedelta(hours=1)
    )
    return points or None
