"""Closed-loop replay of historic Agile prices against a perfect-foresight optimum.

Every half hour the planner is called with only the prices published by then (day-ahead prices appear
at 16:00 UK time and run to 23:00 the next day), the first half hour of its plan is executed on simulated
devices, and the loop moves on. The optimum is one LP over the whole period with every price known
(HiGHS via scipy; benchmark-only dependency). Reported: the share of the optimum's savings over a naive
baseline (charge on plug-in / no battery / thermostat at the comfort floor) that the planner captures.

    .venv/bin/python -m benchmarks.planner.replay [--days 365] [--start 2020-01-01] [--case all]
    .venv/bin/python -m benchmarks.planner.replay --short            # three weeks, well under a minute
    .venv/bin/python -m benchmarks.planner.replay --case battery --year 2019 [--forecast median7]

Beside the cost shares it prints what the devices did: battery cycles and starts per day, EV charging
runs per night, heat-pump starts per day; for the battery the known-prices ceiling (the same loop given
the real prices of the whole horizon instead of the forecast).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.planner.reference import RefBattery, RefEV, RefHeatPump, RefSession, solve_reference
from kraken2mqtt.planner import (
    EV,
    Battery,
    BatteryModel,
    BatteryState,
    Comfort,
    ComfortBand,
    EVModel,
    EVState,
    EVTarget,
    GridLimits,
    HeatPump,
    HeatPumpModel,
    HeatPumpState,
    LoadProfile,
    Plan,
    PlanInputs,
    PlannedDevice,
    Tariff,
    TariffSlot,
    TemperaturePoint,
    make_plan,
)
from kraken2mqtt.planner.model import DEFAULT_EV_MIN_RUN_MIN, DEFAULT_FORECAST_RULE
from kraken2mqtt.planner.slots import FORECAST_RULES

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PRICES = ROOT.parent / "shared" / "data" / "agile" / "csv_agile_A_Eastern_England.csv"
LONDON = ZoneInfo("Europe/London")
SLOT = 1800.0
HISTORY_SLOTS = 8 * 48  # past prices the planner sees (its forecast of unpublished slots uses them)

# A typical UK house, kW per local half-hour (≈ 9.5 kWh/day).
HOUSE_KW = (
    0.25, 0.22, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.22, 0.25,
    0.35, 0.5, 0.6, 0.55, 0.45, 0.4, 0.35, 0.35, 0.35, 0.35, 0.4, 0.45,
    0.5, 0.45, 0.4, 0.35, 0.35, 0.35, 0.4, 0.45, 0.6, 0.8, 1.1, 1.2,
    1.1, 0.9, 0.75, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.28,
)  # fmt: skip
PROFILE = LoadProfile(HOUSE_KW, "Europe/London")

EV_MODEL = EVModel(capacity_kwh=60.0, max_kw=7.4, efficiency=0.9)
EV_ARRIVE_PCT, EV_TARGET_PCT = 40.0, 80.0
BAT_MODEL = BatteryModel(10.0, 5.0, 5.0, 0.95, 0.95)
HP_MODEL = HeatPumpModel(heat_loss_kw_per_k=0.15, thermal_mass_kwh_per_k=10.0, max_kw=3.0)
DAY_C, NIGHT_C, MAX_C = 19.5, 17.0, 22.0


def outdoor_c(t: float) -> float:
    """A deterministic UK-like climate: seasonal swing plus a daily one (coldest ~05:00)."""
    d = datetime.fromtimestamp(t, UTC)
    doy = d.timetuple().tm_yday + d.hour / 24.0
    seasonal = 10.5 - 7.0 * math.cos(2 * math.pi * (doy - 20) / 365.0)
    daily = -3.0 * math.cos(2 * math.pi * (d.hour + d.minute / 60.0 - 5.0) / 24.0)
    return seasonal + daily


def comfort_floor(t: float) -> float:
    h = datetime.fromtimestamp(t, LONDON).hour
    return NIGHT_C if (h >= 23 or h < 6) else DAY_C


def published_until(t: float, hour: int = 16) -> float:
    """End of the last published Agile slot at instant t (day-ahead prices appear at 16:00 UK; ``hour``
    moves that, e.g. to when the day-ahead auction they are computed from reports)."""
    local = datetime.fromtimestamp(t, LONDON)
    day = local.date() + timedelta(days=1) if local.hour >= hour else local.date()
    return datetime(day.year, day.month, day.day, 23, 0, tzinfo=LONDON).timestamp()


def ev_plugged(t: float) -> tuple[bool, float | None]:
    """(plugged in, deadline) — plugged in from 18:00 until 07:00 local."""
    local = datetime.fromtimestamp(t, LONDON)
    if local.hour >= 18:
        d = local.date() + timedelta(days=1)
    elif local.hour < 7:
        d = local.date()
    else:
        return False, None
    return True, datetime(d.year, d.month, d.day, 7, 0, tzinfo=LONDON).timestamp()


def is_plug_in(t: float) -> bool:
    local = datetime.fromtimestamp(t, LONDON)
    return local.hour == 18 and local.minute == 0


@dataclass
class Data:
    starts: list[float]
    prices: list[float]
    slots: tuple[TariffSlot, ...]
    temps: tuple[TemperaturePoint, ...]

    def index(self, t: float) -> int:
        return round((t - self.starts[0]) / SLOT)


def load_prices(path: Path) -> Data:
    """An Agile price file: energy-stats.uk's rows (start UTC, local time, region code, region name,
    p/kWh incl. VAT) or two columns ``timestamp,price`` (with that header; as in wyvernp/agile_predictor)."""
    starts: list[float] = []
    prices: list[float] = []
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if not row or row[0] == "timestamp":
                continue
            t = datetime.fromisoformat(row[0].replace("Z", "+00:00")).timestamp()
            if starts and abs(t - starts[-1] - SLOT) > 1:
                raise SystemExit(f"{path}: gap before {row[0]}")
            starts.append(t)
            prices.append(float(row[4] if len(row) >= 5 else row[1]))
    slots = tuple(
        TariffSlot(datetime.fromtimestamp(t, UTC), datetime.fromtimestamp(t + SLOT, UTC), p)
        for t, p in zip(starts, prices, strict=True)
    )
    temps = tuple(TemperaturePoint(datetime.fromtimestamp(t, UTC), outdoor_c(t + SLOT / 2)) for t in starts)
    return Data(starts, prices, slots, temps)


@dataclass
class Totals:
    cost_p: float = 0.0
    plan_s: list[float] = field(default_factory=list)
    ev_short_kwh: float = 0.0
    comfort_short_ch: float = 0.0  # °C·hours below the floor
    bat_out_kwh: float = 0.0  # stored energy discharged
    bat_starts: int = 0  # idle/other direction → charging or discharging
    ev_runs: list[int] = field(default_factory=list)  # charging runs per night
    hp_starts: int = 0
    wear_p: float = 0.0
    bat_end_kwh: float | None = None


@dataclass(frozen=True)
class Options:
    """How the planner is run in the replay."""

    import_kw: float | None = None
    horizon_h: float = 48.0
    forecast: bool = True
    forecast_rule: str = DEFAULT_FORECAST_RULE
    joint_rounds: int | None = None
    cycle_cost_p: float = 0.0
    ev_min_run_min: float = DEFAULT_EV_MIN_RUN_MIN
    known_prices: bool = False  # ceiling: the real prices of the whole horizon are known
    publish_hour: int = 16  # local hour at which tomorrow's prices become known


def house_kwh(t: float) -> float:
    local = datetime.fromtimestamp(t + SLOT / 2, LONDON)
    return HOUSE_KW[local.hour * 2 + local.minute // 30] * 0.5


def hp_step(temp: float, kwh: float, t: float) -> float:
    m = HP_MODEL
    to = outdoor_c(t + SLOT / 2)
    cop = min(m.cop_max, max(m.cop_min, m.cop_at_7c + m.cop_per_k * (to - 7.0)))
    a = 1.0 - m.heat_loss_kw_per_k * 0.5 / m.thermal_mass_kwh_per_k
    return a * temp + (m.heat_loss_kw_per_k * 0.5 * to + cop * kwh) / m.thermal_mass_kwh_per_k


def hp_thermostat_kwh(temp: float, t: float) -> float:
    """Baseline: heat just enough to hold the comfort floor at the end of the slot."""
    floor = comfort_floor(t + SLOT)
    free = hp_step(temp, 0.0, t)
    if free >= floor:
        return 0.0
    per_kwh = hp_step(temp, 1.0, t) - free
    return min(HP_MODEL.max_kw * 0.5, (floor - free) / per_kwh)


def nightly_bands(t0: float, t1: float) -> tuple[ComfortBand, ...]:
    out = []
    d = datetime.fromtimestamp(t0, LONDON).date() - timedelta(days=1)
    while True:
        s = datetime(d.year, d.month, d.day, 23, 0, tzinfo=LONDON)
        if s.timestamp() > t1:
            break
        e = s + timedelta(hours=7)
        out.append(ComfortBand(s.astimezone(UTC), e.astimezone(UTC), NIGHT_C, MAX_C))
        d += timedelta(days=1)
    return tuple(out)


def replay(data: Data, k0: int, k1: int, case: str, opt: Options, progress: bool = False) -> Totals:
    want_ev, want_bat, want_hp = case in ("ev", "joint"), case in ("battery", "joint"), case == "joint"
    tot = Totals()
    ev_soc = EV_ARRIVE_PCT
    bat_soc = 50.0
    temp = DAY_C
    bat_model = replace(BAT_MODEL, cycle_cost_p=opt.cycle_cost_p)
    ev_model = replace(EV_MODEL, min_run_minutes=opt.ev_min_run_min)
    horizon_slots = int(opt.horizon_h * 2)
    bat_dir = 0
    ev_on = hp_on = False
    for k in range(k0, k1):
        t = data.starts[k]
        devices: list[PlannedDevice] = []
        plugged, deadline = ev_plugged(t)
        if want_ev:
            if is_plug_in(t):
                ev_soc = EV_ARRIVE_PCT
                tot.ev_runs.append(0)
                ev_on = False
            if plugged and deadline is not None:
                dl = datetime.fromtimestamp(deadline, UTC)
                devices.append(EV("ev", ev_model, EVState(ev_soc), EVTarget(dl, soc_pct=EV_TARGET_PCT)))
        if want_bat:
            devices.append(Battery("bat", bat_model, BatteryState(bat_soc)))
        if want_hp:
            comfort = Comfort(DAY_C, MAX_C, nightly_bands(t, t + opt.horizon_h * 3600))
            devices.append(HeatPump("hp", HP_MODEL, HeatPumpState(temp), comfort))
        if opt.known_prices:
            known = min(k + horizon_slots, len(data.slots))
        else:
            known = min(data.index(published_until(t, opt.publish_hour)), len(data.slots))
        lo = max(0, k - HISTORY_SLOTS)
        hp_temps = data.temps[k : k + horizon_slots + 1] if want_hp else ()
        inputs = PlanInputs(
            now=datetime.fromtimestamp(t, UTC),
            tariff=Tariff(data.slots[lo:known]),
            devices=tuple(devices),
            house_load=PROFILE,
            outdoor=hp_temps,
            grid=GridLimits(import_kw=opt.import_kw),
            horizon_h=opt.horizon_h,
            forecast_missing_prices=opt.forecast,
            forecast_rule=opt.forecast_rule,
            joint_rounds=opt.joint_rounds,
        )
        c0 = time.perf_counter()
        plan = make_plan(inputs)
        tot.plan_s.append(time.perf_counter() - c0)
        # execute the first half hour
        grid = house_kwh(t)
        e_ev = _energy(plan, "ev", t) if want_ev and plugged else 0.0
        e_bat = _battery_energy(plan, t) if want_bat else (0.0, 0.0)
        e_hp = _energy(plan, "hp", t) if want_hp else 0.0
        grid += e_ev + e_bat[0] + e_hp
        tot.cost_p += data.prices[k] * grid if grid >= 0 else 0.0
        if e_bat[0] < 0:
            tot.wear_p += opt.cycle_cost_p * -e_bat[0]
            tot.bat_out_kwh += -e_bat[1]
        direction = 0 if abs(e_bat[0]) < 1e-3 else (1 if e_bat[0] > 0 else -1)
        tot.bat_starts += direction != 0 and direction != bat_dir
        bat_dir = direction
        if want_ev and plugged:
            on = e_ev > 1e-3
            if on and not ev_on and tot.ev_runs:
                tot.ev_runs[-1] += 1
            ev_on = on
        on = e_hp > 1e-3
        tot.hp_starts += on and not hp_on
        hp_on = on
        ev_soc = min(100.0, ev_soc + e_ev * EV_MODEL.efficiency / EV_MODEL.capacity_kwh * 100.0)
        if want_ev and plugged and deadline is not None and abs(t + SLOT - deadline) < 1:
            tot.ev_short_kwh += max(0.0, EV_TARGET_PCT - ev_soc) / 100 * EV_MODEL.capacity_kwh
        bat_soc = min(100.0, max(0.0, bat_soc + e_bat[1] / BAT_MODEL.capacity_kwh * 100.0))
        if want_hp:
            temp = hp_step(temp, e_hp, t)
            tot.comfort_short_ch += max(0.0, comfort_floor(t + SLOT) - temp) * 0.5
        if progress and (k - k0) % 1000 == 0:
            print(f"  {case}: {k - k0}/{k1 - k0}", file=sys.stderr, flush=True)
    tot.cost_p += tot.wear_p
    tot.bat_end_kwh = bat_soc / 100.0 * BAT_MODEL.capacity_kwh
    return tot


def _energy(plan: Plan, dev: str, t: float) -> float:
    t_end = datetime.fromtimestamp(t + SLOT, UTC)
    total = 0.0
    for iv in plan.device(dev).intervals:
        if iv.start >= t_end:
            break
        total += iv.grid_kwh * _share(iv.start, iv.end, t_end)
    return total


def _battery_energy(plan: Plan, t: float) -> tuple[float, float]:
    """(grid kWh, stored kWh change) of the battery's first half hour."""
    t_end = datetime.fromtimestamp(t + SLOT, UTC)
    grid = stored = 0.0
    for iv in plan.device("bat").intervals:
        if iv.start >= t_end:
            break
        e = iv.grid_kwh * _share(iv.start, iv.end, t_end)
        grid += e
        stored += e * BAT_MODEL.charge_efficiency if e >= 0 else e / BAT_MODEL.discharge_efficiency
    return grid, stored


