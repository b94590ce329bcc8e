"""EV / charge point: reach a target by a deadline at least cost.

For one car this is a fractional knapsack: every usable slot offers up to ``max_kw × hours`` kWh at a
known price (piecewise, if the other devices make the meter export part of the slot), so taking the
cheapest kWh first is exactly optimal. With a "continuous block" preference the best contiguous block is
found exactly too: its cost is piecewise linear in the start time, so a minimum lies where the block
starts or ends on a slot boundary, and all of those are tried.

Kraken-controlled (Intelligent Octopus) cars are not commanded: the planner predicts their charging from
the planned dispatches and, if that would miss the user's deadline, plans boosts in the cheapest other
slots.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from .costs import Context
from .model import EV
from .schedule import Schedule, spread_runs
from .slots import Grid, ts

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class EVNeed:
    battery_kwh: float  # energy to put into the car's battery
    target_pct: float | None
    start_pct: float


def ev_need(ev: EV) -> EVNeed:
    cap = ev.model.capacity_kwh
    start = ev.state.soc_pct
    t = ev.target
    if t is None:
        return EVNeed(0.0, None, start)
    if t.soc_pct is not None:
        target_pct = min(100.0, t.soc_pct)
        return EVNeed(max(0.0, (target_pct - start) / 100.0 * cap), target_pct, start)
    if t.add_kwh is not None:
        add = max(0.0, min(t.add_kwh, cap * (100.0 - start) / 100.0))
        return EVNeed(add, start + add / cap * 100.0, start)
    return EVNeed(0.0, None, start)


def usable_slots(ev: EV, grid: Grid) -> list[bool]:
    """Slots the car can charge in: plugged in, and ending by the deadline."""
    if not ev.state.plugged_in:
        return [False] * grid.n
    deadline = ts(ev.target.deadline) if ev.target and ev.target.deadline else None
    if deadline is None:
        return [True] * grid.n
    return [grid.t[i + 1] <= deadline + 1.0 for i in range(grid.n)]  # grid drops sub-second slivers


def slot_power_kw(ev: EV, ctx: Context, i: int) -> float:
    """Max power in slot i given the import limit; 0 if that is under the car's minimum power."""
    h = ctx.grid.hours[i]
    p = min(ev.model.max_kw, ctx.load_room(i) / h if h > 0 else 0.0)
    return p if p >= ev.model.min_kw - _EPS and p > _EPS else 0.0


def _slot_cost(ctx: Context, i: int, kwh: float) -> float:
    cost = 0.0
    left = kwh
    for ln, price in ctx.load_pieces(i, kwh):
        take = min(ln, left)
        cost += take * price
        left -= take
        if left <= _EPS:
            break
    return cost


def cheapest_fill(
    ctx: Context, slots: Sequence[int], power_kw: Sequence[float], need: float
) -> tuple[dict[int, float], float]:
    """Cheapest allocation of ``need`` kWh over ``slots`` (each up to power × hours); (allocation, unmet)."""
    grid = ctx.grid
    pieces: list[tuple[float, int, float]] = []
    for i in slots:
        emax = power_kw[i] * grid.hours[i]
        if emax <= _EPS:
            continue
        for ln, price in ctx.load_pieces(i, emax):
            pieces.append((price, i, ln))
    pieces.sort()
    alloc: dict[int, float] = {}
    left = need
    for _, i, ln in pieces:
        if left <= _EPS:
            break
        take = min(ln, left)
        alloc[i] = alloc.get(i, 0.0) + take
        left -= take
    return alloc, max(0.0, left)


def _best_block(
    ctx: Context, slots: list[int], power_kw: Sequence[float], need: float
) -> tuple[dict[int, float], int | None] | None:
    """Cheapest contiguous block delivering ``need``; returns (allocation, slot charged at its end).

    Full slots are costed once with prefix sums; for each start (end) slot the block's last (first)
    slot is the only partial one, found by bisection."""
    grid = ctx.grid
    usable = [i for i in slots if power_kw[i] > _EPS]
    if not usable:
        return None
    runs: list[list[int]] = [[usable[0]]]
    for i in usable[1:]:
        if i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    best: tuple[float, dict[int, float], int | None] | None = None
    for run in runs:
        cap = [power_kw[i] * grid.hours[i] for i in run]
        m = len(run)
        pcap = [0.0] * (m + 1)
        pcost = [0.0] * (m + 1)
        for k in range(m):
            pcap[k + 1] = pcap[k] + cap[k]
            pcost[k + 1] = pcost[k] + _slot_cost(ctx, run[k], cap[k])
        if pcap[m] + _EPS < need:
            continue
        for k in range(m):  # forward: full slots k..j-1, partial j
            j = bisect_left(pcap, pcap[k] + need - _EPS) - 1
            if j >= m:
                break
            rest = need - (pcap[j] - pcap[k])
            cost = pcost[j] - pcost[k] + (_slot_cost(ctx, run[j], rest) if rest > _EPS else 0.0)
            if best is None or cost < best[0] - 1e-9:
                alloc = {run[q]: cap[q] for q in range(k, j)}
                if rest > _EPS:
                    alloc[run[j]] = rest
                best = (cost, alloc, None)
        for k in range(m, 0, -1):  # backward: full slots j+1..k-1, partial j (charged at its end)
            j = bisect_right(pcap, pcap[k] - need + _EPS)
            j = max(j - 1, 0)
            if pcap[k] - pcap[j] + _EPS < need:
                break
            full_from = j + 1
            rest = need - (pcap[k] - pcap[full_from])
            cost = pcost[k] - pcost[full_from] + (_slot_cost(ctx, run[j], rest) if rest > _EPS else 0.0)
            if best is None or cost < best[0] - 1e-9:
                alloc = {run[q]: cap[q] for q in range(full_from, k)}
                first = None
                if rest > _EPS:
                    alloc[run[j]] = rest
                    first = run[j]
                best = (cost, alloc, first)
    if best is None:
        return None
    return best[1], best[2]


