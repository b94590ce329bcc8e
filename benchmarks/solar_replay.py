"""Battery + solar: closed-loop replay of real Agile prices with a real irradiance year and a real
standard household load, against a perfect-foresight optimum.

Data (none fetched at run time; install with ``pip install pvlib demandlib``, benchmark-only):
- prices: Agile region A, ``../shared/data/agile/`` (half-hourly, 2018-02 to 2021-08);
- sun: pvlib's bundled TMY3 file ``pvlib/data/723170TYA.CSV`` (Greensboro NC, 36.1° N: a typical
  meteorological year of measured hourly GHI), turned into PV power on a flat 4 kWp array at a 0.86
  performance ratio. Its hour of the year is laid on the same hour of the replayed year. It is sunnier
  than the UK, so the battery has more sun to store than a British one would;
- load: demandlib's BDEW 2025 standard household profile ``H25`` (``demandlib/bdew/bdew_data/h25.csv``,
  15-minute values per month and day type), scaled to 3,500 kWh a year.

Every half hour the planner sees the prices published by then (day-ahead at 16:00 UK), the monthly
standard profile as its house load, and a solar forecast for 48 h (``Forecast``): **persistence** (every
day of the horizon gets the last complete day's sun, optionally blended with the mean of the last days
and the rest of today scaled by today's measured sun so far; never a value not yet observed) or
**perfect** (the sun as it comes). The first half hour of its plan is executed; the sun and the load as
they really are decide the grid flow. Battery runs follow the plan as a controller drives an inverter: the
part of a run the plan meant to take from the sun, or give to the house, follows the real sun and load
(self-consumption), only the grid part is forced; a hold pauses discharging only (spare sun still charges
the battery, as GivTCP's tempPauseDischarge does). Import and export are metered apart.

The reference is one LP over the period with everything known, on the planner's own slot model: the
convex slot cost of changing the stored energy (import at the import price, export at the export price,
its convex envelope where a price is below the export price: time-sharing, never buying and selling at
once), from 50 % to the replay's own end state (so the two are compared on the same stored energy).
Reported per period: the share of the optimum's savings over no battery that the planner captures, and
**wasted** kWh: grid energy bought above the export price that was still in the battery (never needed in
between) when the full battery then spilled sun to the grid: energy bought that the sun would have given.

    .venv/bin/python -m benchmarks.solar_replay [--start 2020-01-01 ... --days 365 | --years [--only Y]]
        [--export-p 5] [--weight W ...] [--alpha A ...] [--avg-days N] [--today-prior P ...]
        [--sun-high N ...] [--sun-high-x M ...] [--jobs 2]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import itertools
import math
import multiprocessing
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from kraken2mqtt.forecast.measured_sun import today_scale
from kraken2mqtt.forecast.sun_history import blended_day
from kraken2mqtt.planner import (
    Battery,
    BatteryModel,
    BatteryState,
    LoadProfile,
    PlanInputs,
    Tariff,
    TariffSlot,
    make_plan,
)
from kraken2mqtt.planner.model import SolarSlot

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT.parent / "shared" / "data" / "agile" / "csv_agile_A_Eastern_England.csv"
LONDON = ZoneInfo("Europe/London")
SLOT = 1800.0
HISTORY = 8 * 48
EXPORT_P = 15.0
KWP, PR = 4.0, 0.86
ANNUAL_KWH = 3500.0
BAT = BatteryModel(capacity_kwh=10.0, max_charge_kw=5.0, max_discharge_kw=5.0)
ETA = 0.95


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{package} is not installed: pip install pvlib demandlib (benchmark-only)")
    return Path(spec.origin).parent.joinpath(*parts)


def tmy_pv_kw(kwp: float) -> list[float]:
    """8760 hourly PV powers (kW, hour h = [h, h+1) of the year) from the TMY3 file's GHI."""
    path = _package_file("pvlib", "data", "723170TYA.CSV")
    rows = list(csv.reader(path.open()))[2:]
    # TMY3 hours are hour-ending local standard time: row i covers [i, i+1) of the year.
    return [kwp * PR * float(r[4]) / 1000 for r in rows[:8760]]


