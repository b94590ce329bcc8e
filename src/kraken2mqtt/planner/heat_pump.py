"""Heat pump (space heating) and hot-water tank, both planned exactly as stores (see :mod:`.pwl`).

Building: a single thermal mass ``C`` (kWh/K) losing ``UA`` (kW/K) to outside::

    T' = T + h/C · (COP(T_out)·P − UA·(T − T_out))        (one slot of h hours)

so ``T' = a·T + x + c`` with ``a = 1 − UA·h/C``, ``c = UA·h·T_out/C`` and ``x = COP·P·h/C`` the heat the
pump adds. Comfort is a soft constraint (a steep penalty per °C outside the band), so a plan always
exists and says when comfort cannot be kept. Pre-heating in cheap slots falls out of the optimisation.

Compressor limits (:class:`~.model.HeatPumpModel` ``min_kw``, ``min_run_h``, ``min_off_h``, the device's
own limits from its configuration): the optimal heat is turned into runs the compressor can do: runs
closer than the minimum off time are merged, each run is at least ``min_kw`` and lasts at least the
minimum run time (a run too small to be worth a start is dropped), and the temperatures are recomputed
from what will really be delivered. So the plan never asks for 0.001 kW or a ten-minute run.

Hot-water tank: stored heat ``E`` (kWh) with a proportional standing loss; each need (``kwh`` at a time)
must be in the tank at that time (soft, steeply penalised) and is then drawn off.
"""

from __future__ import annotations

from collections.abc import Sequence

from .costs import Context
from .model import Comfort, HeatPump, HotWaterTank, TemperaturePoint
from .pwl import PWL, linear, solve_storage
from .schedule import Schedule, spread_runs
from .slots import Grid, ts

COMFORT_PENALTY_P = 5000.0  # per °C below/above the band, per slot boundary
HOT_WATER_PENALTY_P = 5000.0  # per kWh short of a need
_WIDE = 1e4


def outdoor_per_slot(points: Sequence[TemperaturePoint], grid: Grid, default: float = 7.0) -> list[float]:
    pts = sorted((ts(p.at), p.celsius) for p in points)
    out: list[float] = []
    j = 0
    cur = pts[0][1] if pts else default
    for i in range(grid.n):
        mid = 0.5 * (grid.t[i] + grid.t[i + 1])
        while j < len(pts) and pts[j][0] <= mid:
            cur = pts[j][1]
            j += 1
        out.append(cur)
    return out


def cop(hp: HeatPump, t_out: float) -> float:
    m = hp.model
    return min(m.cop_max, max(m.cop_min, m.cop_at_7c + m.cop_per_k * (t_out - 7.0)))


def comfort_at(comfort: Comfort, t: float) -> tuple[float, float]:
    for b in comfort.bands:
        if ts(b.start) <= t < ts(b.end):
            return b.min_c, b.max_c
    return comfort.min_c, comfort.max_c


def _band_penalty(lo: float, hi: float, weight: float) -> PWL:
    return PWL(
        -_WIDE, weight * (lo + _WIDE), [lo + _WIDE, max(0.0, hi - lo), _WIDE - hi], [-weight, 0.0, weight]
    )


def _heat_cost(ctx: Context, i: int, e_max: float, kwh_per_x: float) -> PWL:
    """Cost of adding x (state units) = grid kWh x·kwh_per_x, from the slot's marginal pieces."""
    lens: list[float] = []
    slopes: list[float] = []
    for ln, price in ctx.load_pieces(i, e_max):
        lens.append(ln / kwh_per_x)
        slopes.append(price * kwh_per_x)
    return PWL(0.0, 0.0, lens, slopes)


