"""The time grid a plan is made on.

The grid starts at ``now`` (so the first slot is usually partial) and is cut at every tariff slot
boundary (30 or 15 min), every dispatch window edge and every device deadline, so inside one grid slot
the price, the dispatch state and every device's permission to run are constant. A deadline at 06:45 on a
30-minute tariff therefore simply gives a 15-minute slot 06:30–06:45 and another 06:45–07:00.

Times are kept as float epoch seconds internally: comparing floats is far cheaper than datetimes.

A slot without a published price is forecast from the previous days when the tariff brings them; when it
cannot be (no history: the next half hour not priced yet, a gap, a tariff change further ahead) it is kept
as *unpriced*: stores skip it and loads use it only when their deadline needs it (it is costed at the
highest known price of the horizon). The grid runs to the last known price, or further (unpriced, up to the
horizon) when a device's deadline lies beyond it. No known price at all is the only empty plan.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from .model import DispatchWindow, LoadProfile, PlanInputs, SolarSlot, TariffSlot

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
    unpriced: tuple[bool, ...] = ()  # per slot: no published or forecast price (costed at the highest)
    # per slot: kWh more sun than the forecast an optimistic estimate allows (PlanInputs.solar_high;
    # empty: none given). Only the battery's grid-charge guard (sun_guard.py) reads it.
    sun_extra: tuple[float, ...] = ()

    def is_unpriced(self, i: int) -> bool:
        return bool(self.unpriced) and self.unpriced[i]

    @property
    def n(self) -> int:
        return len(self.hours)

    def boundary_index(self, t: float) -> int:
        """Number of slots that end at or before ``t``."""
        return max(0, min(self.n, bisect_right(self.t, t + 1e-6) - 1))


class _PriceIndex:
    def __init__(self, prices: Sequence[TariffSlot]) -> None:
        rows = sorted((ts(p.start), ts(p.end), p.import_p, p.export_p) for p in prices)
        self.starts = [r[0] for r in rows]
        self.rows = rows
        self.end = max((r[1] for r in rows), default=-math.inf)

    @cached_property
    def late_rise(self) -> float:
        """How much dearer the last ``LEVEL_HOURS`` of the published prices are than the same slots a day
        earlier (mean import price; 0 for a fall or when either is missing)."""
        pairs = [
            (a[0], b[0])
            for k in range(int(LEVEL_HOURS * 2))
            if (a := self.at(self.end - 900.0 - k * 1800.0)) is not None
            and (b := self.at(self.end - 900.0 - k * 1800.0 - DAY_S)) is not None
        ]
        return max(0.0, sum(x - y for x, y in pairs) / len(pairs)) if pairs else 0.0

    def at(self, t: float) -> tuple[float, float] | None:
        i = bisect_right(self.starts, t) - 1
        if i >= 0:
            s, e, imp, exp = self.rows[i]
            if s <= t < e:
                return imp, exp
        return None

    def last_end(self) -> float:
        return self.end


def profile_kw(profile: LoadProfile, t: float) -> float:
    local = datetime.fromtimestamp(t, zone(profile.tz))
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    n = len(profile.kw)
    return profile.kw[min(n - 1, int(seconds * n / DAY_S))]


def build_grid(
    inputs: PlanInputs, extra_breaks: Iterable[datetime] = (), need_until: datetime | None = None
) -> Grid:
    """The plan's slots from ``now``. ``need_until``: the latest instant a device must be served by (a car's
    deadline); the grid reaches it, as unpriced slots if need be, even past the last known price."""
    now = ts(inputs.now)
    horizon_end = now + inputs.horizon_h * 3600.0
    index = _PriceIndex(inputs.tariff.prices)
    known_end = index.last_end()
    end = horizon_end if inputs.forecast_missing_prices else min(horizon_end, known_end)
    if need_until is not None:
        end = max(end, min(horizon_end, ts(need_until)))
    rule = FORECAST_RULES.get(inputs.forecast_rule, _forecast_min_1_7)
    breaks: set[float] = set()
    for s, e, _, _ in index.rows:
        if now < s < end:
            breaks.add(s)
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
    unpriced: list[bool] = []
    house: list[float] = []
    sun_extra: list[float] = []
    for a, b in itertools.pairwise(cuts):  # float epoch seconds
        if b - a < _MIN_SLOT_S:
            continue
        mid = 0.5 * (a + b)
        price = index.at(mid)
        forecast = False
        if price is None and inputs.forecast_missing_prices:
            price = rule(index, mid)
            forecast = price is not None
        in_dispatch = _inside(windows, mid)
        h = (b - a) / 3600.0
        t_out.append(b)
        hours.append(h)
        if price is None:
            imp.append(math.nan)
            exp.append(0.0)
        else:
            imp.append(off_peak if (in_dispatch and off_peak is not None) else price[0])
            exp.append(price[1])
        unpriced.append(price is None)
        disp.append(in_dispatch)
        fc.append(forecast)
        base = profile_kw(profile, mid) * h if profile is not None else 0.0
        sun = solar_kwh(inputs.solar, a, b) if inputs.solar else 0.0
        house.append(base - sun)
        if inputs.solar_high:
            sun_extra.append(max(0.0, solar_kwh(inputs.solar_high, a, b) - sun))
    # trailing unpriced slots serve nobody unless a deadline needs them
    keep = len(hours)
    limit = ts(need_until) if need_until is not None else -math.inf
    while keep and unpriced[keep - 1] and t_out[keep - 1] >= limit - _MIN_SLOT_S:
        keep -= 1
    if keep < len(hours):
        t_out, hours, imp, exp = t_out[: keep + 1], hours[:keep], imp[:keep], exp[:keep]
        disp, fc, unpriced, house = disp[:keep], fc[:keep], unpriced[:keep], house[:keep]
        sun_extra = sun_extra[:keep]
    known = [p for p, u in zip(imp, unpriced, strict=True) if not u]
    if not known:
        return Grid((now,), (), (), (), (), (), (), ())
    fill = max(known)
    imp = [fill if u else p for p, u in zip(imp, unpriced, strict=True)]
    return Grid(
        tuple(t_out),
        tuple(hours),
        tuple(imp),
        tuple(exp),
        tuple(disp),
        tuple(fc),
        tuple(house),
        tuple(unpriced),
        tuple(sun_extra),
    )


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


def unpriced_spans(grid: Grid) -> list[tuple[float, float]]:
    """The grid's unpriced stretches as (start, end) epoch seconds."""
    out: list[tuple[float, float]] = []
    for i in range(grid.n):
        if grid.is_unpriced(i):
            if out and abs(out[-1][1] - grid.t[i]) < 1e-6:
                out[-1] = (out[-1][0], grid.t[i + 1])
            else:
                out.append((grid.t[i], grid.t[i + 1]))
    return out


