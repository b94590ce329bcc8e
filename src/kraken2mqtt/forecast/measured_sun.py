"""Today's sun as it comes: the rest of today's forecast scaled by what the panels gave so far (pure).

A forecast made in the morning (or yesterday's sun, for a house without one) is often off by a day-wide
factor: haze, a front arriving early. The panels' own output since sunrise says by how much. The scale is
``(measured + prior) / (forecast + prior)`` over today so far: the prior (kWh) keeps the first cloudy
half hour after sunrise from scaling the whole day to nothing; the scale is clipped to [``LOW``, ``HIGH``].
Tomorrow's forecast is left alone (a day-wide error says little about the next day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kraken2mqtt.planner.model import SolarSlot

LOW, HIGH = 0.2, 2.0
#: Below this much forecast and measured sun today (kWh) the scale stays 1 (night, dawn).
MIN_EVIDENCE_KWH = 0.2


def today_scale(measured_kwh: float, forecast_kwh: float, prior_kwh: float = 1.0) -> float:
    """How much sunnier (> 1) or duller (< 1) today is than forecast, from today so far."""
    if measured_kwh + forecast_kwh < MIN_EVIDENCE_KWH:
        return 1.0
    return min(HIGH, max(LOW, (measured_kwh + prior_kwh) / (forecast_kwh + prior_kwh)))


def blended_day(days: Sequence[Sequence[float]], alpha: float) -> list[float]:
    """A day's sun per slot from the days observed before it, most recent first: ``alpha`` × yesterday
    + (1 − ``alpha``) × the mean of all of ``days`` (persistence blended with the recent climate; the
    benchmark's choice of ``alpha`` and the number of days is in benchmarks/README.md)."""
    if not days:
        return []
    mean = [sum(col) / len(days) for col in zip(*days, strict=True)]
    return [alpha * y + (1.0 - alpha) * m for y, m in zip(days[0], mean, strict=True)]


def scale_rest_of_today(
    slots: Sequence[SolarSlot], now: datetime, tz: str, scale: float
) -> tuple[SolarSlot, ...]:
    """``slots`` with those before the next local midnight (after ``now``) multiplied by ``scale``."""
    if scale == 1.0:
        return tuple(slots)
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return tuple(SolarSlot(s.start, s.end, s.kwh * scale) if s.start < midnight else s for s in slots)


@dataclass
class MeasuredSun:
    """Today's measured generation, integrated from power samples (kW) of the inverter or a PV meter."""

    tz: str
    day: str | None = None
    kwh: float = 0.0
    _last: tuple[datetime, float] | None = field(default=None, repr=False)
    #: A gap longer than this between two samples is not integrated (the sensor was away).
    max_gap: timedelta = timedelta(minutes=15)

    def sample(self, at: datetime, kw: float) -> None:
        day = at.astimezone(ZoneInfo(self.tz)).date().isoformat()
        if day != self.day:
            self.day, self.kwh, self._last = day, 0.0, None
        kw = max(0.0, kw)
        if self._last is not None:
            t0, kw0 = self._last
            dt = at - t0
            if timedelta(0) < dt <= self.max_gap:
                self.kwh += (kw0 + kw) / 2 * dt.total_seconds() / 3600
        self._last = (at, kw)

    def today_kwh(self, now: datetime) -> float | None:
        """kWh measured today (None: no sample today, so nothing to scale by)."""
        day = now.astimezone(ZoneInfo(self.tz)).date().isoformat()
        return self.kwh if day == self.day else None