def _share(a: datetime, b: datetime, end: datetime) -> float:
    if b <= end:
        return 1.0
    return max(0.0, (end - a).total_seconds()) / (b - a).total_seconds()


# ------------------------------------------------------------------------------------- baselines/optimum


def baseline(data: Data, k0: int, k1: int, case: str) -> float:
    """Charge on plug-in at full power, no battery, thermostat holding the comfort floor."""
    cost = 0.0
    ev_need = 0.0
    temp = DAY_C
    for k in range(k0, k1):
        t = data.starts[k]
        grid = house_kwh(t)
        if case in ("ev", "joint"):
            if is_plug_in(t):
                ev_need = (EV_TARGET_PCT - EV_ARRIVE_PCT) / 100 * EV_MODEL.capacity_kwh / EV_MODEL.efficiency
            if ev_plugged(t)[0]:
                e = min(EV_MODEL.max_kw * 0.5, ev_need)
                ev_need -= e
                grid += e
        if case == "joint":
            e = hp_thermostat_kwh(temp, t)
            temp = hp_step(temp, e, t)
            grid += e
        cost += data.prices[k] * grid
    return cost


def optimum(
    data: Data,
    k0: int,
    k1: int,
    case: str,
    import_kw: float | None,
    cycle_cost_p: float = 0.0,
    bat_end_kwh: float | None = None,
) -> float:
    """The perfect-foresight optimum; the battery ends where the replay's did (so neither gains from
    emptying it on the last day)."""
    n = k1 - k0
    starts = data.starts[k0:k1]
    prices = data.prices[k0:k1]
    house = [house_kwh(t) for t in starts]
    ev = bat = hp = None
    if case in ("ev", "joint"):
        sessions = []
        need = (EV_TARGET_PCT - EV_ARRIVE_PCT) / 100 * EV_MODEL.capacity_kwh / EV_MODEL.efficiency
        for i, t in enumerate(starts):
            if is_plug_in(t):
                deadline = ev_plugged(t)[1]
                assert deadline is not None
                last = min(n, i + round((deadline - t) / SLOT))
                if last - i >= 20:
                    sessions.append(RefSession(i, last, need))
        ev = RefEV(EV_MODEL.max_kw, sessions)
    if case in ("battery", "joint"):
        bat = RefBattery(
            10.0, 5.0, 0.95, 0.95, 5.0, 0.0, 10.0, 0.0, cycle_cost_p=cycle_cost_p, end_kwh=bat_end_kwh
        )
    if case == "joint":
        m = HP_MODEL
        outs = [outdoor_c(t + SLOT / 2) for t in starts]
        cops = [min(m.cop_max, max(m.cop_min, m.cop_at_7c + m.cop_per_k * (o - 7.0))) for o in outs]
        lo = [comfort_floor(t + SLOT) for t in starts]
        hp = RefHeatPump(
            m.heat_loss_kw_per_k, m.thermal_mass_kwh_per_k, m.max_kw, DAY_C, outs, cops, lo, [MAX_C] * n
        )
    ref = solve_reference([0.5] * n, prices, [0.0] * n, house, battery=bat, ev=ev, hp=hp, import_kw=import_kw)
    if ref.status != "optimal":
        raise SystemExit(f"reference LP failed: {ref.status}")
    return ref.cost_p


