"""EV / charge point: reach a target by a deadline at least cost.

For one car this is a fractional knapsack: every usable slot offers up to ``max_kw × hours`` kWh at a
known price (piecewise, if the other devices make the meter export part of the slot), so taking the
cheapest kWh first is exactly optimal. With a "continuous block" preference the best contiguous block is
found exactly too: its cost is piecewise linear in the start time, so a minimum lies where the block
starts or ends on a slot boundary, and all of those are tried.

Equal-cost choices go to the latest slots before the deadline (less time parked at a high state of
charge). No charging run is shorter than ``min_run_minutes`` unless the deadline needs it: a short run is
either dropped (its energy moved to the next-cheapest slots) or grown to the minimum, whichever costs less.
Unpriced slots (see :mod:`.slots`) are used last, only when the known ones cannot reach the target. A car
whose deadline has passed charges now.

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


def effective_deadline(ev: EV, now: float) -> float | None:
    """The car's deadline (epoch s); once it has passed: as soon as the need can be met at full power."""
    if ev.target is None or ev.target.deadline is None:
        return None
    deadline = ts(ev.target.deadline)
    if deadline > now + 1.0:
        return deadline
    need_h = ev_need(ev).battery_kwh / ev.model.efficiency / max(ev.model.max_kw, 1e-6)
    return now + max(need_h * 3600.0, 60.0)


def is_late(ev: EV, now: float) -> bool:
    return ev.target is not None and ev.target.deadline is not None and ts(ev.target.deadline) <= now + 1.0


def usable_slots(ev: EV, grid: Grid) -> list[bool]:
    """Slots the car can charge in: plugged in, and ending by the deadline."""
    if not ev.state.plugged_in:
        return [False] * grid.n
    deadline = effective_deadline(ev, grid.t[0]) if grid.t else None
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
    ctx: Context,
    slots: Sequence[int],
    power_kw: Sequence[float],
    need: float,
    latest: bool = False,
    floor: dict[int, float] | None = None,
) -> tuple[dict[int, float], float]:
    """Cheapest allocation of ``need`` kWh over ``slots`` (each up to power × hours); (allocation, unmet).

    Ties go to the earliest slot, or with ``latest`` to the latest; unpriced slots come after every priced
    one. ``floor``: kWh already placed per slot (counted in ``need`` and in the slots' room)."""
    grid = ctx.grid
    floor = floor or {}
    pieces: list[tuple[float, bool, int, int, float]] = []
    for i in slots:
        emax = power_kw[i] * grid.hours[i] - floor.get(i, 0.0)
        if emax <= _EPS:
            continue
        for ln, price in ctx.load_pieces(i, emax):
            pieces.append((round(price, 9), grid.is_unpriced(i), -i if latest else i, i, ln))
    pieces.sort()
    alloc: dict[int, float] = {i: e for i, e in floor.items() if e > _EPS}
    left = need - sum(alloc.values())
    for _, _, _, i, ln in pieces:
        if left <= _EPS:
            break
        take = min(ln, left)
        alloc[i] = alloc.get(i, 0.0) + take
        left -= take
    return alloc, max(0.0, left)


