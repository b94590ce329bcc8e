"""Solcast rooftop sites (https://docs.solcast.com.au/, "Rooftop Sites forecasts"), for users with a
free hobbyist key (10 calls a day in total; the sites are configured in the user's Solcast account).

``GET /rooftop_sites/{resource_id}/forecasts?format=json&hours=48`` with ``Authorization: Bearer KEY``::

    {"forecasts": [{"pv_estimate": 1.234, "pv_estimate10": 0.9, "pv_estimate90": 1.5,
                    "period_end": "2026-06-01T10:30:00.0000000Z", "period": "PT30M"}, ...]}

``pv_estimate`` is the mean power in kW over the period that ends at ``period_end``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.errors import ForecastMalformed
from kraken2mqtt.forecast.http import get_json
from kraken2mqtt.forecast.model import EnergySlot

SERVICE = "Solcast"
DAILY_CALLS = 10
_PERIOD = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?$")


def _period(text: str) -> timedelta:
    m = _PERIOD.match(text)
    if not m or not (m.group(1) or m.group(2)):
        raise ForecastMalformed(f"{SERVICE}: unknown period {text!r}")
    return timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))


def _instant(text: str) -> datetime:
    # Solcast writes seven fractional digits ("...00.0000000Z"), more than fromisoformat takes.
    cleaned = re.sub(r"\.(\d{6})\d*", r".\1", text.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(cleaned).astimezone(UTC)
    except ValueError as exc:
        raise ForecastMalformed(f"{SERVICE}: bad time {text!r}") from exc


def site_energy(body: Any) -> list[EnergySlot]:
    rows = body.get("forecasts") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ForecastMalformed(f"{SERVICE}: no 'forecasts' list in the answer")
    slots = []
    for row in rows:
        try:
            end = _instant(str(row["period_end"]))
            length = _period(str(row.get("period", "PT30M")))
            kw = row["pv_estimate"]
        except (KeyError, TypeError) as exc:
            raise ForecastMalformed(f"{SERVICE}: a forecast row lacks period_end or pv_estimate") from exc
        if not isinstance(kw, int | float):
            raise ForecastMalformed(f"{SERVICE}: non-numeric pv_estimate {kw!r}")
        slots.append(EnergySlot(end - length, end, max(0.0, float(kw)) * length.total_seconds() / 3600))
    return slots


async def fetch(client: httpx.AsyncClient, settings: ForecastSettings, site: str) -> Any:
    key = settings.solcast_api_key
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key is not None else {}
    base = str(settings.solcast_url).rstrip("/")
    return await get_json(
        client,
        SERVICE,
        f"{base}/rooftop_sites/{site}/forecasts",
        params={"format": "json", "hours": "48"},
        headers=headers,
    )