def h25_profiles() -> dict[tuple[int, str], list[float]]:
    """(month, day type) → 48 half-hour mean powers in kW per kWh of the profile (unscaled)."""
    path = _package_file("demandlib", "bdew", "bdew_data", "h25.csv")
    rows = list(csv.reader(path.open()))
    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
              "Oktober", "November", "Dezember"]  # fmt: skip
    out: dict[tuple[int, str], list[float]] = {}
    for col in range(1, len(rows[0])):
        month = months.index(rows[0][col]) + 1
        kind = rows[1][col]
        quarter = [float(r[col]) for r in rows[2:98]]
        out[(month, kind)] = [(quarter[2 * i] + quarter[2 * i + 1]) * 2 for i in range(48)]  # kWh/15min → kW
    return out


def day_kind(d: date) -> str:
    return "SA" if d.weekday() == 5 else "FT" if d.weekday() == 6 else "WT"


@dataclass
class World:
    starts: list[float]
    import_p: list[float]
    solar_kwh: list[float]
    load_kwh: list[float]
    month_profile: dict[int, LoadProfile]
    export_p: float
    kwp: float
    price_slots: tuple[TariffSlot, ...] = ()

    def __post_init__(self) -> None:
        self.price_slots = tuple(
            TariffSlot(
                datetime.fromtimestamp(t, UTC), datetime.fromtimestamp(t + SLOT, UTC), p, self.export_p
            )
            for t, p in zip(self.starts, self.import_p, strict=True)
        )

    def index(self, t: float) -> int:
        return round((t - self.starts[0]) / SLOT)


