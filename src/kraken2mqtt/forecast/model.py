"""Typed forecast series (pure). Energy is in kWh per period, temperatures in °C, times UTC-aware."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class EnergySlot:
    """``kwh`` generated between ``start`` and ``end`` (spread evenly over the period)."""

    start: datetime
    end: datetime
    kwh: float

    @property
    def mean_kw(self) -> float:
        hours = (self.end - self.start).total_seconds() / 3600
        return self.kwh / hours if hours > 0 else 0.0


@dataclass(frozen=True, slots=True)
class TemperatureAt:
    """Outdoor temperature at an instant (hourly points)."""

    at: datetime
    celsius: float


@dataclass(frozen=True, slots=True)
class SolarForecast:
    """A forecast of the whole house's generation: the planes' series summed."""

    source: str
    fetched_at: datetime
    slots: tuple[EnergySlot, ...]

    def energy_between(self, start: datetime, end: datetime) -> float:
        """kWh expected in [start, end): each slot counts in proportion to its overlap."""
        return sum(_overlap_kwh(s, start, end) for s in self.slots)

    def known_until(self) -> datetime | None:
        return self.slots[-1].end if self.slots else None

    def half_hours(self, start: datetime, end: datetime) -> list[EnergySlot]:
        """The forecast on the half-hour grid from ``start`` (floored) to ``end``."""
        step = timedelta(minutes=30)
        t = floor_half_hour(start)
        out: list[EnergySlot] = []
        while t < end:
            out.append(EnergySlot(t, t + step, self.energy_between(t, t + step)))
            t += step
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat(),
            "slots": [[s.start.isoformat(), s.end.isoformat(), s.kwh] for s in self.slots],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SolarForecast:
        raw = data["slots"]
        if not isinstance(raw, list):
            raise ValueError("slots must be a list")
        return cls(
            source=str(data["source"]),
            fetched_at=datetime.fromisoformat(str(data["fetched_at"])),
            slots=tuple(
                EnergySlot(datetime.fromisoformat(a), datetime.fromisoformat(b), float(k)) for a, b, k in raw
            ),
        )


@dataclass(frozen=True, slots=True)
class WeatherForecast:
    source: str
    fetched_at: datetime
    points: tuple[TemperatureAt, ...]

    def corrected(self, measured_c: float | None, at: datetime) -> WeatherForecast:
        """Shift the forecast by the offset between a measured outdoor reading and the forecast at ``at``
        (a heat pump's sensor sits in its own micro-climate: its offset is what the model should see).
        The offset fades out linearly over 12 hours, because a local offset says little about tomorrow."""
        if measured_c is None or not self.points:
            return self
        forecast_now = self.celsius_at(at)
        if forecast_now is None:
            return self
        offset = measured_c - forecast_now
        fade = timedelta(hours=12)
        points = []
        for p in self.points:
            ahead = p.at - at
            weight = 1.0 if ahead <= timedelta(0) else max(0.0, 1.0 - ahead / fade)
            points.append(TemperatureAt(p.at, round(p.celsius + offset * weight, 2)))
        return WeatherForecast(self.source, self.fetched_at, tuple(points))

    def celsius_at(self, at: datetime) -> float | None:
        """Linear interpolation between the hourly points (None outside them)."""
        pts = self.points
        for a, b in itertools.pairwise(pts):
            if a.at <= at <= b.at:
                span = (b.at - a.at).total_seconds()
                f = (at - a.at).total_seconds() / span if span else 0.0
                return a.celsius + (b.celsius - a.celsius) * f
        if pts and pts[-1].at == at:
            return pts[-1].celsius
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat(),
            "points": [[p.at.isoformat(), p.celsius] for p in self.points],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WeatherForecast:
        raw = data["points"]
        if not isinstance(raw, list):
            raise ValueError("points must be a list")
        return cls(
            source=str(data["source"]),
            fetched_at=datetime.fromisoformat(str(data["fetched_at"])),
            points=tuple(TemperatureAt(datetime.fromisoformat(a), float(c)) for a, c in raw),
        )


def floor_half_hour(t: datetime) -> datetime:
    return t.replace(minute=0 if t.minute < 30 else 30, second=0, microsecond=0)


def _overlap_kwh(slot: EnergySlot, start: datetime, end: datetime) -> float:
    lo, hi = max(slot.start, start), min(slot.end, end)
    if hi <= lo:
        return 0.0
    span = (slot.end - slot.start).total_seconds()
    return slot.kwh * (hi - lo).total_seconds() / span if span > 0 else 0.0


def sum_planes(source: str, fetched_at: datetime, planes: Sequence[Iterable[EnergySlot]]) -> SolarForecast:
    """One series for the house: the planes' slots summed on the boundaries of all of them."""
    slots = [s for plane in planes for s in plane]
    if not slots:
        return SolarForecast(source, fetched_at, ())
    edges = sorted({s.start for s in slots} | {s.end for s in slots})
    merged: list[EnergySlot] = []
    for a, b in itertools.pairwise(edges):
        kwh = sum(_overlap_kwh(s, a, b) for s in slots)
        covered = any(s.start < b and s.end > a for s in slots)
        if covered:
            merged.append(EnergySlot(a, b, kwh))
    return SolarForecast(source, fetched_at, tuple(merged))


def utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t.isoformat()}: a time zone is needed")
    return t.astimezone(UTC)
