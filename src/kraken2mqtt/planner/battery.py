"""Home battery: exact arbitrage by convex dynamic programming (see :mod:`.pwl`).

Per slot the battery changes its stored energy by ``x`` (kWh). Charging draws ``x/ηc`` from the meter,
discharging delivers ``-x·ηd``; the cost of that in the slot (given the house load and the other devices)
is piecewise linear in ``x`` with breakpoints at 0 and where the meter crosses zero. Charging and
discharging are never simultaneous. When the cost is not convex — only when a price is negative or
export pays more than import — the planner uses its convex envelope, which is realised by *time-sharing*
inside the slot (e.g. charge at full power for the first 40% of the slot, then discharge), never by doing
both at once.

Wear: ``cycle_cost_p`` per kWh the battery delivers is added to the cost of discharging, so the plan
cycles only where the spread pays for it. Unpriced slots (see :mod:`.slots`) are never used.

Stored energy left at the end of the horizon is valued at ``stored_value_p`` per kWh (by default the
cost of refilling it at the cheaper prices of the horizon), so the plan does not dump the battery.
"""

from __future__ import annotations

import itertools
import math

from .costs import INF, Context, bill
from .model import Battery
from .pwl import PWL, from_points, linear, solve_storage, vertices
from .schedule import Run, Schedule
from .sun_guard import grid_charge_ceiling