def plan_ev(ev: EV, ctx: Context) -> Schedule:
    grid = ctx.grid
    n = grid.n
    sch = Schedule.idle(n)
    sch.boost = [False] * n
    need = ev_need(ev)
    eff = ev.model.efficiency
    sch.info["start_soc_pct"] = need.start_pct
    if not ev.state.plugged_in:
        sch.notes.append("not plugged in")
        sch.info["end_soc_pct"] = need.start_pct
        return sch
    if need.target_pct is None:
        sch.notes.append("no target set")
        sch.info["end_soc_pct"] = need.start_pct
        return sch
    sch.info["target_soc_pct"] = need.target_pct
    if need.battery_kwh <= _EPS:
        sch.notes.append(f"target already met ({need.start_pct:.0f}% ≥ {need.target_pct:.0f}%)")
        sch.info["end_soc_pct"] = need.start_pct
        return sch
    usable = usable_slots(ev, grid)
    slots = [i for i in range(n) if usable[i]]
    need_grid = need.battery_kwh / eff
    power = [slot_power_kw(ev, ctx, i) if usable[i] else 0.0 for i in range(n)]
    align_end: int | None = None
    if ev.model.kraken_controlled:
        alloc, unmet = _kraken(ev, ctx, slots, power, need_grid, sch)
    else:
        alloc, unmet = {}, need_grid
        if ev.model.continuous:
            block = _best_block(ctx, slots, power, need_grid)
            if block is not None:
                alloc, align_end = block
                unmet = 0.0
            else:
                sch.notes.append("no single block can reach the target; charging in separate slots")
        if not alloc:
            alloc, unmet = cheapest_fill(ctx, slots, power, need_grid)
    for i, kwh in alloc.items():
        sch.grid_kwh[i] = kwh
        sch.runs[i] = spread_runs(kwh, grid.hours[i], ev.model.min_kw, power[i], align_end == i)
    delivered = sum(alloc.values()) * eff
    end_pct = need.start_pct + delivered / ev.model.capacity_kwh * 100.0
    sch.info["end_soc_pct"] = end_pct
    sch.info["slots_available"] = float(len(slots))
    if unmet > 1e-6:
        sch.warnings.append(
            f"target {need.target_pct:.0f}% unreachable by the deadline: charging as much as possible, "
            f"reaching {end_pct:.0f}%"
        )
    return sch


def _kraken(
    ev: EV, ctx: Context, slots: list[int], power: list[float], need_grid: float, sch: Schedule
) -> tuple[dict[int, float], float]:
    """Predict an Intelligent car's charging from the dispatches; plan boosts for any shortfall."""
    grid = ctx.grid
    alloc: dict[int, float] = {}
    left = need_grid
    for i in slots:
        if grid.dispatch[i] and left > _EPS:
            take = min(ev.model.max_kw * grid.hours[i], left)
            alloc[i] = take
            left -= take
    predicted = (need_grid - left) * ev.model.efficiency
    sch.info["kraken_predicted_kwh"] = predicted
    if left <= _EPS:
        sch.notes.append("Kraken controls charging; its planned dispatches reach the target")
        return alloc, 0.0
    others = [i for i in slots if not grid.dispatch[i]]
    extra, unmet = cheapest_fill(ctx, others, power, left)
    for i, kwh in extra.items():
        alloc[i] = alloc.get(i, 0.0) + kwh
        sch.boost[i] = True
    sch.notes.append(
        f"Kraken's planned dispatches give {predicted:.1f} kWh of {need_grid * ev.model.efficiency:.1f} kWh "
        "needed by the deadline: ask Kraken for a boost"
    )
    return alloc, unmet