def _best_block(
    ctx: Context, slots: list[int], power_kw: Sequence[float], need: float, latest: bool = False
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
            if best is None or cost < best[0] - 1e-9 or (latest and cost <= best[0] + 1e-9):
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
            if best is None or cost < best[0] - 1e-9 or (latest and cost <= best[0] + 1e-9 and k > 0):
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
    late = is_late(ev, grid.t[0]) if grid.t else False
    latest = not late and ev.target is not None and ev.target.deadline is not None
    if late:
        sch.notes.append("ready-by time passed: charging now")
    if ev.model.kraken_controlled:
        alloc, unmet = _kraken(ev, ctx, slots, power, need_grid, sch)
    else:
        alloc, unmet = {}, need_grid
        if ev.model.continuous:
            block = _best_block(ctx, slots, power, need_grid, latest)
            if block is not None:
                alloc, align_end = block
                unmet = 0.0
            else:
                sch.notes.append("no single block can reach the target; charging in separate slots")
        if not alloc:
            alloc, unmet = cheapest_fill(ctx, slots, power, need_grid, latest)
            if ev.model.min_run_minutes > 0.0 and unmet <= 1e-6:
                alloc = min_run_repair(
                    ctx,
                    slots,
                    power,
                    need_grid,
                    alloc,
                    ev.model.min_run_minutes / 60.0,
                    ev.model.min_kw,
                    latest,
                )
    for i, kwh in alloc.items():
        sch.grid_kwh[i] = kwh
        # a partial slot opening a run of several slots charges at its end, so the run is unbroken
        opens = alloc.get(i + 1, 0.0) > _EPS and alloc.get(i - 1, 0.0) <= _EPS
        sch.runs[i] = spread_runs(kwh, grid.hours[i], ev.model.min_kw, power[i], align_end == i or opens)
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


# ------------------------------------------------------------------------------------ minimum run length


def _run_hours(kwh: float, hours: float, min_kw: float) -> float:
    """How long a slot's charging lasts (see :func:`.schedule.spread_runs`)."""
    if kwh <= _EPS:
        return 0.0
    if min_kw <= 0.0 or kwh / hours >= min_kw:
        return hours
    return kwh / min_kw


def _stub(kwh: float, hours: float, min_kw: float, min_run_h: float) -> bool:
    """A run's edge slot charging at minimum power for less than the minimum run (a brief power step)."""
    run = _run_hours(kwh, hours, min_kw)
    return run < hours - 1e-9 and run < min_run_h - 1e-6


def _blocks(alloc: dict[int, float]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in sorted(k for k, e in alloc.items() if e > _EPS):
        if out and i == out[-1][-1] + 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _cost(ctx: Context, alloc: dict[int, float]) -> float:
    return sum(_slot_cost(ctx, i, e) for i, e in alloc.items() if e > _EPS)


def min_run_repair(
    ctx: Context,
    slots: Sequence[int],
    power: Sequence[float],
    need: float,
    alloc: dict[int, float],
    min_run_h: float,
    min_kw: float,
    latest: bool,
) -> dict[int, float]:
    """No run shorter than ``min_run_h`` unless the deadline needs it: each short run is dropped (its
    slots banned, the need refilled elsewhere) or grown into its neighbours to the minimum, whichever is
    cheaper; a run that can be neither stays. A brief step down to minimum power at the edge of a longer
    run is smoothed the same way when that costs next to nothing. Never dearer than charging at once."""
    grid = ctx.grid
    usable = [i for i in slots if power[i] > _EPS]
    banned: set[int] = set()
    forced: dict[int, float] = {}
    accepted: set[int] = set()
    for _ in range(24):
        cur = _cost(ctx, alloc)
        short: list[tuple[list[int], bool]] = []
        for b in _blocks(alloc):
            if b[0] in accepted:
                continue
            if sum(_run_hours(alloc[i], grid.hours[i], min_kw) for i in b) < min_run_h - 1e-6:
                short.append((b, False))
            elif any(_stub(alloc[i], grid.hours[i], min_kw, min_run_h) for i in (b[0], b[-1])):
                short.append((b, True))
        if not short:
            break
        b, stub = short[0]
        options: list[tuple[float, dict[int, float], set[int], dict[int, float]]] = []
        if not stub and not (set(b) & set(forced)):
            ban = banned | set(b)
            drop, unmet = cheapest_fill(ctx, [i for i in usable if i not in ban], power, need, latest, forced)
            if unmet <= 1e-6:
                options.append((_cost(ctx, drop), drop, ban, forced))
        pos = set(usable)
        for step in (-1, 1):
            ext = [i for i in b if _stub(alloc[i], grid.hours[i], min_kw, min_run_h)] if stub else list(b)
            while sum(grid.hours[i] for i in ext) < min_run_h - 1e-6:
                nxt = ext[0] - 1 if step < 0 else ext[-1] + 1
                if nxt not in pos or nxt in banned:
                    break
                ext = [nxt, *ext] if step < 0 else [*ext, nxt]
            hours = sum(grid.hours[i] for i in ext)
            if hours < min_run_h - 1e-6:
                continue
            # enough energy in each slot of the run to last the minimum at no less than minimum power
            low = {
                i: min(
                    power[i] * grid.hours[i],
                    max(min_kw, 0.1 * power[i]) * grid.hours[i] * min(1.0, min_run_h / hours),
                )
                for i in ext
            }
            force = {**forced, **{i: max(forced.get(i, 0.0), e) for i, e in low.items()}}
            if sum(force.values()) > need + 1e-6:
                continue
            grown, unmet = cheapest_fill(
                ctx, [i for i in usable if i not in banned], power, need, latest, force
            )
            if unmet <= 1e-6:
                options.append((_cost(ctx, grown), grown, banned, force))
        if stub:  # only a power step, not a start: smooth it only when that costs next to nothing
            options = [o for o in options if o[0] <= cur * 1.01 + 1.0]
        if not options:
            accepted.add(b[0])
            continue
        _, alloc, banned, forced = min(options, key=lambda o: o[0])
    asap: dict[int, float] = {}
    left = need
    for i in usable:
        if left <= _EPS:
            break
        asap[i] = min(power[i] * grid.hours[i], left)
        left -= asap[i]
    if left <= 1e-6 and _cost(ctx, asap) < _cost(ctx, alloc) - 1e-9:
        return asap
    return alloc
