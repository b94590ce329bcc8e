"""Forecast.Solar (https://doc.forecast.solar/api:estimate): a PV estimate per plane, free without a key
at 12 calls an hour per IP address (we make one call per plane an hour), with a key on paid plans.

``GET /[key/]estimate/:lat/:lon/:dec/:az/:kwp?time=iso8601`` answers (shape as in the Home Assistant
library's recorded fixture, home-assistant-libs/forecast_solar tests/fixtures/forecast.json at 0aa04cd)::

    {"result": {"watts": {...}, "watt_hours_period": {"2024-04-26T07:00:00+02:00": 89, ...},
                "watt_hours": {...}, "watt_hours_day": {"2024-04-26": 6660}},
     "message": {"code": 0, "type": "success", "info": {"timezone": "Europe/Amsterdam", ...},
                 "ratelimit": {"period": 3600, "limit": 12, "remaining": 11}}}

``watt_hours_period[t]`` is the energy of the period that *ends* at ``t`` (from the previous key). Without
``time=iso8601`` the keys are local ``YYYY-MM-DD HH:MM:SS`` in ``message.info.timezone``; both are read.
A 429 answers ``{"message": {"code": 429, "ratelimit": {"retry-at": "2024-04-27T02:48:53+02:00"}}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from kraken2mqtt.forecast.config import ForecastSettings, SolarPlane
from kraken2mqtt.forecast.errors import ForecastMalformed
from kraken2mqtt.forecast.http import get_json
from kraken2mqtt.forecast.model import EnergySlot

SERVICE = "Forecast.Solar"
#: The first key of a day (sunrise) has no period before it: it is read as the hour up to it.
FIRST_PERIOD = timedelta(hours=1)


def url_for(settings: ForecastSettings, plane: SolarPlane) -> str:
    base = str(settings.forecast_solar_url).rstrip("/")
    key = settings.forecast_solar_api_key
    prefix = f"{base}/{key.get_secret_value()}" if key is not None else base
    return (
        f"{prefix}/estimate/{settings.latitude:.4f}/{settings.longitude:.4f}"
        f"/{plane.tilt_deg:g}/{plane.azimuth_deg:g}/{plane.kwp:g}"
    )


def params_for(plane: SolarPlane) -> dict[str, str]:
    params = {"time": "iso8601"}
    if plane.inverter_kw is not None:
        params["inverter"] = f"{plane.inverter_kw:g}"
    return params


def retry_at(body: Any) -> datetime | None:
    try:
        raw = body["message"]["ratelimit"]["retry-at"]
        return datetime.fromisoformat(str(raw)).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return None


def plane_energy(body: Any, plane: SolarPlane) -> list[EnergySlot]:
    """kWh per period from ``watt_hours_period``, in UTC, with the losses already in the service's model
    (Forecast.Solar applies its own; ``losses_pct`` is for Open-Meteo only)."""
    try:
        periods = body["result"]["watt_hours_period"]
    except (KeyError, TypeError) as exc:
        raise ForecastMalformed(f"{SERVICE}: no 'result.watt_hours_period' in the answer") from exc
    if not isinstance(periods, dict):
        raise ForecastMalformed(f"{SERVICE}: 'watt_hours_period' is not an object")
    zone = _zone(body)
    points: list[tuple[datetime, float]] = []
    for key, wh in periods.items():
        try:
            at = datetime.fromisoformat(str(key))
        except ValueError as exc:
            raise ForecastMalformed(f"{SERVICE}: bad time {key!r}") from exc
        if not isinstance(wh, int | float):
            raise ForecastMalformed(f"{SERVICE}: non-numeric energy {wh!r}")
        at = at.replace(tzinfo=zone) if at.tzinfo is None else at
        points.append((at.astimezone(UTC), float(wh)))
    points.sort()
    slots = []
    previous: datetime | None = None
    for at, wh in points:
        start = (
            previous if previous is not None and at - previous <= timedelta(hours=2) else at - FIRST_PERIOD
        )
        if wh > 0:
            slots.append(EnergySlot(start, at, wh / 1000))
        previous = at
    return slots


def _zone(body: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(body["message"]["info"]["timezone"]))
    except (KeyError, TypeError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def fetch(client: httpx.AsyncClient, settings: ForecastSettings, plane: SolarPlane) -> Any:
    return await get_json(
        client, SERVICE, url_for(settings, plane), params=params_for(plane), retry_at=retry_at
    )