# ------------------------------------------------------------------------ forecast of unpublished prices

Price = tuple[float, float]
ForecastRule = Callable[["_PriceIndex", float], Price | None]


def _same_slot(index: _PriceIndex, t: float, days: Iterable[int]) -> list[Price]:
    return [p for back in days if (p := index.at(t - back * DAY_S)) is not None]


def _forecast_min_1_7(index: _PriceIndex, t: float) -> Price | None:
    """The lower of the same slot yesterday and a week ago (else two or three days ago)."""
    seen = _same_slot(index, t, (1, 7))
    if not seen:
        seen = _same_slot(index, t, (2, 3))[:1]
    return min(seen, key=lambda p: p[0]) if seen else None


def _forecast_yesterday(index: _PriceIndex, t: float) -> Price | None:
    """The same slot on the latest earlier day with a price."""
    seen = _same_slot(index, t, (1, 2, 3, 7))
    return seen[0] if seen else None


def _forecast_median7(index: _PriceIndex, t: float) -> Price | None:
    """Median of the same slot over the previous seven days."""
    seen = sorted(_same_slot(index, t, range(1, 8)))
    return seen[len(seen) // 2] if seen else None


def _forecast_mean7(index: _PriceIndex, t: float) -> Price | None:
    """Mean of the same slot over the previous seven days."""
    seen = _same_slot(index, t, range(1, 8))
    if not seen:
        return None
    return sum(p[0] for p in seen) / len(seen), sum(p[1] for p in seen) / len(seen)


def _forecast_recent3(index: _PriceIndex, t: float) -> Price | None:
    """Recency-weighted mean of the same slot over the previous three days (weights 3:2:1)."""
    w = [(3.0, 1), (2.0, 2), (1.0, 3)]
    seen = [(wt, p) for wt, back in w if (p := index.at(t - back * DAY_S)) is not None]
    if not seen:
        return _forecast_yesterday(index, t)
    tot = sum(wt for wt, _ in seen)
    return sum(wt * p[0] for wt, p in seen) / tot, sum(wt * p[1] for wt, p in seen) / tot


def _forecast_mean_1_7(index: _PriceIndex, t: float) -> Price | None:
    """Mean of the same slot yesterday and a week ago (else as ``yesterday``)."""
    seen = _same_slot(index, t, (1, 7))
    if len(seen) < 2:
        return _forecast_yesterday(index, t)
    return 0.5 * (seen[0][0] + seen[1][0]), 0.5 * (seen[0][1] + seen[1][1])


def _forecast_min_1_7_less(index: _PriceIndex, t: float) -> Price | None:
    """``min_1_7`` less a margin (``HOLD_MARGIN_P``): energy is carried past the published prices only
    for a gain above the margin, since the forecast's error is larger than most day-to-day spreads."""
    p = _forecast_min_1_7(index, t)
    return None if p is None else (p[0] - HOLD_MARGIN_P, p[1])


#: p/kWh taken off ``min_1_7`` by ``min_1_7_less`` (see benchmarks/README.md).
HOLD_MARGIN_P = 0.5


def _forecast_median7_less(index: _PriceIndex, t: float) -> Price | None:
    """``median7`` less 1p: the least noisy of the rules, biased low by about as much as ``min_1_7``."""
    p = _forecast_median7(index, t)
    return None if p is None else (p[0] - 1.0, p[1])


#: ``min_1_7_level``: the share of a late rise of the published prices added to ``min_1_7``, the hours it
#: is measured over and its fade with lead time; chosen on 2018 (benchmarks/README.md, "Session 21").
LEVEL_GAIN, LEVEL_HOURS, LEVEL_FADE_H = 0.5, 3.0, 12.0


def _forecast_min_1_7_level(index: _PriceIndex, t: float) -> Price | None:
    """``min_1_7`` plus half of the rise (never a fall) of the last 3 published hours over the same hours a
    day earlier, fading with lead time: better than ``min_1_7`` on 2019-2021 out of sample."""
    p = _forecast_min_1_7(index, t)
    if p is None:
        return None
    fade = math.exp(-max(0.0, t - index.end) / (LEVEL_FADE_H * 3600.0))
    return p[0] + LEVEL_GAIN * fade * index.late_rise, p[1]


#: Rules for ``PlanInputs.forecast_rule``; benchmarks/planner/replay.py compares them out of sample.
FORECAST_RULES: dict[str, ForecastRule] = {
    "min_1_7": _forecast_min_1_7,
    "yesterday": _forecast_yesterday,
    "median7": _forecast_median7,
    "mean7": _forecast_mean7,
    "recent3": _forecast_recent3,
    "mean_1_7": _forecast_mean_1_7,
    "min_1_7_less": _forecast_min_1_7_less,
    "median7_less": _forecast_median7_less,
    "min_1_7_level": _forecast_min_1_7_level,
}


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
