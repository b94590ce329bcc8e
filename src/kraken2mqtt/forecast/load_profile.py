"""The house's own base load, learned from what the daemon measures (pure).

Samples of the house's consumption (a power sensor on MQTT, the inverter's load telemetry, or the smart
meter's half-hourly readings) less the power of the devices the planner controls go into one cell per
local weekday and half hour. Each cell is an exponentially weighted mean: a sample's weight halves every
``half_life_days``, so the profile follows the seasons and a change of habits within weeks. Until
``min_days`` of history exist the configured profile stays in use.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CELLS_PER_DAY = 48
DAYS = 7


@dataclass
class Cell:
    total: float = 0.0
    weight: float = 0.0
    last: datetime | None = None

    def add(self, at: datetime, kw: float, half_life_days: float) -> None:
        if self.last is not None and at > self.last:
            f = 0.5 ** ((at - self.last) / timedelta(days=half_life_days))
            self.total *= f
            self.weight *= f
        self.total += kw
        self.weight += 1.0
        self.last = at if self.last is None else max(self.last, at)

    @property
    def mean(self) -> float | None:
        return self.total / self.weight if self.weight > 0 else None


@dataclass
class LoadLearner:
    tz: str = "Europe/London"
    half_life_days: float = 14.0
    min_days: float = 7.0
    first: datetime | None = None
    last: datetime | None = None
    cells: list[Cell] = field(default_factory=lambda: [Cell() for _ in range(DAYS * CELLS_PER_DAY)])

    def add(self, at: datetime, house_kw: float, planned_devices_kw: float = 0.0) -> None:
        """One measurement: the whole house's power and, of it, what the planned devices drew."""
        if not math.isfinite(house_kw) or not math.isfinite(planned_devices_kw):
            return
        base = max(0.0, house_kw - max(0.0, planned_devices_kw))
        self.cells[self._index(at)].add(at, base, self.half_life_days)
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)

    def ready(self) -> bool:
        return (
            self.first is not None
            and self.last is not None
            and self.last - self.first >= timedelta(days=self.min_days)
        )

    def weekly(self) -> list[float] | None:
        """336 half-hour means from Monday 00:00 local; a cell never measured takes the mean of the same
        half hour on the other weekdays (then of the whole profile)."""
        if not self.ready():
            return None
        means = [c.mean for c in self.cells]
        known = [m for m in means if m is not None]
        overall = sum(known) / len(known) if known else 0.0
        out = []
        for i, m in enumerate(means):
            if m is None:
                same = [means[d * CELLS_PER_DAY + i % CELLS_PER_DAY] for d in range(DAYS)]
                others = [x for x in same if x is not None]
                m = sum(others) / len(others) if others else overall
            out.append(round(m, 4))
        return out

    def daily(self) -> list[float] | None:
        """48 half-hour means over all weekdays (the planner's one-day ``LoadProfile``)."""
        week = self.weekly()
        if week is None:
            return None
        return [
            round(sum(week[d * CELLS_PER_DAY + h] for d in range(DAYS)) / DAYS, 4)
            for h in range(CELLS_PER_DAY)
        ]

    def _index(self, at: datetime) -> int:
        local = at.astimezone(ZoneInfo(self.tz))
        return local.weekday() * CELLS_PER_DAY + local.hour * 2 + (1 if local.minute >= 30 else 0)

    # ------------------------------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "tz": self.tz,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "cells": [
                [round(c.total, 6), round(c.weight, 6), c.last.isoformat() if c.last else None]
                for c in self.cells
            ],
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any], *, half_life_days: float = 14.0, min_days: float = 7.0
    ) -> LoadLearner:
        cells = [
            Cell(float(t), float(w), datetime.fromisoformat(last) if last else None)
            for t, w, last in data["cells"]
        ]
        if len(cells) != DAYS * CELLS_PER_DAY:
            raise ValueError(f"a load profile has {DAYS * CELLS_PER_DAY} cells, not {len(cells)}")
        return cls(
            tz=str(data["tz"]),
            half_life_days=half_life_days,
            min_days=min_days,
            first=datetime.fromisoformat(data["first"]) if data.get("first") else None,
            last=datetime.fromisoformat(data["last"]) if data.get("last") else None,
            cells=cells,
        )


def read_power(payload: bytes, path: str | None, *, unit: str = "W") -> float | None:
    """The power in a sensor's MQTT payload, in kW: a bare number, or the value at a dotted JSON path
    (``Power.Load_Power``; list indices as numbers). None for anything unreadable."""
    try:
        text = payload.decode()
        value: Any = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    for part in path.split(".") if path else ():
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) / 1000 if unit == "W" else float(value)
