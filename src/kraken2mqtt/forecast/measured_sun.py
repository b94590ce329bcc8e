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
from typing import Any
from zoneinfo import ZoneInfo

from kraken2mqtt.forecast.sun_history import DARK_KW, SunHistory
from kraken2mqtt.planner.model import SolarSlot

LOW, HIGH = 0.2, 2.0
#: Below this much forecast and measured sun today (kWh) the scale stays 1 (night, dawn).
MIN_EVIDENCE_KWH = 0.2


def today_scale(measured_kwh: float, forecast_kwh: float, prior_kwh: float = 1.0) -> float:
    """How much sunnier (> 1) or duller (< 1) today is than forecast, from today so far."""
    if measured_kwh + forecast_kwh < MIN_EVIDENCE_KWH:
        return 1.0
    return min(HIGH, max(LOW, (measured_kwh + prior_kwh) / (forecast_kwh + prior_kwh)))


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
    """The panels' measured generation, integrated from power samples (kW) of the inverter or a PV meter
    into the per-half-hour :class:`~.sun_history.SunHistory` (kept across restarts by the daemon)."""

    tz: str
    history: SunHistory = field(default_factory=lambda: SunHistory("UTC"))
    _last: tuple[datetime, float] | None = field(default=None, repr=False)
    #: A gap longer than this between two samples is not integrated (the sensor was away).
    max_gap: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.history.tz != self.tz:
            self.history = SunHistory(self.tz)

    def sample(self, at: datetime, kw: float) -> None:
        kw = max(0.0, kw)
        self.history.seen(at)
        last = self._last
        if last is None or at - last[0] > self.max_gap:
            # a gap: sun was lost if the panels were generating at either end of it
            if kw > DARK_KW:
                self.history.mark_gap(at)
            if last is not None and last[1] > DARK_KW:
                self.history.mark_gap(last[0])
        elif at > last[0]:
            self.history.add(last[0], at, (last[1] + kw) / 2 * (at - last[0]).total_seconds() / 3600)
        self._last = (at, kw)

    def today_kwh(self, now: datetime) -> float | None:
        """kWh measured on the local day of ``now`` (None: no sample that day, so nothing to scale by)."""
        return self.history.day_kwh(now)

    def to_json(self) -> dict[str, Any]:
        out = self.history.to_json()
        if self._last is not None:
            out["last"] = [self._last[0].isoformat(), self._last[1]]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], tz: str) -> MeasuredSun:
        """A stored measurement (raises ValueError/KeyError/TypeError when malformed). The last sample
        comes back too, so a restart's gap is judged like any other."""
        sun = cls(tz, SunHistory.from_json(data, tz))
        last = data.get("last")
        if last is not None and sun.history.days:
            at = datetime.fromisoformat(str(last[0]))
            if at.tzinfo is None:
                raise ValueError("the last sample's time has no timezone")
            sun._last = (at, max(0.0, float(last[1])))
        return sun