def _ev_sessions_planner_view(data: Data, k0: int, k1: int) -> tuple[int, int]:
    """Replay bounds trimmed so that EV sessions are whole (plug-in before, unplug after)."""
    while not is_plug_in(data.starts[k0]) and k0 < k1:
        k0 += 1
    while ev_plugged(data.starts[k1 - 1])[0] and k1 > k0:
        k1 -= 1
    return k0, k1


def run_case(
    data: Data,
    start: date,
    days: int,
    case: str,
    opt: Options,
    progress: bool = False,
    ceiling: bool = False,
) -> dict[str, float]:
    t0 = datetime(start.year, start.month, start.day, tzinfo=LONDON).timestamp()
    k0 = max(data.index(t0), HISTORY_SLOTS)
    k1 = min(len(data.starts), data.index(t0) + days * 48)
    if k0 >= k1:
        raise SystemExit("start date outside the price file")
    k0, k1 = _ev_sessions_planner_view(data, k0, k1)
    c0 = time.perf_counter()
    tot = replay(data, k0, k1, case, opt, progress)
    replay_s = time.perf_counter() - c0
    base = baseline(data, k0, k1, case)
    best = optimum(data, k0, k1, case, opt.import_kw, opt.cycle_cost_p, tot.bat_end_kwh)
    times = sorted(tot.plan_s)
    ndays = (k1 - k0) / 48
    out = {
        "days": ndays,
        "baseline_p": base,
        "planner_p": tot.cost_p,
        "optimum_p": best,
        "share": (base - tot.cost_p) / (base - best) if base > best else math.nan,
        "ev_short_kwh": tot.ev_short_kwh,
        "comfort_short_ch": tot.comfort_short_ch,
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
        "replay_s": replay_s,
        "bat_cycles_day": tot.bat_out_kwh / BAT_MODEL.capacity_kwh / ndays,
        "bat_starts_day": tot.bat_starts / ndays if case != "ev" else 0.0,
        "ev_runs_night": sum(tot.ev_runs) / len(tot.ev_runs) if tot.ev_runs else 0.0,
        "ev_runs_max": float(max(tot.ev_runs, default=0)),
        "hp_starts_day": tot.hp_starts / ndays,
        "wear_p": tot.wear_p,
        "ceiling": math.nan,
    }
    if ceiling:
        top = replay(data, k0, k1, case, replace(opt, known_prices=True), progress)
        best_top = optimum(data, k0, k1, case, opt.import_kw, opt.cycle_cost_p, top.bat_end_kwh)
        out["ceiling"] = (base - top.cost_p) / (base - best_top) if base > best_top else math.nan
    return out