def plan_heat_pump(hp: HeatPump, ctx: Context, outdoor: Sequence[float]) -> Schedule:
    grid = ctx.grid
    n = grid.n
    m = hp.model
    cap_c = m.thermal_mass_kwh_per_k
    ua = m.heat_loss_kw_per_k
    a: list[float] = []
    c: list[float] = []
    costs: list[PWL] = []
    cops: list[float] = []
    for i in range(n):
        h = grid.hours[i]
        k = cop(hp, outdoor[i])
        cops.append(k)
        a.append(max(1e-3, 1.0 - ua * h / cap_c))
        c.append(ua * h * outdoor[i] / cap_c)
        costs.append(_heat_cost(ctx, i, m.max_kw * h, cap_c / k))
    bands = [comfort_at(hp.comfort, grid.t[k]) for k in range(n + 1)]
    pens: list[PWL | None] = [None] + [_band_penalty(lo, hi, COMFORT_PENALTY_P) for lo, hi in bands[1:]]
    t0 = hp.state.indoor_c
    # reachable temperatures: free-running (no heat) and full power from now; heating above the band
    # top is never useful, so the upper bound stops there (or at the free-running temperature)
    lo = [t0] * (n + 1)
    hi = [t0] * (n + 1)
    for i in range(n):
        lo[i + 1] = a[i] * lo[i] + c[i]
        full = a[i] * hi[i] + c[i] + (costs[i].hi if costs[i].lens else 0.0)
        hi[i + 1] = max(lo[i + 1], min(full, max(bands[i + 1][1], a[i] * min(hi[i], bands[i][1]) + c[i])))
        if hi[i + 1] < lo[i + 1]:
            hi[i + 1] = lo[i + 1]
    lo = [x - 1e-6 for x in lo]
    hi = [x + 1e-6 for x in hi]
    # Comfort as hard bounds (clipped to what full power can reach); the slower soft-penalty form is
    # the fallback when even that is infeasible.
    hard_lo = list(lo)
    full = t0
    for k in range(1, n + 1):
        full = a[k - 1] * full + c[k - 1] + (costs[k - 1].hi if costs[k - 1].lens else 0.0)
        hard_lo[k] = max(lo[k], min(bands[k][0], full - 1e-6))
    terminal = linear(-_WIDE, _WIDE, 0.0)
    res = solve_storage(t0, a, c, costs, hard_lo, hi, terminal)
    if res is None:
        res = solve_storage(t0, a, c, costs, lo, hi, terminal, pens)
    sch = Schedule.idle(n)
    if res is None:
        sch.warnings.append("heat pump plan infeasible; leaving it to its own thermostat")
        sch.state = [t0] * (n + 1)
        return sch
    xs, temps = res
    kwhs = [max(0.0, x) * cap_c / cops[i] for i, x in enumerate(xs)]
    if m.min_kw > 0 or m.min_run_h > 0 or m.min_off_h > 0:
        runs = compressor_runs(kwhs, grid.hours, m.min_kw, m.max_kw, m.min_run_h, m.min_off_h)
        kwhs = [sum(kw * (fb - fa) for fa, fb, kw in r) * grid.hours[i] for i, r in enumerate(runs)]
        temps = [t0]
        for i in range(n):
            temps.append(a[i] * temps[i] + c[i] + kwhs[i] * cops[i] / cap_c)
    else:
        runs = [spread_runs(k, grid.hours[i], 0.0, m.max_kw) if k > 1e-6 else [] for i, k in enumerate(kwhs)]
    sch.state = temps
    too_cold = 0
    for i, kwh in enumerate(kwhs):
        if kwh > 1e-6:
            sch.grid_kwh[i] = kwh
            sch.runs[i] = runs[i]
        if temps[i + 1] < bands[i + 1][0] - 0.05:
            too_cold += 1
    if too_cold:
        sch.warnings.append(f"comfort band cannot be kept in {too_cold} slot(s): heating at full power")
    sch.info["end_indoor_c"] = temps[-1]
    sch.info["min_indoor_c"] = min(temps)
    sch.info["avg_cop"] = sum(cops) / len(cops) if cops else 0.0
    return sch