def load_world(prices: Path, kwp: float = KWP, export_p: float = EXPORT_P) -> World:
    starts, imp = [], []
    with prices.open(newline="") as f:
        for row in csv.reader(f):
            starts.append(datetime.fromisoformat(row[0].replace("Z", "+00:00")).timestamp())
            imp.append(float(row[4]))
    pv = tmy_pv_kw(kwp)
    profiles = h25_profiles()
    # Scale the profile to ANNUAL_KWH over a whole (non-leap) year of day types.
    year_kwh = 0.0
    d = date(2019, 1, 1)
    while d.year == 2019:
        year_kwh += sum(profiles[(d.month, day_kind(d))]) * 0.5
        d += timedelta(days=1)
    scale = ANNUAL_KWH / year_kwh
    solar, load = [], []
    for t in starts:
        utc = datetime.fromtimestamp(t, UTC)
        hour_of_year = min(8759, (utc.timetuple().tm_yday - 1) * 24 + utc.hour)
        solar.append(pv[hour_of_year] * 0.5)
        local = datetime.fromtimestamp(t, LONDON)
        load.append(
            profiles[(local.month, day_kind(local.date()))][local.hour * 2 + local.minute // 30] * scale * 0.5
        )
    month_profile = {
        m: LoadProfile(
            tuple(sum(profiles[(m, k)][i] * w for k, w in (("WT", 5), ("SA", 1), ("FT", 1))) / 7 * scale
                  for i in range(48)),
            "Europe/London",
        )
        for m in range(1, 13)
    }  # fmt: skip
    return World(starts, imp, solar, load, month_profile, export_p, kwp)


def published_until(t: float) -> float:
    local = datetime.fromtimestamp(t, LONDON)
    day = local.date() + timedelta(days=1) if local.hour >= 16 else local.date()
    return datetime(day.year, day.month, day.day, 23, 0, tzinfo=LONDON).timestamp()


def bill(g: float, imp: float, exp: float) -> float:
    return imp * g if g >= 0 else exp * g


@dataclass(frozen=True)
class Forecast:
    """The solar forecast the planner sees. ``perfect``: the sun as it comes. ``persistence``: the last
    complete day's sun for every day of the horizon (never a value not yet observed), blended with the
    mean of the last ``days`` days (``alpha``: yesterday's share), the rest of today scaled by today's
    measured sun so far (``today_prior`` kWh: forecast.measured_sun.today_scale; None: no scale), all times
    ``weight`` (the share of the forecast the plan counts on)."""

    kind: str = "persistence"
    weight: float = 1.0
    alpha: float = 1.0
    days: int = 7
    today_prior: float | None = None
    high_days: int = 0  # grid-charge guard: the optimistic sun is each half hour's max of these days
    high_x: float = 0.0  # or (if > 0) the forecast before ``weight``, times this margin
    high_m: float = 1.0  # the N-day maximum times this margin
    high_load: float = 1.0  # the guard counts on this share of the planned house load (the rest as sun)
    known_prices: bool = False  # diagnosis: the planner sees the real prices of its whole horizon
    known_load: bool = False  # diagnosis: the planner sees the next 24 h of the real house load
    #: An idle slot pauses charging too (GivTCP's PauseBoth): the sun the plan meant to export is exported.
    idle_exports: bool = False
    horizon_h: float = 48.0  # the planner's horizon (forecasts and, with known_prices, prices cover it)

    @property
    def label(self) -> str:
        if self.kind == "perfect":
            return "perfect" + " +P" * self.known_prices + " +L" * self.known_load + " +X" * self.idle_exports
        out = f"persist w{self.weight:g}"
        if self.alpha < 1.0:
            out += f" a{self.alpha:g}/{self.days}d"
        if self.today_prior is not None:
            out += f" t{self.today_prior:g}"
        if self.high_days:
            out += f" g{self.high_days}"
        if self.high_x:
            out += f" gx{self.high_x:g}"
        if self.high_m != 1.0:
            out += f" m{self.high_m:g}"
        if self.high_load != 1.0:
            out += f" l{self.high_load:g}"
        return out + " +P" * self.known_prices + " +L" * self.known_load + " +X" * self.idle_exports


def sun_forecast(w: World, k: int, fc: Forecast) -> tuple[SolarSlot, ...]:
    """The 48 h solar forecast at slot ``k``: per half hour, kWh."""
    horizon = range(k, min(k + int(fc.horizon_h * 2), len(w.starts)))
    if fc.kind == "perfect":
        values = [w.solar_kwh[i] for i in horizon]
    else:
        # The sun of this data set is laid on UTC hours: days are UTC days.
        kd = k - int(w.starts[k] % 86400) // int(SLOT)  # today's first slot
        back = range(1, (fc.days if fc.alpha < 1.0 else 1) + 1)
        profile = blended_day([w.solar_kwh[kd - 48 * n : kd - 48 * (n - 1)] for n in back], fc.alpha)
        values = [profile[(i - kd) % 48] for i in horizon]
        if fc.today_prior is not None:
            scale = today_scale(sum(w.solar_kwh[kd:k]), sum(profile[: k - kd]), fc.today_prior)
            values = [v * scale if i < kd + 48 else v for v, i in zip(values, horizon, strict=True)]
    return tuple(
        SolarSlot(
            datetime.fromtimestamp(w.starts[i], UTC),
            datetime.fromtimestamp(w.starts[i] + SLOT, UTC),
            fc.weight * v,
        )
        for v, i in zip(values, horizon, strict=True)
    )


def sun_high(w: World, k: int, fc: Forecast) -> tuple[SolarSlot, ...]:
    """The optimistic sun for the planner's grid-charge guard: every day of the horizon gets each half
    hour's maximum over the last ``high_days`` complete days (observed sun only); or, with ``high_x``,
    the forecast before its weight, times ``high_x``."""
    if fc.kind == "perfect":
        return ()
    if fc.high_x > 0:
        unweighted = replace(fc, weight=1.0, high_x=0.0)
        return tuple(replace(s, kwh=s.kwh * fc.high_x) for s in sun_forecast(w, k, unweighted))
    if not fc.high_days:
        return ()
    kd = k - int(w.starts[k] % 86400) // int(SLOT)
    peak = [max(w.solar_kwh[kd - 48 * n + j] for n in range(1, fc.high_days + 1)) for j in range(48)]
    out = []
    for i in range(k, min(k + int(fc.horizon_h * 2), len(w.starts))):
        v = peak[(i - kd) % 48] * fc.high_m
        if v > 0.0 and fc.high_load != 1.0:  # less house load under the sun: more of it to store
            local = datetime.fromtimestamp(w.starts[i], LONDON)
            v += (
                (1.0 - fc.high_load)
                * w.month_profile[local.month].kw[local.hour * 2 + local.minute // 30]
                * 0.5
            )
        start = datetime.fromtimestamp(w.starts[i], UTC)
        out.append(SolarSlot(start, datetime.fromtimestamp(w.starts[i] + SLOT, UTC), v))
    return tuple(out)


@dataclass
class Result:
    cost_p: float
    wasted_kwh: float
    cycles: float
    end_soc_kwh: float


def replay(w: World, k0: int, k1: int, fc: Forecast) -> Result:
    soc = 50.0
    cost = 0.0
    discharged = 0.0
    wasted = 0.0
    grid_held = 0.0  # kWh stored from the grid above the export price, still in the battery
    for k in range(k0, k1):
        t = w.starts[k]
        known = min(
            k + int(fc.horizon_h * 2) if fc.known_prices else w.index(published_until(t)), len(w.starts)
        )
        lo = max(0, k - HISTORY)
        slots = w.price_slots[lo:known]
        sun = sun_forecast(w, k, fc)
        month = datetime.fromtimestamp(t, LONDON).month
        house = w.month_profile[month]
        if fc.known_load and k + 48 <= len(w.starts):
            local = datetime.fromtimestamp(t, LONDON)
            j0 = (
                local.hour * 2 + local.minute // 30
            )  # the profile's slot j holds the real load of its next time
            house = LoadProfile(tuple(w.load_kwh[k + (j - j0) % 48] * 2 for j in range(48)), "Europe/London")
        plan = make_plan(
            PlanInputs(
                now=datetime.fromtimestamp(t, UTC),
                tariff=Tariff(slots),
                devices=(Battery("bat", BAT, BatteryState(soc)),),
                house_load=house,
                solar=sun,
                solar_high=sun_high(w, k, fc),
                horizon_h=fc.horizon_h,
            )
        )
        # Execute the plan's first half hour run by run: import and export are metered apart, so a slot
        # that charges for part of the time and discharges for the rest is billed that way. Energy the
        # plan meant to take from the sun (or give to the house) follows the sun and the house as they
        # are, as an inverter's self-consumption mode does; only the grid part of a run is forced. A
        # hold pauses discharging only: spare sun still charges the battery (GivTCP's tempPauseDischarge).
        t_end = datetime.fromtimestamp(t + SLOT, UTC)
        net_house = w.load_kwh[k] - w.solar_kwh[k]
        local = datetime.fromtimestamp(t + SLOT / 2, LONDON)
        planned_net = house.kw[local.hour * 2 + local.minute // 30] * 0.5 - sun[0].kwh
        for iv in plan.device("bat").intervals:
            if iv.start >= t_end:
                break
            a = max(iv.start, datetime.fromtimestamp(t, UTC))
            b = min(iv.end, t_end)
            part = (b - a).total_seconds() / SLOT
            e = iv.grid_kwh * (b - a) / (iv.end - iv.start)
            limit = BAT.max_charge_kw * 0.5 * part
            if e > 0 and planned_net < 0:
                from_sun = min(e, -planned_net * part)
                e = e - from_sun + min(max(0.0, -net_house * part), limit)
            elif e < 0 and planned_net > 0:
                to_house = max(e, -planned_net * part)
                e = e - to_house - min(max(0.0, net_house * part), limit)
            elif e == 0 and not fc.idle_exports:
                e = min(max(0.0, -net_house * part), limit)
            e = max(-limit, min(limit, e))
            # The battery cannot store more than it has room for, nor give more than it holds.
            room = (BAT.capacity_kwh * (100 - soc) / 100) / ETA
            held = BAT.capacity_kwh * soc / 100 * ETA
            e = min(e, room) if e >= 0 else max(e, -held)
            soc = min(100.0, max(0.0, soc + (e * ETA if e >= 0 else e / ETA) / BAT.capacity_kwh * 100))
            g = net_house * part + e
            cost += bill(g, w.import_p[k], w.export_p)
            if e < 0:
                discharged += -e
            # Wasted: grid energy bought above the export price that was still in the battery (never
            # needed before) when the full battery spilled sun: buying that much less changes nothing
            # else and the sun would have filled its place.
            if e > 0 and g > 0 and w.import_p[k] > w.export_p:
                grid_held += min(e, g) * ETA
            grid_held = min(grid_held, BAT.capacity_kwh * soc / 100)
            if soc >= 99.0 and g < 0 and net_house < 0:
                spill = min(-g, -net_house * part) * ETA
                waste = min(grid_held, spill)
                wasted += waste / ETA
                grid_held -= waste
    return Result(cost, wasted, discharged / BAT.capacity_kwh, BAT.capacity_kwh * soc / 100)


def baseline(w: World, k0: int, k1: int) -> float:
    return sum(bill(w.load_kwh[k] - w.solar_kwh[k], w.import_p[k], w.export_p) for k in range(k0, k1))


def _lower_hull(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    hull: list[tuple[float, float]] = []
    for p in sorted(set(pts)):
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 1e-12:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def slot_hull(net: float, imp: float, exp: float) -> list[tuple[float, float]]:
    """Vertices of the convex slot cost of changing the stored energy by x (the planner's own model,
    planner/battery.py): the bill of the slot's net flow, import at the import price and export at the
    export price; where that is not convex (a price below the export price) its convex envelope, which
    time-sharing the slot between charging and discharging realises. No simultaneous buying and selling."""
    pk = BAT.max_charge_kw * 0.5
    base = bill(net, imp, exp)
    pts = [
        (-pk / ETA, bill(net - pk, imp, exp) - base),
        (0.0, 0.0),
        (pk * ETA, bill(net + pk, imp, exp) - base),
    ]
    if -pk < -net < 0.0:
        pts.append((-net / ETA, -base))
    if 0.0 < -net < pk:
        pts.append((-net * ETA, -base))
    return _lower_hull(pts)


def optimum(w: World, k0: int, k1: int, end_kwh: float) -> float:
    """One LP over the period with every price, sun and load known, on the convex slot cost (slot_hull),
    starting at 50 % and ending at ``end_kwh`` (the replay's own end: the two are compared on the same
    stored energy). Variables per slot: stored change x, slot cost y, stored energy s."""
    n = k1 - k0
    rows, cols, vals, b_ub = [], [], [], []
    lo, hi, const = np.zeros(n), np.zeros(n), 0.0
    r = 0
    for j, k in enumerate(range(k0, k1)):
        net = w.load_kwh[k] - w.solar_kwh[k]
        const += bill(net, w.import_p[k], w.export_p)
        hull = slot_hull(net, w.import_p[k], w.export_p)
        lo[j], hi[j] = hull[0][0], hull[-1][0]
        for (x1, y1), (x2, y2) in itertools.pairwise(hull):
            slope = (y2 - y1) / (x2 - x1)
            # y >= y1 + slope (x - x1)  <=>  slope x - y <= slope x1 - y1
            rows += [r, r]
            cols += [j, n + j]
            vals += [slope, -1.0]
            b_ub.append(slope * x1 - y1)
            r += 1
    a_ub = sparse.csr_matrix((vals, (rows, cols)), shape=(r, 3 * n))
    eye = sparse.identity(n, format="csr")
    shift = sparse.diags([np.ones(n - 1)], [-1], shape=(n, n), format="csr")
    a_eq = sparse.hstack([-eye, sparse.csr_matrix((n, n)), eye - shift], format="csr")  # s_k - s_{k-1} = x_k
    b_eq = np.zeros(n)
    b_eq[0] = BAT.capacity_kwh * 0.5
    cost = np.concatenate([np.zeros(n), np.ones(n), np.zeros(n)])
    bounds = [(lo[j], hi[j]) for j in range(n)] + [(None, None)] * n + [(0.0, BAT.capacity_kwh)] * n
    bounds[-1] = (end_kwh, end_kwh)
    res = linprog(cost, A_ub=a_ub, b_ub=np.asarray(b_ub), A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise SystemExit(f"reference LP failed: {res.message}")
    return float(res.fun) + const


def span_slots(w: World, start: date, days: int) -> tuple[int, int]:
    t0 = datetime(start.year, start.month, start.day, tzinfo=LONDON).timestamp()
    k0 = max(HISTORY, w.index(t0))
    return k0, min(len(w.starts) - 96, k0 + days * 48)


_W: World | None = None


def _replay_task(task: tuple[int, int, Forecast]) -> Result:
    assert _W is not None
    return replay(_W, *task)


def run(
    w: World, spans: Sequence[tuple[date, int]], forecasts: Sequence[Forecast], jobs: int = 2
) -> list[str]:
    """Replay every (span, forecast), ``jobs`` at a time; one line each, against its pinned optimum."""
    global _W
    _W = w
    tasks = [(*span_slots(w, s, d), fc) for s, d in spans for fc in forecasts]
    if jobs > 1 and len(tasks) > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            results = pool.map(_replay_task, tasks, chunksize=1)
    else:
        results = [_replay_task(t) for t in tasks]
    lines = []
    for (k0, k1, fc), r in zip(tasks, results, strict=True):
        base, opt = baseline(w, k0, k1), optimum(w, k0, k1, r.end_soc_kwh)
        share = (base - r.cost_p) / (base - opt) if base > opt else math.nan
        lines.append(
            f"{datetime.fromtimestamp(w.starts[k0], LONDON):%Y-%m-%d} {(k1 - k0) / 48:>5.0f}d {fc.label:<22}"
            f" {base / 100:>9.2f} {r.cost_p / 100:>9.2f} {opt / 100:>9.2f} {share * 100:>7.2f}%"
            f" {r.wasted_kwh:>8.1f} {r.cycles / ((k1 - k0) / 48):>7.2f} {r.end_soc_kwh:>6.1f}"
        )
        print(lines[-1], flush=True)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prices", type=Path, default=PRICES)
    ap.add_argument("--start", type=date.fromisoformat, nargs="+", default=[date(2020, 1, 1)])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--years", action="store_true", help="every year of the price file, one row pair each")
    ap.add_argument("--only", type=int, nargs="*", help="with --years: these years only")
    ap.add_argument("--kwp", type=float, default=KWP, help="array size (0: the battery alone)")
    ap.add_argument("--export-p", type=float, default=EXPORT_P, help="export price, p/kWh")
    ap.add_argument("--weight", type=float, nargs="+", default=[1.0], help="share of the forecast counted on")
    ap.add_argument("--alpha", type=float, nargs="+", default=[1.0], help="yesterday's share in the blend")
    ap.add_argument("--avg-days", type=int, default=7, help="days of the blend's mean")
    ap.add_argument(
        "--today-prior",
        type=float,
        nargs="+",
        default=None,
        help="scale today by the measured sun (kWh prior)",
    )
    ap.add_argument(
        "--sun-high",
        type=int,
        nargs="+",
        default=[0],
        help="grid-charge guard: optimistic sun = max of the last N days (0: no guard)",
    )
    ap.add_argument(
        "--sun-high-x",
        type=float,
        nargs="*",
        default=[],
        help="grid-charge guard: optimistic sun = the unweighted forecast times M (extra rows)",
    )
    ap.add_argument(
        "--sun-high-m", type=float, nargs="+", default=[1.0], help="grid-charge guard: the N-day max times M"
    )
    ap.add_argument(
        "--guard-load",
        type=float,
        nargs="+",
        default=[1.0],
        help="grid-charge guard: the share of the planned house load it counts on",
    )
    ap.add_argument("--forecast", choices=["persistence", "perfect", "both"], default="both")
    ap.add_argument("--horizon-h", type=float, default=48.0, help="the planner's horizon, hours")
    ap.add_argument(
        "--idle-exports",
        action="store_true",
        help="an idle slot pauses charging too (GivTCP's PauseBoth): planned export of sun is exported",
    )
    ap.add_argument(
        "--known",
        nargs="*",
        choices=["prices", "load"],
        default=[],
        help="diagnosis: the planner sees the real prices of its horizon / the next 24 h of the real load",
    )
    ap.add_argument("--short", action="store_true", help="three weeks from each --start (a quick check)")
    ap.add_argument("--jobs", type=int, default=2, help="replays run at once")
    args = ap.parse_args(argv)
    if not args.prices.exists():
        print(f"price file not found: {args.prices} (use --prices)", file=sys.stderr)
        return 2
    w = load_world(args.prices, args.kwp, args.export_p)
    print(f"Battery {BAT.capacity_kwh:g} kWh / {BAT.max_charge_kw:g} kW, flat {w.kwp:g} kWp array "
          f"(pvlib TMY3 723170TYA), BDEW H25 load {ANNUAL_KWH:g} kWh/a, export {w.export_p:g}p")  # fmt: skip
    print(f"{'from':<10} {'days':>6} {'forecast':<22} {'no batt £':>9} {'planner £':>9} {'optimum £':>9}"
          f" {'capture':>8} {'wasted':>8} {'cyc/day':>7} {'end kWh':>7}")  # fmt: skip
    if args.years:
        first = datetime.fromtimestamp(w.starts[HISTORY], LONDON).date()
        spans = [(first, (date(2019, 1, 1) - first).days)]
        spans += [(date(y, 1, 1), 365) for y in (2019, 2020, 2021)]
        if args.only:
            spans = [s for s in spans if s[0].year in args.only]
    else:
        spans = [(s, 21 if args.short else args.days) for s in args.start]
    forecasts: list[Forecast] = []
    if args.forecast in ("persistence", "both"):
        priors = args.today_prior if args.today_prior is not None else [None]
        forecasts += [
            Forecast("persistence", wt, a, args.avg_days, p, g, high_m=m, high_load=ld)
            for wt in args.weight
            for a in args.alpha
            for p in priors
            for g in args.sun_high
            for m in (args.sun_high_m if g else [1.0])
            for ld in (args.guard_load if g else [1.0])
        ]
        forecasts += [
            Forecast("persistence", wt, a, args.avg_days, p, 0, x)
            for wt in args.weight
            for a in args.alpha
            for p in priors
            for x in args.sun_high_x
        ]
    if args.forecast in ("perfect", "both"):
        forecasts.append(Forecast("perfect"))
    if args.known or args.idle_exports or args.horizon_h != 48.0:
        forecasts = [
            replace(
                f,
                known_prices="prices" in args.known,
                known_load="load" in args.known,
                idle_exports=args.idle_exports,
                horizon_h=args.horizon_h,
            )
            for f in forecasts
        ]
    run(w, spans, forecasts, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
