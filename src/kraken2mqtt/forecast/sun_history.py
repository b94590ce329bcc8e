"""The panels' measured sun of the last days, per local half hour (pure).

Two estimates come from it, the same rules the solar replay measures (benchmarks/solar_replay.py):

- :func:`persistence`: the sun the plan counts on when no forecast service answers (or none is set up):
  ``ALPHA`` × yesterday + (1 − ``ALPHA``) × the mean of the last ``DAYS`` days, for every day of the horizon.
- :func:`sun_high`: the optimistic sun of the grid-charge guard (``PlanInputs.solar_high``,
  planner/sun_guard.py): each half hour's maximum over the last ``DAYS`` days.

Only complete days count: a day is broken when a sample follows a gap (longer than the integrator's
``max_gap``, or the first sample since the daemon started with no earlier one) while the sun was up at
either end of it (above ``DARK_KW``). A night-time gap (an inverter asleep, a restart before dawn) loses
nothing. Days are local days (the planner's timezone), half hours by local wall-clock time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kraken2mqtt.forecast.model import EnergySlot, SolarForecast, floor_half_hour
from kraken2mqtt.planner.model import SolarSlot

SLOTS_PER_DAY = 48
#: Days kept (one more than used: yesterday stays complete while today fills).
KEEP_DAYS = 8
#: The days the estimates look back over, and yesterday's share of the persistence forecast; both chosen
#: on the 2018 replay only (benchmarks/README.md, "solar").
DAYS = 7
ALPHA = 0.25
#: Below this (kW) the panels count as dark: a gap then loses no sun.
DARK_KW = 0.05
_STEP = timedelta(minutes=30)


def blended_day(days: Sequence[Sequence[float]], alpha: float) -> list[float]:
    """A day's sun per slot from the days observed before it, most recent first: ``alpha`` × yesterday
    + (1 − ``alpha``) × the mean of all of ``days`` (persistence blended with the recent climate; the
    benchmark's choice of ``alpha`` and the number of days is in benchmarks/README.md)."""
    if not days:
        return []
    mean = [sum(col) / len(days) for col in zip(*days, strict=True)]
    return [alpha * y + (1.0 - alpha) * m for y, m in zip(days[0], mean, strict=True)]


def _local_slot(at: datetime, zone: ZoneInfo) -> tuple[str, int]:
    local = at.astimezone(zone)
    return local.date().isoformat(), local.hour * 2 + local.minute // 30


@dataclass
class SunHistory:
    """kWh per local half hour of the last ``KEEP_DAYS`` local days."""

    tz: str
    days: dict[str, list[float]] = field(default_factory=dict)
    #: Days with sun missing (a gap while the panels were generating): not used by the estimates.
    broken: set[str] = field(default_factory=set)

    def add(self, start: datetime, end: datetime, kwh: float) -> None:
        """``kwh`` generated in [start, end): counted in the half hour of its midpoint."""
        day, j = _local_slot(start + (end - start) / 2, ZoneInfo(self.tz))
        self._day(day)[j] += kwh

    def seen(self, at: datetime) -> None:
        """A sample arrived on the local day of ``at`` (the day has a record, perhaps of no sun)."""
        self._day(_local_slot(at, ZoneInfo(self.tz))[0])

    def mark_gap(self, at: datetime) -> None:
        """Sun went unmeasured on the local day of ``at``."""
        day, _ = _local_slot(at, ZoneInfo(self.tz))
        self._day(day)
        self.broken.add(day)

    def _day(self, day: str) -> list[float]:
        values = self.days.get(day)
        if values is None:
            values = self.days[day] = [0.0] * SLOTS_PER_DAY
            self._trim()
        return values

    def _trim(self) -> None:
        """Forget all but the newest ``KEEP_DAYS`` days."""
        for old in sorted(self.days)[:-KEEP_DAYS]:
            del self.days[old]
            self.broken.discard(old)

    def day_kwh(self, at: datetime) -> float | None:
        """kWh measured on the local day of ``at`` (None: no record of it)."""
        day, _ = _local_slot(at, ZoneInfo(self.tz))
        values = self.days.get(day)
        return sum(values) if values is not None else None

    def past_days(self, now: datetime, days: int = DAYS) -> list[list[float]]:
        """The complete days among the ``days`` local days before today, most recent first."""
        today = date.fromisoformat(_local_slot(now, ZoneInfo(self.tz))[0])
        out: list[list[float]] = []
        for back in range(1, days + 1):
            day = (today - timedelta(days=back)).isoformat()
            if day in self.days and day not in self.broken:
                out.append(self.days[day])
        return out

    def to_json(self) -> dict[str, Any]:
        return {"tz": self.tz, "days": self.days, "broken": sorted(self.broken)}

    @classmethod
    def from_json(cls, data: dict[str, Any], tz: str) -> SunHistory:
        """A stored history (raises ValueError/KeyError/TypeError when malformed). A history kept under
        another timezone is dropped: its half hours would be misplaced."""
        if data.get("tz") != tz:
            return cls(tz)
        days = {
            date.fromisoformat(str(k)).isoformat(): [max(0.0, float(v)) for v in values]
            for k, values in dict(data["days"]).items()
        }
        if any(len(v) != SLOTS_PER_DAY for v in days.values()):
            raise ValueError("a stored day does not have 48 half hours")
        history = cls(tz, days, {str(d) for d in data.get("broken", ())} & set(days))
        history._trim()
        return history


def _half_hours(start: datetime, end: datetime, zone: ZoneInfo, profile: list[float]) -> list[EnergySlot]:
    out: list[EnergySlot] = []
    t = floor_half_hour(start.astimezone(UTC))  # stepped in UTC: local wall-clock steps break at DST
    while t < end:
        out.append(EnergySlot(t, t + _STEP, profile[_local_slot(t, zone)[1]]))
        t += _STEP
    return out


def persistence(
    history: SunHistory, now: datetime, horizon_h: float, days: int = DAYS, alpha: float = ALPHA
) -> SolarForecast | None:
    """The measured sun's own forecast from local midnight today to the end of the horizon (None: no
    complete day yet). Starting at midnight lets today's measured-sun scale compare it with today so far."""
    past = history.past_days(now, days)
    if not past:
        return None
    zone = ZoneInfo(history.tz)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    profile = blended_day(past, alpha)
    slots = _half_hours(midnight, now + timedelta(hours=horizon_h), zone, profile)
    return SolarForecast("measured sun", now, tuple(slots))


def sun_high(history: SunHistory, now: datetime, horizon_h: float, days: int = DAYS) -> tuple[SolarSlot, ...]:
    """The optimistic sun from ``now`` to the end of the horizon: each local half hour's maximum over the
    complete days among the last ``days`` (empty: none yet, the guard is off)."""
    past = history.past_days(now, days)
    if not past:
        return ()
    peak = [max(col) for col in zip(*past, strict=True)]
    zone = ZoneInfo(history.tz)
    return tuple(
        SolarSlot(s.start, s.end, s.kwh)
        for s in _half_hours(now, now + timedelta(hours=horizon_h), zone, peak)
    )