def default_stored_value(import_p: list[float] | tuple[float, ...], eff_in: float) -> float:
    """Worth of a stored kWh at the horizon's end: refilling it at the cheaper quarter of the prices."""
    if not import_p:
        return 0.0
    ordered = sorted(import_p)
    q = ordered[len(ordered) // 4]
    return max(0.0, q) / max(eff_in, 1e-6)


def soc_bounds(bat: Battery) -> tuple[float, float, float]:
    """(s0, lo, hi) in kWh; the bounds are widened to include the current SoC."""
    m = bat.model
    cap = m.capacity_kwh
    s0 = bat.state.soc_pct / 100.0 * cap
    lo = max(m.min_soc_pct, m.reserve_soc_pct) / 100.0 * cap
    hi = m.max_soc_pct / 100.0 * cap
    return s0, min(lo, s0), max(hi, s0)


def plan_battery(bat: Battery, ctx: Context, stored_value_p: float) -> Schedule:
    m = bat.model
    grid = ctx.grid
    n = grid.n
    eta_c, eta_d = m.charge_efficiency, m.discharge_efficiency
    s0, lo, hi = soc_bounds(bat)
    costs: list[PWL] = []
    for i in range(n):
        if grid.is_unpriced(i):
            costs.append(PWL(0.0, 0.0, [], []))
            continue
        costs.append(
            _slot_cost(
                ctx, i, m.max_charge_kw, m.max_discharge_kw, eta_c, eta_d, m.allow_export, m.cycle_cost_p
            )
        )
    terminal = linear(lo, hi, -stored_value_p)
    ceiling = [hi] * (n + 1)
    if grid.sun_extra:
        ceiling = grid_charge_ceiling(
            s0,
            lo,
            hi,
            [b - grid.sun_extra[i] for i, b in enumerate(ctx.background)],
            grid.hours,
            [grid.is_unpriced(i) or grid.import_p[i] <= grid.export_p[i] for i in range(n)],
            m.max_charge_kw,
            m.max_discharge_kw,
            eta_c,
            eta_d,
        )
    marg: list[tuple[float, float]] = []
    res = solve_storage(s0, [1.0] * n, [0.0] * n, costs, [lo] * (n + 1), ceiling, terminal, marginals=marg)
    if res is None:  # cannot happen (idling is always feasible) but never fail a plan over it
        sch = Schedule.idle(n)
        sch.state = [s0] * (n + 1)
        sch.warnings.append("battery plan infeasible; holding")
        return sch
    xs, states = res
    sch = Schedule([0.0] * n, [[] for _ in range(n)], states)
    sch.shadow = marg
    if grid.sun_extra:
        sch.ceiling = ceiling
    for i, x in enumerate(xs):
        sch.grid_kwh[i], runs = _realise(ctx, i, x, costs[i], eta_c, eta_d, m.cycle_cost_p)
        sch.runs[i] = stored_order(runs, states[i], lo, hi, grid.hours[i], eta_c, eta_d)
    if n:
        first = continue_first(sch.runs[0], bat.state.power_kw)
        if stored_order(first, states[0], lo, hi, grid.hours[0], eta_c, eta_d) == first:
            sch.runs[0] = first
    return sch


def stored_order(
    runs: list[Run], s: float, lo: float, hi: float, h: float, eta_c: float, eta_d: float
) -> list[Run]:
    """A slot time-shared between a charging and a discharging run, in the order its stored energy allows:
    from near empty the charge comes first, from near full the discharge (the slot's energy is unchanged)."""
    if len(runs) != 2:
        return runs
    (a0, a1, kw_a), (b0, b1, kw_b) = runs
    if (kw_a > 0) == (kw_b > 0):
        return runs
    e = kw_a * (a1 - a0) * h
    after = s + (e * eta_c if e > 0 else e / eta_d)
    if lo - 1e-6 <= after <= hi + 1e-6:
        return runs
    return [(0.0, b1 - b0, kw_b), (b1 - b0, 1.0, kw_a)]


#: Pence a slot must gain for the battery to cycle inside it (charge, then discharge back) when its stored
#: energy is not to change: less is not worth two commands.
MIN_CYCLE_GAIN_P = 0.1

#: Below this (kW) a reported battery power counts as idle.
_MOVING_KW = 0.1


def continue_first(runs: list[Run], power_kw: float) -> list[Run]:
    """A slot time-shared between a charging and a discharging run, reordered so that the run in the
    direction the battery is already going (``power_kw``) comes first. The slot's energy is unchanged."""
    if len(runs) != 2 or abs(power_kw) < _MOVING_KW:
        return runs
    (_, _, kw_a), (b0, b1, kw_b) = runs
    if (kw_a > 0) == (kw_b > 0) or (kw_b > 0) != (power_kw > 0):
        return runs
    return [(0.0, b1 - b0, kw_b), (b1 - b0, 1.0, kw_a)]


def _e_of_x(x: float, eta_c: float, eta_d: float) -> float:
    return x / eta_c if x >= 0.0 else x * eta_d


def _wear(x: float, eta_d: float, cycle_cost_p: float) -> float:
    """Wear cost of changing the stored energy by ``x`` (only discharging wears: per kWh delivered)."""
    return cycle_cost_p * -x * eta_d if x < 0.0 else 0.0


def _slot_cost(
    ctx: Context,
    i: int,
    pc: float,
    pd: float,
    eta_c: float,
    eta_d: float,
    allow_export: bool,
    cycle_cost_p: float = 0.0,
) -> PWL:
    h = ctx.grid.hours[i]
    b = ctx.background[i]
    e_hi = min(pc * h, ctx.import_cap[i])
    e_lo = -pd * h
    if not allow_export:
        e_lo = max(e_lo, -max(0.0, b))
    if ctx.export_cap[i] < INF:
        e_lo = max(e_lo, -ctx.export_cap[i])
    e_hi = max(e_hi, 0.0)
    e_lo = min(e_lo, 0.0)
    x_hi = e_hi * eta_c
    x_lo = e_lo / eta_d
    ip, ep = ctx.grid.import_p[i], ctx.grid.export_p[i]
    base = bill(b, ip, ep)
    pts = [(x_lo, bill(b + e_lo, ip, ep) - base)]
    if e_lo < -b < 0.0:  # discharging covers the house exactly here
        pts.append((-b / eta_d, -base))
    pts.append((0.0, 0.0))
    if 0.0 < -b < e_hi:  # (only with something exporting in the background)
        pts.append((-b * eta_c, -base))
    pts.append((x_hi, bill(b + e_hi, ip, ep) - base))
    if ctx.room is not None and ctx.room[i] and b >= 0.0:
        # charging beyond the import limit's room: other loads would move, at a price
        cost_hi = pts[-1][1]
        left = pc * h - e_hi
        for kwh, price in sorted(ctx.room[i], key=lambda r: r[1]):
            take = min(kwh, left)
            if take <= 1e-9:
                break
            e_hi += take
            left -= take
            cost_hi += take * max(price, ip)
            pts.append((e_hi * eta_c, cost_hi))
    if cycle_cost_p > 0.0:
        pts = [(x, y + _wear(x, eta_d, cycle_cost_p)) for x, y in pts]
    if _convex(pts):
        lens = [q[0] - p[0] for p, q in itertools.pairwise(pts)]
        slopes = [(q[1] - p[1]) / ln if ln > 0 else 0.0 for p, q, ln in zip(pts, pts[1:], lens, strict=False)]
        keep = [k for k, ln in enumerate(lens) if ln > 1e-12]
        return PWL(x_lo, pts[0][1], [lens[k] for k in keep], [slopes[k] for k in keep])
    return from_points(pts)


def _convex(pts: list[tuple[float, float]]) -> bool:
    prev = -math.inf
    for p, q in itertools.pairwise(pts):
        dx = q[0] - p[0]
        if dx <= 1e-12:
            continue
        sl = (q[1] - p[1]) / dx
        if sl < prev - 1e-12:
            return False
        prev = sl
    return True


def _realise(
    ctx: Context, i: int, x: float, hull: PWL, eta_c: float, eta_d: float, cycle_cost_p: float = 0.0
) -> tuple[float, list[Run]]:
    h = ctx.grid.hours[i]
    if abs(x) <= 1e-9:
        # No change of the stored energy over the slot: idle, unless cycling inside the slot pays (a price
        # below the export price, or a negative one: charge for part of the slot, discharge for the rest),
        # which the slot's convex cost counts on and the plan must then do.
        if hull(0.0) >= -MIN_CYCLE_GAIN_P:
            return 0.0, []
        x = 0.0
    e = _e_of_x(x, eta_c, eta_d)
    if ctx.marginal(i, e) + _wear(x, eta_d, cycle_cost_p) <= hull(x) + 1e-7:
        return e, [(0.0, 1.0, e / h)]
    # time-share between the two hull vertices around x
    vs = vertices(hull)
    for (x1, _), (x2, _) in itertools.pairwise(vs):
        if x1 - 1e-12 <= x <= x2 + 1e-12 and x2 > x1:
            theta = (x2 - x) / (x2 - x1)
            e1, e2 = _e_of_x(x1, eta_c, eta_d), _e_of_x(x2, eta_c, eta_d)
            runs: list[Run] = []
            if theta > 1e-9 and abs(e1) > 1e-12:
                runs.append((0.0, theta, e1 / h))
            if theta < 1 - 1e-9 and abs(e2) > 1e-12:
                runs.append((theta, 1.0, e2 / h))
            return theta * e1 + (1 - theta) * e2, runs
    return e, [(0.0, 1.0, e / h)]
