"""The forecasts as the planner's inputs (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kraken2mqtt.forecast.measured_sun import MeasuredSun, scale_rest_of_today, today_scale
from kraken2mqtt.forecast.model import SolarForecast, WeatherForecast
from kraken2mqtt.planner.model import Plan, SolarSlot, TemperaturePoint


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


def measured_scale(
    forecast: SolarForecast | None, measured: MeasuredSun | None, now: datetime, prior_kwh: float = 1.0
) -> float:
    """Today's measured-sun scale (forecast.measured_sun): 1 without a forecast or a measurement, or when
    the forecast does not cover today from midnight (Solcast's forecast starts now: nothing to compare)."""
    if forecast is None or measured is None or not forecast.slots:
        return 1.0
    got = measured.today_kwh(now)
    if got is None:
        return 1.0
    local = now.astimezone(ZoneInfo(measured.tz))
    midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=ZoneInfo(measured.tz))
    if forecast.slots[0].start > midnight + timedelta(minutes=30):
        return 1.0
    return today_scale(got, forecast.energy_between(midnight, now), prior_kwh)


def planned_solar(
    forecast: SolarForecast | None,
    now: datetime,
    horizon_h: float,
    weight: float,
    measured: MeasuredSun | None = None,
    prior_kwh: float = 1.0,
) -> tuple[SolarSlot, ...]:
    """The sun the plan counts on: :func:`solar_slots`, the rest of today scaled by the measured sun."""
    slots = solar_slots(forecast, now, horizon_h, weight)
    scale = measured_scale(forecast, measured, now, prior_kwh)
    return scale_rest_of_today(slots, now, measured.tz, scale) if measured is not None else slots


def plan_forecast(plan: Plan, now: datetime, hours: float = 24.0) -> list[dict[str, Any]]:
    """Per slot from ``now``, what the plan counted on: sun and house load (kW, means over the slot) and
    the outdoor temperature, for the plan document (Home Assistant attributes)."""
    until = now + timedelta(hours=hours)
    out: list[dict[str, Any]] = []
    for s in plan.slots:
        if s.end <= now or s.start >= until:
            continue
        h = (s.end - s.start).total_seconds() / 3600
        if h <= 0:
            continue
        out.append(
            {
                "start": s.start.isoformat(),
                "solar_kw": round(s.solar_kwh / h, 2),
                "load_kw": round((s.house_kwh + s.solar_kwh) / h, 2),
                "outdoor_c": None if s.outdoor_c is None else round(s.outdoor_c, 1),
            }
        )
    return out


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
