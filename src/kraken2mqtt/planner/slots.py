"""The time grid a plan is made on.

The grid starts at ``now`` (so the first slot is usually partial) and is cut at every tariff slot
boundary (30 or 15 min), every dispatch window edge and every device deadline, so inside one grid slot
the price, the dispatch state and every device's permission to run are constant. A deadline at 06:45 on a
30-minute tariff therefore simply gives a 15-minute slot 06:30–06:45 and another 06:45–07:00.

Times are kept as float epoch seconds internally: comparing floats is far cheaper than datetimes.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from .model import DispatchWindow, LoadProfile, PlanInputs, PriceSlot, SolarSlot

DAY_S = 86400.0
_MIN_SLOT_S = 1.0


def ts(dt: datetime) -> float:
    return dt.timestamp()


def to_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Grid:
    """Slot ``i`` runs from ``t[i]`` to ``t[i + 1]``."""

    t: tuple[float, ...]
    hours: tuple[float, ...]
    import_p: tuple[float, ...]
    export_p: tuple[float, ...]
    dispatch: tuple[bool, ...]
    forecast: tuple[bool, ...]
    house_kwh: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.hours)

    def index_at(self, t: float) -> int:
        """Index of the slot containing ``t`` (-1 before the grid, n after it)."""
        if not self.hours or t < self.t[0]:
            return -1
        return min(bisect_right(self.t, t) - 1, self.n)

    def boundary_index(self, t: float) -> int:
        """Number of slots that end at or before ``t``."""
        return max(0, min(self.n, bisect_right(self.t, t + 1e-6) - 1))


class _PriceIndex:
    def __init__(self, prices: Sequence[PriceSlot]) -> None:
        rows = sorted((ts(p.start), ts(p.end), p.import_p, p.export_p) for p in prices)
        self.starts = [r[0] for r in rows]
        self.rows = rows

    def at(self, t: float) -> tuple[float, float] | None:
        i = bisect_right(self.starts, t) - 1
        if i >= 0:
            s, e, imp, exp = self.rows[i]
            if s <= t < e:
                return imp, exp
        return None

    def covered_until(self, t: float) -> float:
        """End of the contiguous run of published slots from ``t`` (``t`` itself if uncovered)."""
        i = bisect_right(self.starts, t) - 1
        if i < 0 or not (self.rows[i][0] <= t < self.rows[i][1]):
            return t
        end = self.rows[i][1]
        for s, e, _, _ in self.rows[i + 1 :]:
            if s > end + 1e-6:
                break
            end = max(end, e)
        return end


def profile_kw(profile: LoadProfile, t: float) -> float:
    local = datetime.fromtimestamp(t, zone(profile.tz))
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    n = len(profile.kw)
    return profile.kw[min(n - 1, int(seconds * n / DAY_S))]


def build_grid(inputs: PlanInputs, extra_breaks: Iterable[datetime] = ()) -> Grid:
    now = ts(inputs.now)
    end = now + inputs.horizon_h * 3600.0
    index = _PriceIndex(inputs.tariff.prices)
    known_end = index.covered_until(now)
    if not inputs.forecast_missing_prices:
        end = min(end, known_end)
    breaks: set[float] = set()
    for _, e, _, _ in index.rows:
        breaks.add(e)
        if inputs.forecast_missing_prices and e < end:
            breaks.add(e + DAY_S)
            breaks.add(e + 2 * DAY_S)
    # never coarser than half-hours, even if a tariff gives long flat-rate slots
    half = math.floor(now / 1800.0) * 1800.0 + 1800.0
    while half < end:
        breaks.add(half)
        half += 1800.0
    for w in inputs.dispatches:
        breaks.add(ts(w.start))
        breaks.add(ts(w.end))
    for brk in extra_breaks:
        breaks.add(ts(brk))
    cuts = [now, *sorted(b for b in breaks if now + _MIN_SLOT_S < b < end - _MIN_SLOT_S), end]
    windows = sorted((ts(w.start), ts(w.end)) for w in inputs.dispatches)
    off_peak = inputs.tariff.off_peak_p
    profile = inputs.house_load
    t_out: list[float] = [now]
    hours: list[float] = []
    imp: list[float] = []
    exp: list[float] = []
    disp: list[bool] = []
    fc: list[bool] = []
    house: list[float] = []
    for a, b in itertools.pairwise(cuts):  # float epoch seconds
        if b - a < _MIN_SLOT_S:
            continue
        mid = 0.5 * (a + b)
        price = index.at(mid)
        forecast = False
        if price is None and inputs.forecast_missing_prices:
            price = _forecast(index, mid)
            forecast = price is not None
        if price is None:
            break
        in_dispatch = _inside(windows, mid)
        p_imp = off_peak if (in_dispatch and off_peak is not None) else price[0]
        h = (b - a) / 3600.0
        t_out.append(b)
        hours.append(h)
        imp.append(p_imp)
        exp.append(price[1])
        disp.append(in_dispatch)
        fc.append(forecast)
        base = profile_kw(profile, mid) * h if profile is not None else 0.0
        house.append(base - solar_kwh(inputs.solar, a, b) if inputs.solar else base)
    return Grid(tuple(t_out), tuple(hours), tuple(imp), tuple(exp), tuple(disp), tuple(fc), tuple(house))


def solar_kwh(solar: Sequence[SolarSlot], a: float, b: float) -> float:
    """Forecast generation in [a, b) (epoch seconds): each forecast slot counts by its overlap. The
    forecast comes sorted and without overlaps (as :mod:`kraken2mqtt.forecast` makes it)."""
    total = 0.0
    ends = _solar_ends(tuple(solar))
    for i in range(bisect_right(ends, a), len(solar)):
        s = solar[i]
        s0, s1 = ts(s.start), ends[i]
        if s0 >= b:
            break
        lo, hi = max(a, s0), min(b, s1)
        if hi > lo:
            total += s.kwh * (hi - lo) / (s1 - s0)
    return total


@lru_cache(maxsize=4)
def _solar_ends(solar: tuple[SolarSlot, ...]) -> list[float]:
    return [ts(s.end) for s in solar]


def _forecast(index: _PriceIndex, t: float) -> tuple[float, float] | None:
    """Forecast for an unpublished slot: the lower of the same slot yesterday and a week ago (else two or
    three days ago). Chosen on a closed-loop replay of 2020 Agile prices (benchmarks/planner): it beat
    yesterday alone, the mean and the maximum of the two."""
    seen = [p for back in (1, 7) if (p := index.at(t - back * DAY_S)) is not None]
    if not seen:
        seen = [p for back in (2, 3) if (p := index.at(t - back * DAY_S)) is not None][:1]
    return min(seen, key=lambda p: p[0]) if seen else None


def _inside(windows: Sequence[tuple[float, float]], t: float) -> bool:
    return any(s <= t < e for s, e in windows)


def dispatch_overlap_h(windows: Sequence[DispatchWindow], a: float, b: float) -> float:
    """Hours of [a, b) covered by dispatch windows (windows may overlap each other)."""
    spans = sorted((max(a, ts(w.start)), min(b, ts(w.end))) for w in windows)
    total = 0.0
    cur_s, cur_e = a, a
    for s, e in spans:
        if e <= s:
            continue
        if s > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    total += cur_e - cur_s
    return total / 3600.0
