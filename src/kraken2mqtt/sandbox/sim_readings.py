"""Readings the fake server computes on request: the GB backend's greener nights and smart-meter
telemetry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.sandbox.default_resolver import dec, iso
from kraken2mqtt.sandbox.sim_account import UK, VAT, SimAccount, SimGreenness

Json = dict[str, Any]

#: A greener night runs 23:00 to 06:00 UK time (HAOE bafdb0d maps ``date`` to that window).
GREENER_NIGHT_HOURS = (23, 6)


def greener_nights(periods: Sequence[SimGreenness]) -> list[Json]:
    """``greenerNightsForecast`` (GB backend; HAOE greener_night_forecast_query): one entry per night, the
    mean greenness score of the hours from 23:00 to 06:00 UK time that the forecast covers; a night is
    greener when its index is HIGH."""
    nights: dict[str, list[SimGreenness]] = {}
    start_h, end_h = GREENER_NIGHT_HOURS
    for g in periods:
        local = g.valid_from.astimezone(UK)
        if local.hour >= start_h:
            nights.setdefault(local.date().isoformat(), []).append(g)
        elif local.hour < end_h:
            nights.setdefault((local.date() - timedelta(days=1)).isoformat(), []).append(g)
    out = []
    for day, hours in sorted(nights.items()):
        score = round(sum(h.score for h in hours) / len(hours))
        index = "HIGH" if score >= 67 else "MEDIUM" if score >= 34 else "LOW"
        out.append(
            {"date": day, "isGreenerNight": index == "HIGH", "greennessScore": score, "greennessIndex": index}
        )
    return out


def telemetry(
    acc: SimAccount, now: datetime, start: datetime | None, end: datetime | None, grouping: str | None
) -> list[Json]:
    """Sandbox smart-meter telemetry: demand from ``acc.site_demand_w`` with a gentle ripple."""
    step = {"TEN_SECONDS": 10, "ONE_MINUTE": 60, "THIRTY_MINUTES": 1800}.get(grouping or "TEN_SECONDS", 10)
    if start is None and end is None:
        times = [now.replace(microsecond=0) - timedelta(seconds=now.second % 10)]
    else:
        t0 = start or (now - timedelta(hours=1))
        t1 = min(end or now, now)
        times = []
        t = t0
        while t < t1 and len(times) < 2000:
            times.append(t)
            t += timedelta(seconds=step)
    out = []
    for t in times:
        demand = acc.site_demand_w * (1 + 0.1 * math.sin(t.timestamp() / 600))
        delta_wh = demand * step / 3600
        out.append(
            {
                "readAt": iso(t),
                "demand": dec(round(demand, 1)),
                "consumption": dec(round(1_000_000 + t.timestamp() / 10, 1)),
                "export": dec(0.0),
                "consumptionDelta": dec(round(delta_wh, 3)),
                "costDelta": dec(round(delta_wh / 1000 * 20 / VAT, 4)),
                "costDeltaWithTax": dec(round(delta_wh / 1000 * 20, 4)),
            }
        )
    return out