TARGETS = {"ev": 0.999, "battery": 0.99, "joint": 0.97}
FIRST_DAY = date(2018, 2, 27)  # a week after the file's first price: the forecast needs a week of history


def year_span(year: int, data: Data) -> tuple[date, int]:
    """Start and length (days) of one calendar year of the file (2018 from its first week)."""
    start = max(date(year, 1, 1), FIRST_DAY)
    last = datetime.fromtimestamp(data.starts[-1], LONDON).date()
    end = min(date(year + 1, 1, 1), last)
    return start, (end - start).days


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--prices", type=Path, default=DEFAULT_PRICES, help="Agile CSV (see shared/data/README.md)"
    )
    ap.add_argument("--start", type=date.fromisoformat, default=date(2020, 1, 1))
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument(
        "--year", type=int, default=None, help="one calendar year of the file (overrides --start/--days)"
    )
    ap.add_argument("--short", action="store_true", help="three weeks from --start (default 2020-06-01)")
    ap.add_argument("--case", choices=["ev", "battery", "joint", "all"], default="all")
    ap.add_argument("--import-kw", type=float, default=None, help="grid import limit for the joint case")
    ap.add_argument("--horizon-h", type=float, default=48.0)
    ap.add_argument("--joint-rounds", type=int, default=None, help="PlanInputs.joint_rounds (default: auto)")
    ap.add_argument("--forecast", default=DEFAULT_FORECAST_RULE, choices=sorted(FORECAST_RULES))
    ap.add_argument("--cycle-cost", type=float, default=0.0, help="battery wear, p per kWh discharged")
    ap.add_argument("--ev-min-run", type=float, default=DEFAULT_EV_MIN_RUN_MIN, help="minutes")
    ap.add_argument(
        "--publish-hour", type=int, default=16, help="local hour tomorrow's prices are known (Agile: 16)"
    )
    ap.add_argument("--no-ceiling", action="store_true", help="skip the battery's known-prices ceiling")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if not args.prices.exists():
        print(f"price file not found: {args.prices} (use --prices)", file=sys.stderr)
        return 2
    data = load_prices(args.prices)
    start, days = args.start, args.days
    if args.year is not None:
        start, days = year_span(args.year, data)
    elif args.short:
        start = args.start if "--start" in (argv or sys.argv) else date(2020, 6, 1)
        days = 21
    cases = ["ev", "battery", "joint"] if args.case == "all" else [args.case]
    print(
        f"Closed-loop replay of {args.prices.name} from {start} for {days} days "
        f"(horizon {args.horizon_h:g} h, forecast {args.forecast}, cycle cost {args.cycle_cost:g}p/kWh, "
        f"EV min run {args.ev_min_run:g} min, import limit {args.import_kw or 'none'} for joint)"
    )
    print(
        f"{'case':<8} {'days':>5} {'baseline £':>11} {'planner £':>10} {'optimum £':>10} {'capture':>8} "
        f"{'ceiling':>8} {'target':>7} {'bat cyc/d':>9} {'bat st/d':>8} {'EV runs/night':>13} "
        f"{'HP st/d':>7} {'plan p50':>9} {'plan p99':>9} {'replay':>7}  notes"
    )
    ok = True
    for case in cases:
        opt = Options(
            import_kw=args.import_kw if case == "joint" else None,
            horizon_h=args.horizon_h,
            forecast_rule=args.forecast,
            joint_rounds=args.joint_rounds,
            cycle_cost_p=args.cycle_cost,
            ev_min_run_min=args.ev_min_run,
            publish_hour=args.publish_hour,
        )
        r = run_case(
            data, start, days, case, opt, args.progress, ceiling=case == "battery" and not args.no_ceiling
        )
        notes = []
        if r["ev_short_kwh"] > 1e-6:
            notes.append(f"EV short {r['ev_short_kwh']:.1f} kWh")
        if r["comfort_short_ch"] > 1e-3:
            notes.append(f"below comfort {r['comfort_short_ch']:.2f} °C·h")
        if r["wear_p"] > 0:
            notes.append(f"wear £{r['wear_p'] / 100:.2f} included")
        passed = r["share"] >= TARGETS[case]
        ok &= passed
        ceil = f"{r['ceiling'] * 100:>7.2f}%" if not math.isnan(r["ceiling"]) else f"{'-':>8}"
        runs = f"{r['ev_runs_night']:.2f} (max {r['ev_runs_max']:.0f})" if case != "battery" else "-"
        print(
            f"{case:<8} {r['days']:>5.0f} {r['baseline_p'] / 100:>11.2f} {r['planner_p'] / 100:>10.2f} "
            f"{r['optimum_p'] / 100:>10.2f} {r['share'] * 100:>7.2f}% {ceil} {TARGETS[case] * 100:>6.1f}% "
            f"{r['bat_cycles_day']:>9.2f} {r['bat_starts_day']:>8.2f} {runs:>13} {r['hp_starts_day']:>7.2f} "
            f"{r['p50_ms']:>7.2f}ms {r['p99_ms']:>7.2f}ms {r['replay_s']:>6.0f}s  "
            f"{'PASS' if passed else 'BELOW TARGET'} {'; '.join(notes)}",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
