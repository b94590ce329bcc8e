"""Joint plan for all devices behind one meter, under the site's grid import/export limits.

Each device's own problem is solved exactly (sorting for cars and relay loads, convex DP for stores)
against the marginal cost of the meter given everything else — the house load and the other devices'
current plans — and within whatever import headroom they leave. Cars and loads with deadlines go first
(they must be served), stores last (they flex around the rest).

Then coordination rounds (block coordinate descent with price signals): loads are re-planned seeing
what each battery could do for them, priced at the battery's shadow value of stored energy (from its
DP): discharge into them, or — under an import limit — give up charging room; under a binding limit the
batteries in turn see the room loads could give up, priced at the loads' next-cheapest slot, followed by
a repair pass. The cheapest plan that respects the import limit is kept, so rounds never make it worse.
This is a heuristic for the coupled problem (an LP would be exact): the closed-loop benchmark
(benchmarks/planner) measures it against HiGHS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .battery import default_stored_value, plan_battery, soc_bounds
from .costs import INF, Context, bill
from .ev import plan_ev, usable_slots
from .heat_pump import plan_heat_pump, plan_hot_water
from .loads import load_window, plan_relay
from .model import EV, Battery, HeatPump, HotWaterTank, PlanInputs, PlannedDevice, RelayLoad
from .schedule import Schedule
from .slots import Grid


def _priority(d: PlannedDevice) -> int:
    if isinstance(d, EV):
        return 0 if d.model.kraken_controlled else 1
    if isinstance(d, RelayLoad):
        return 2
    if isinstance(d, HotWaterTank):
        return 3
    if isinstance(d, HeatPump):
        return 4
    return 5


def plan_devices(inputs: PlanInputs, grid: Grid, outdoor: Sequence[float]) -> dict[str, Schedule]:
    n = grid.n
    devices = sorted(inputs.devices, key=_priority)
    imp_kw, exp_kw = inputs.grid.import_kw, inputs.grid.export_kw
    values: dict[str, float] = {}
    for d in devices:
        if isinstance(d, Battery):
            v = d.model.stored_value_p
            values[d.id] = (
                v
                if v is not None
                else default_stored_value(
                    [p for i, p in enumerate(grid.import_p) if not grid.is_unpriced(i)],
                    d.model.charge_efficiency,
                )
            )
    total = list(grid.house_kwh)
    plans: dict[str, Schedule] = {}
    batteries = [d for d in devices if isinstance(d, Battery)]
    has_loads = len(batteries) < len(devices)

    def context(own: Schedule | None, offers: list[list[tuple[float, float, bool]]] | None) -> Context:
        bg = total if own is None else [total[i] - own.grid_kwh[i] for i in range(n)]
        icap = [INF] * n if imp_kw is None else [max(0.0, imp_kw * grid.hours[i] - bg[i]) for i in range(n)]
        ecap = [INF] * n if exp_kw is None else [max(0.0, exp_kw * grid.hours[i] + bg[i]) for i in range(n)]
        return Context(grid, list(bg), icap, ecap, offers)

    def solve(d: PlannedDevice, ctx: Context) -> Schedule:
        if isinstance(d, EV):
            return plan_ev(d, ctx)
        if isinstance(d, Battery):
            return plan_battery(d, ctx, values[d.id])
        if isinstance(d, HeatPump):
            return plan_heat_pump(d, ctx, outdoor)
        if isinstance(d, HotWaterTank):
            return plan_hot_water(d, ctx)
        return plan_relay(d, ctx)

    def objective() -> float:
        cost = sum(bill(total[i], grid.import_p[i], grid.export_p[i]) for i in range(n))
        for b in batteries:
            st = plans[b.id].state
            cost -= values[b.id] * (st[-1] if st else 0.0)
            cost += b.model.cycle_cost_p * -sum(e for e in plans[b.id].grid_kwh if e < 0.0)
        for d in loads:  # a car or load left short of its target is never a better plan
            cost += UNMET_PENALTY_P * _unmet_kwh(d, plans[d.id])
        return cost

    def overload() -> float:
        if imp_kw is None:
            return 0.0
        return sum(max(0.0, total[i] - max(imp_kw * grid.hours[i], grid.house_kwh[i])) for i in range(n))

    if inputs.joint_rounds is not None:
        rounds = max(1, inputs.joint_rounds)
    else:
        rounds = 2 if len(devices) <= 12 else 1
    best: dict[str, Schedule] | None = None
    best_obj = math.inf
    loads = [d for d in devices if not isinstance(d, Battery)]

    def run(group: Sequence[PlannedDevice], offers: Offers | None, room: Room | None) -> bool:
        changed = False
        for d in group:
            own = plans.get(d.id)
            ctx = context(own, None if isinstance(d, Battery) else offers)
            if isinstance(d, Battery):
                ctx.room = room
            new = solve(d, ctx)
            if own is None or _differs(own.grid_kwh, new.grid_kwh):
                changed = True
            for i in range(n):
                total[i] += new.grid_kwh[i] - (own.grid_kwh[i] if own is not None else 0.0)
            plans[d.id] = new
        return changed

    def keep() -> None:
        nonlocal best, best_obj
        obj = objective()
        if overload() <= 1e-6 and obj < best_obj - 1e-9:
            best, best_obj = dict(plans), obj

    def binding() -> bool:
        return imp_kw is not None and any(total[i] >= imp_kw * grid.hours[i] - 1e-6 for i in range(n))

    # round 0: every device against the ones planned before it; then rounds of re-planning where loads
    # see what batteries could do for them and, under a binding import limit, batteries see the room
    # loads could give up (followed by a repair pass if that left the site over its limit)
    run(loads, None, None)
    run(batteries, None, None)
    keep()
    for _ in range(1, rounds):
        if not batteries or not has_loads or not _interacts(inputs, grid):
            break
        changed = run(loads, _battery_offers(batteries, plans, grid, imp_kw is not None), None)
        room = _load_room(loads, plans, grid) if binding() else None
        changed |= run(batteries, None, room)
        if overload() > 1e-6:
            run(loads, None, None)
            run(batteries, None, None)
        keep()
        if not changed:
            break
    return best if best is not None else plans


UNMET_PENALTY_P = 1000.0  # per kWh a car or relay load misses its target by


def _unmet_kwh(d: PlannedDevice, sch: Schedule) -> float:
    if isinstance(d, EV):
        target = sch.info.get("target_soc_pct")
        if target is None:
            return 0.0
        return max(0.0, target - sch.info.get("end_soc_pct", target)) / 100.0 * d.model.capacity_kwh
    if isinstance(d, RelayLoad):
        return max(0.0, d.energy_kwh - sum(sch.grid_kwh))
    return 0.0


Offers = list[list[tuple[float, float, bool]]]
Room = list[list[tuple[float, float]]]


def _load_room(loads: Sequence[PlannedDevice], plans: dict[str, Schedule], grid: Grid) -> Room:
    """Import room each car / relay load could give up per slot, priced at what moving costs the site:
    the price of its cheapest usable slot with spare power."""
    room: Room = [[] for _ in range(grid.n)]
    for d in loads:
        if isinstance(d, EV) and not d.model.kraken_controlled:
            usable, kw = usable_slots(d, grid), d.model.max_kw
        elif isinstance(d, RelayLoad):
            usable, kw = load_window(d, grid), d.power_kw
        else:
            continue
        sch = plans[d.id]
        spare = [
            grid.import_p[j]
            for j in range(grid.n)
            if usable[j] and sch.grid_kwh[j] < kw * grid.hours[j] - 1e-6
        ]
        if not spare:
            continue
        p_next = min(spare)
        for i in range(grid.n):
            if sch.grid_kwh[i] > 1e-9:
                room[i].append((sch.grid_kwh[i], max(p_next, grid.import_p[i])))
    return room


def _battery_offers(
    batteries: Sequence[Battery], plans: dict[str, Schedule], grid: Grid, limited: bool
) -> list[list[tuple[float, float, bool]]]:
    """What each battery could do for a load in each slot, priced at its shadow value of stored energy:
    discharge more (no extra import), or — under an import limit — give up charging to free room."""
    offers: list[list[tuple[float, float, bool]]] = [[] for _ in range(grid.n)]
    for b in batteries:
        sch = plans[b.id]
        if not sch.shadow:
            continue
        m = b.model
        _, lo, _ = soc_bounds(b)
        for i in range(grid.n):
            left, _ = sch.shadow[i]
            if not math.isfinite(left):
                continue
            value = -left  # p per stored kWh of the last unit held after slot i
            e = sch.grid_kwh[i]
            h = grid.hours[i]
            spare = m.max_discharge_kw * h - max(0.0, -e)
            spare = min(spare, max(0.0, sch.state[i + 1] - lo) * m.discharge_efficiency)
            price = value / m.discharge_efficiency
            if spare > 1e-9 and price < grid.import_p[i]:
                offers[i].append((spare, price, False))
            if limited and e > 1e-9:
                offers[i].append((e, max(grid.import_p[i], value * m.charge_efficiency), True))
    return offers


def _differs(a: Sequence[float], b: Sequence[float]) -> bool:
    return any(abs(x - y) > 1e-6 for x, y in zip(a, b, strict=True))


def _interacts(inputs: PlanInputs, grid: Grid) -> bool:
    """Devices only affect each other through the import limit or an export price below import."""
    if inputs.grid.import_kw is not None or inputs.grid.export_kw is not None:
        return True
    return any(e < i for e, i in zip(grid.export_p, grid.import_p, strict=True))
