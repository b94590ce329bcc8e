"""Agile prices for the simulated account, replayed from real historic half-hour prices.

Sources: the slice shipped in the package (``data/agile_A_2021-01-04_56d.csv.gz``: region A, 8 weeks from
Monday 2021-01-04), or the full public-domain CSV (``shared/data/agile/csv_agile_A_Eastern_England.csv``,
2018-02 → 2021-08). Both have the same columns: start (UTC ISO 8601, ``Z``), local ``HH:MM``, region code,
region name, price p/kWh inc VAT.

Mapping: the history is cut to whole weeks starting on a Monday, and simulated UK day *D* replays historic day
``first_monday + (D - 2001-01-01) mod len``, so weekdays line up. Prices are matched by UK wall-clock time, so
clock-change days work whichever side they fall on.

Publication: like the real API, tomorrow's prices appear at ``publish_hour`` (16:00 UK); before that only
today's (and the past's) are known.
"""

from __future__ import annotations

import gzip
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from kraken2mqtt.sandbox.sim_account import UK, RateTuple, SimRate

PACKAGED = "agile_A_2021-01-04_56d.csv.gz"
# Where the full CSV lives in a checkout with the shared data next to it (``<repo>/../shared/data/agile``).
SHARED_CSV = Path("../shared/data/agile/csv_agile_A_Eastern_England.csv")
_EPOCH_MONDAY = date(2001, 1, 1)
SLOT = timedelta(minutes=30)


class AgilePrices:
    """Historic Agile prices replayed onto simulated days (see module docstring)."""

    def __init__(self, history: dict[datetime, float], *, source: str = "custom", publish_hour: int = 16):
        by_day: dict[date, dict[int, float]] = defaultdict(dict)
        for start, price in sorted(history.items()):
            local = start.astimezone(UK)
            by_day[local.date()].setdefault(local.hour * 60 + local.minute, price)
        days = _whole_weeks([d for d, slots in by_day.items() if len(slots) >= 46])
        if not days:
            raise ValueError("need at least one whole week (Monday to Sunday) of half-hour prices")
        self._days = [by_day[d] for d in days]
        self.first_day, self.last_day = days[0], days[-1]
        self.source = source
        self.publish_hour = publish_hour
        self._cache: dict[date, list[SimRate]] = {}

    # -- loading -------------------------------------------------------------------------------------------
    @classmethod
    def packaged(cls) -> AgilePrices:
        """The 8-week slice shipped in the package."""
        return _packaged()

    @classmethod
    def from_csv(cls, path: Path) -> AgilePrices:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return cls(dict(parse_csv(f)), source=str(path))

    @classmethod
    def load(cls, path: Path | None = None) -> AgilePrices:
        """``path`` if given (must exist), else the full shared CSV if present, else the packaged slice."""
        if path is not None:
            return cls.from_csv(path)
        if SHARED_CSV.is_file():
            return cls.from_csv(SHARED_CSV)
        return cls.packaged()

    # -- replay --------------------------------------------------------------------------------------------
    @property
    def days(self) -> int:
        return len(self._days)

    def historic_day(self, day: date) -> date:
        """The historic UK date replayed on simulated UK date ``day`` (same weekday)."""
        return self.first_day + timedelta(days=(day - _EPOCH_MONDAY).days % len(self._days))

    def day_rates(self, day: date) -> list[SimRate]:
        """The half-hour rates of simulated UK day ``day`` (46/48/50 slots)."""
        cached = self._cache.get(day)
        if cached is None:
            if len(self._cache) > 64:
                self._cache.clear()
            cached = self._cache[day] = self._replay(day)
        return list(cached)

    def _replay(self, day: date) -> list[SimRate]:
        wall = self._days[(day - _EPOCH_MONDAY).days % len(self._days)]
        out: list[SimRate] = []
        for start in _slots(day):
            local = start.astimezone(UK)
            minute = local.hour * 60 + local.minute
            price = wall.get(minute)
            if price is None:  # a wall time the historic day lacks (spring-forward): use the nearest earlier
                price = wall[max((m for m in wall if m <= minute), default=min(wall))]
            out.append(SimRate(start, start + SLOT, price))
        return out

    def price_at(self, t: datetime) -> float:
        """The price (p/kWh inc VAT) of the half hour containing ``t``, published or not."""
        local_day = t.astimezone(UK).date()
        for r in self.day_rates(local_day):
            if r.valid_from <= t < r.valid_to:
                return r.value
        raise AssertionError("unreachable: a day's slots cover the day")  # pragma: no cover

    # -- publication ---------------------------------------------------------------------------------------
    def published_until(self, now: datetime) -> datetime:
        """End of the last published slot: midnight after today, or after tomorrow from 16:00 UK."""
        local = now.astimezone(UK)
        days = 2 if local.hour >= self.publish_hour else 1
        return _midnight(local.date() + timedelta(days=days))

    def published_rates(self, now: datetime, *, days_back: int = 1) -> list[SimRate]:
        """Rates known at ``now``: ``days_back`` whole past days, today, and tomorrow once published."""
        today = now.astimezone(UK).date()
        until = self.published_until(now)
        out: list[SimRate] = []
        day = today - timedelta(days=days_back)
        while _midnight(day) < until:
            out.extend(self.day_rates(day))
            day += timedelta(days=1)
        return out

    def rate_tuples(self, now: datetime) -> list[RateTuple]:
        """``published_rates`` as ``SimAccount.demo(now, import_rates=...)`` takes them."""
        return [(r.valid_from, r.valid_to, r.value) for r in self.published_rates(now)]


def parse_csv(lines: Iterable[str]) -> Iterator[tuple[datetime, float]]:
    """(UTC start, price) from lines of the Agile CSV; blank and malformed lines are skipped."""
    for line in lines:
        parts = line.strip().split(",")
        if len(parts) < 5:
            continue
        try:
            start = datetime.fromisoformat(parts[0].replace("Z", "+00:00")).astimezone(UTC)
            yield start, float(parts[4])
        except ValueError:
            continue


@cache
def _packaged() -> AgilePrices:
    blob = resources.files("kraken2mqtt.sandbox").joinpath("data", PACKAGED).read_bytes()
    text = io.StringIO(gzip.decompress(blob).decode("utf-8"))
    return AgilePrices(dict(parse_csv(text)), source=f"packaged {PACKAGED}")


def _whole_weeks(days: list[date]) -> list[date]:
    """The longest run of consecutive days from the first Monday, cut to whole weeks."""
    days = sorted(days)
    start = next((i for i, d in enumerate(days) if d.weekday() == 0), None)
    if start is None:
        return []
    run = [days[start]]
    for d in days[start + 1 :]:
        if d != run[-1] + timedelta(days=1):
            break
        run.append(d)
    return run[: len(run) // 7 * 7]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UK).astimezone(UTC)


def _slots(day: date) -> Iterator[datetime]:
    t, end = _midnight(day), _midnight(day + timedelta(days=1))
    while t < end:
        yield t
        t += SLOT