def compressor_runs(
    kwh: Sequence[float],
    hours: Sequence[float],
    min_kw: float,
    max_kw: float,
    min_run_h: float,
    min_off_h: float,
) -> list[list[tuple[float, float, float]]]:
    """Per slot, the runs (start fraction, end fraction, kW) that deliver about ``kwh`` per slot within the
    compressor's limits: blocks of heated slots closer than ``min_off_h`` merge into one run; a run lasts
    at least ``min_run_h`` at no less than ``min_kw`` (more energy rather than a short cycle), starting where
    its block starts; a block whose energy is under a fifth of one minimum run is dropped."""
    n = len(kwh)
    starts = [0.0]
    for h in hours:
        starts.append(starts[-1] + h)
    blocks: list[list[int]] = []  # [first slot, last slot]
    for i in range(n):
        if kwh[i] <= 1e-6:
            continue
        if blocks and starts[i] - starts[blocks[-1][1] + 1] < min_off_h - 1e-9:
            blocks[-1][1] = i
        else:
            blocks.append([i, i])
    runs: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
    end_of_last = -1.0
    for first, last in blocks:
        energy = sum(kwh[first : last + 1])
        t_start = max(starts[first], end_of_last)
        span = starts[last + 1] - t_start
        if span <= 1e-9 or energy < 0.2 * min_kw * min_run_h:
            continue
        kw = energy / span
        length = span
        if kw < min_kw:
            kw, length = min_kw, energy / min_kw
        if length < min_run_h:
            length = min_run_h
        kw = min(max_kw, kw)
        t_end = min(starts[-1], t_start + length)
        end_of_last = t_end
        for i in range(n):
            lo, hi = max(starts[i], t_start), min(starts[i + 1], t_end)
            if hi - lo > 1e-9 and hours[i] > 0:
                runs[i].append(((lo - starts[i]) / hours[i], (hi - starts[i]) / hours[i], kw))
    return runs


def hot_water_needs(tank: HotWaterTank, grid: Grid) -> list[float]:
    """kWh needed at each boundary (index k = 0..n); needs outside the horizon are ignored."""
    need = [0.0] * (grid.n + 1)
    for nd in tank.needs:
        t = ts(nd.at)
        if grid.n == 0 or t <= grid.t[0] or t > grid.t[-1] + 1e-6:
            continue
        k = grid.boundary_index(t)
        need[k] += nd.kwh
    return need


def plan_hot_water(tank: HotWaterTank, ctx: Context) -> Schedule:
    grid = ctx.grid
    n = grid.n
    need = hot_water_needs(tank, grid)
    a: list[float] = []
    c: list[float] = []
    costs: list[PWL] = []
    for i in range(n):
        h = grid.hours[i]
        a.append(max(1e-3, 1.0 - tank.loss_pct_per_h / 100.0 * h))
        c.append(-need[i])  # drawn off at the start of the slot that begins at the need time
        e_max = tank.heater_kw * h if ctx.load_room(i) >= tank.heater_kw * h - 1e-9 else 0.0
        costs.append(_heat_cost(ctx, i, e_max, 1.0 / tank.heater_cop))
    pens: list[PWL | None] = [None] + [
        _band_penalty(need[k], _WIDE - 1.0, HOT_WATER_PENALTY_P) for k in range(1, n + 1)
    ]
    s0 = tank.energy_kwh
    hi_cap = max(tank.capacity_kwh, s0)
    terminal = linear(-_WIDE, hi_cap, 0.0)
    # needs as hard lower bounds, clipped to what full power could reach; soft penalties as fallback
    hard_lo = [-_WIDE] * (n + 1)
    full = s0
    for k in range(1, n + 1):
        full = min(hi_cap, a[k - 1] * full + c[k - 1] + costs[k - 1].hi)
        if need[k] > 0.0:
            hard_lo[k] = min(need[k], full - 1e-6)
    res = solve_storage(s0, a, c, costs, hard_lo, [hi_cap] * (n + 1), terminal)
    if res is None:
        res = solve_storage(s0, a, c, costs, [-_WIDE] * (n + 1), [hi_cap] * (n + 1), terminal, pens)
    sch = Schedule.idle(n)
    if res is None:
        sch.warnings.append("hot-water plan infeasible")
        sch.state = [s0] * (n + 1)
        return sch
    xs, levels = res
    sch.state = levels
    short = 0
    for i, x in enumerate(xs):
        kwh = max(0.0, x) / tank.heater_cop
        if kwh > 1e-6:
            sch.grid_kwh[i] = kwh
            sch.runs[i] = spread_runs(kwh, grid.hours[i], tank.heater_kw, tank.heater_kw)
    for k in range(1, n + 1):
        if need[k] > 0 and levels[k] < need[k] - 0.01:
            short += 1
    if short:
        sch.warnings.append(f"{short} hot-water need(s) cannot be fully met")
    sch.info["end_kwh"] = levels[-1]
    return sch
