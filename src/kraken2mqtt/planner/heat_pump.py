"""Heat pump (space heating) and hot-water tank, both planned exactly as stores (see :mod:`.pwl`).

Building: a single thermal mass ``C`` (kWh/K) losing ``UA`` (kW/K) to outside::

    T' = T + h/C · (COP(T_out)·P − UA·(T − T_out))        (one slot of h hours)

so ``T' = a·T + x + c`` with ``a = 1 − UA·h/C``, ``c = UA·h·T_out/C`` and ``x = COP·P·h/C`` the heat the
pump adds. Comfort is a soft constraint (a steep penalty per °C outside the band), so a plan always
exists and says when comfort cannot be kept. Pre-heating in cheap slots falls out of the optimisation.

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
    sch.state = temps
    too_cold = 0
    for i, x in enumerate(xs):
        kwh = max(0.0, x) * cap_c / cops[i]
        if kwh > 1e-6:
            sch.grid_kwh[i] = kwh
            sch.runs[i] = spread_runs(kwh, grid.hours[i], 0.0, m.max_kw)
        if temps[i + 1] < bands[i + 1][0] - 0.05:
            too_cold += 1
    if too_cold:
        sch.warnings.append(f"comfort band cannot be kept in {too_cold} slot(s): heating at full power")
    sch.info["end_indoor_c"] = temps[-1]
    sch.info["min_indoor_c"] = min(temps)
    sch.info["avg_cop"] = sum(cops) / len(cops) if cops else 0.0
    return sch


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
