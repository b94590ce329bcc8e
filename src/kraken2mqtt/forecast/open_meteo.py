"""Open-Meteo (https://open-meteo.com/en/docs): global tilted irradiance per panel plane and the
outdoor temperature, hourly, free for non-commercial use without a key (limits: 600 calls a minute,
5,000 an hour, 10,000 a day; we make one call per plane an hour).

Documented response (``hourly`` arrays aligned with ``hourly.time``; with ``timezone=UTC`` the times are
UTC without an offset)::

    {"latitude": 52.52, "longitude": 13.42, "utc_offset_seconds": 0, "timezone": "GMT",
     "hourly_units": {"time": "iso8601", "global_tilted_irradiance": "W/m²", "temperature_2m": "°C"},
     "hourly": {"time": ["2026-06-01T00:00", ...], "global_tilted_irradiance": [0.0, ...],
                "temperature_2m": [11.2, ...]}}

Radiation is the mean over the *preceding* hour (the value at 10:00 is 09:00-10:00); temperature is
the instant value. Errors come as ``{"error": true, "reason": "..."}`` with HTTP 400 (429 past a limit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kraken2mqtt.forecast.config import ForecastSettings, SolarPlane
from kraken2mqtt.forecast.errors import ForecastMalformed
from kraken2mqtt.forecast.http import get_json
from kraken2mqtt.forecast.model import EnergySlot, TemperatureAt

SERVICE = "Open-Meteo"
FORECAST_DAYS = 3
GTI = "global_tilted_irradiance"
TEMPERATURE = "temperature_2m"


def params_for(settings: ForecastSettings, plane: SolarPlane | None, *, weather: bool) -> dict[str, str]:
    """Query parameters for one plane (and the temperature alongside when ``weather``)."""
    hourly = []
    params = {
        "latitude": f"{settings.latitude:.4f}",
        "longitude": f"{settings.longitude:.4f}",
        "timezone": "UTC",
        "forecast_days": str(FORECAST_DAYS),
    }
    if plane is not None:
        hourly.append(GTI)
        params["tilt"] = f"{plane.tilt_deg:g}"
        params["azimuth"] = f"{plane.azimuth_deg:g}"
    if weather:
        hourly.append(TEMPERATURE)
    params["hourly"] = ",".join(hourly)
    return params


def _series(body: Any, name: str) -> list[tuple[datetime, float | None]]:
    if not isinstance(body, dict) or not isinstance(body.get("hourly"), dict):
        raise ForecastMalformed(f"{SERVICE}: no 'hourly' object in the answer")
    hourly = body["hourly"]
    times, values = hourly.get("time"), hourly.get(name)
    if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values):
        raise ForecastMalformed(f"{SERVICE}: 'hourly.{name}' missing or not aligned with 'hourly.time'")
    offset = timedelta(seconds=int(body.get("utc_offset_seconds") or 0))
    out: list[tuple[datetime, float | None]] = []
    for t, v in zip(times, values, strict=True):
        try:
            at = datetime.fromisoformat(str(t))
        except ValueError as exc:
            raise ForecastMalformed(f"{SERVICE}: bad time {t!r}") from exc
        at = (at - offset).replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        if v is not None and not isinstance(v, int | float):
            raise ForecastMalformed(f"{SERVICE}: non-numeric {name} value {v!r}")
        out.append((at, None if v is None else float(v)))
    return out


def plane_energy(body: Any, plane: SolarPlane) -> list[EnergySlot]:
    """kWh per hour for the plane: kWp × GTI/1000 × (1 − losses), clipped at the inverter's limit.
    Hours the model has no value for (``null``) are left out; negative irradiance (a known artefact of
    some models) counts as 0."""
    derate = 1.0 - plane.losses_pct / 100
    slots = []
    for end, w_m2 in _series(body, GTI):
        if w_m2 is None:
            continue
        kw = plane.kwp * max(0.0, w_m2) / 1000 * derate
        if plane.inverter_kw is not None:
            kw = min(kw, plane.inverter_kw)
        slots.append(EnergySlot(end - timedelta(hours=1), end, kw))
    return slots


def temperatures(body: Any) -> list[TemperatureAt]:
    return [TemperatureAt(at, c) for at, c in _series(body, TEMPERATURE) if c is not None]


async def fetch(
    client: httpx.AsyncClient, settings: ForecastSettings, plane: SolarPlane | None, *, weather: bool
) -> Any:
    return await get_json(
        client, SERVICE, str(settings.open_meteo_url), params=params_for(settings, plane, weather=weather)
    )
