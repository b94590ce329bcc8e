"""Entry point: ``make_plan(inputs) -> Plan``. Pure: no I/O, no clock, no randomness."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from .costs import Context, bill
from .ev import effective_deadline, ev_need, usable_slots
from .heat_pump import comfort_at, outdoor_per_slot
from .joint import plan_devices
from .model import (
    EV,
    ActionKind,
    Battery,
    DeviceAction,
    DevicePlan,
    HeatPump,
    HotWaterTank,
    Interval,
    Plan,
    PlanInputs,
    PlannedDevice,
    RelayLoad,
    SlotSummary,
)
from .money import Currency
from .reasons import (
    avg_price,
    blocks,
    ev_block_reason,
    hhmm,
    price_tag,
    span,
    store_block_reason,
    sun_ahead_reasons,
    sun_room_reasons,
    time_shared_reason,
)
from .schedule import Schedule
from .slots import Grid, build_grid, solar_kwh, to_dt, ts, unpriced_spans
from .topup import advise_topup


def device_breaks(inputs: PlanInputs) -> list[datetime]:
    """Instants the grid must be cut at so every device's constraints fall on slot boundaries."""
    out: list[datetime] = []
    now = ts(inputs.now)
    for d in inputs.devices:
        if isinstance(d, EV) and d.target is not None and d.target.deadline is not None:
            dl = effective_deadline(d, now)
            out.append(to_dt(dl) if dl is not None else d.target.deadline)
        elif isinstance(d, RelayLoad):
            out.extend(t for t in (d.earliest, d.deadline) if t is not None)
        elif isinstance(d, HotWaterTank):
            out.extend(nd.at for nd in d.needs)
        elif isinstance(d, HeatPump):
            for b in d.comfort.bands:
                out.extend((b.start, b.end))
    return out


def need_until(inputs: PlanInputs) -> datetime | None:
    """The latest deadline a car or relay load must be served by (the grid reaches it, priced or not)."""
    now = ts(inputs.now)
    ends: list[float] = []
    for d in inputs.devices:
        if isinstance(d, EV) and d.state.plugged_in and ev_need(d).battery_kwh > 1e-9:
            dl = effective_deadline(d, now)
            if dl is not None:
                ends.append(dl)
        elif isinstance(d, RelayLoad) and d.deadline is not None and d.energy_kwh > 0:
            ends.append(ts(d.deadline))
    return to_dt(max(ends)) if ends else None


def make_plan(inputs: PlanInputs) -> Plan:
    grid = build_grid(inputs, device_breaks(inputs), need_until(inputs))
    n = grid.n
    outdoor = outdoor_per_slot(inputs.outdoor, grid)
    schedules = plan_devices(inputs, grid, outdoor)
    total = list(grid.house_kwh)
    for sch in schedules.values():
        for i in range(n):
            total[i] += sch.grid_kwh[i]
    device_plans: list[DevicePlan] = []
    for d in inputs.devices:
        sch = schedules[d.id]
        bg = [total[i] - sch.grid_kwh[i] for i in range(n)]
        ctx = Context(grid, bg, [float("inf")] * n, [float("inf")] * n)
        device_plans.append(_device_plan(d, sch, ctx, inputs))
    slot_cost = [bill(total[i], grid.import_p[i], grid.export_p[i]) for i in range(n)]
    slots = tuple(
        SlotSummary(
            to_dt(grid.t[i]),
            to_dt(grid.t[i + 1]),
            grid.import_p[i],
            grid.export_p[i],
            grid.dispatch[i],
            grid.forecast[i],
            grid.house_kwh[i],
            total[i],
            slot_cost[i],
            solar_kwh(inputs.solar, grid.t[i], grid.t[i + 1]) if inputs.solar else 0.0,
            outdoor[i] if inputs.outdoor else None,
        )
        for i in range(n)
    )
    warnings: list[str] = []
    if n == 0:
        warnings.append("no prices known inside the horizon: nothing planned")
    for a, b in unpriced_spans(grid):
        warnings.append(
            f"no price known {hhmm(a, inputs.tz)}–{hhmm(b, inputs.tz)}: batteries skip it, loads use it only "
            "if their deadline needs it"
        )
    if any(grid.forecast):
        first = next(i for i in range(n) if grid.forecast[i])
        warnings.append(f"prices from {hhmm(grid.t[first], inputs.tz)} are forecast (from the previous days)")
    if inputs.grid.import_kw is not None:
        over = [i for i in range(n) if total[i] > inputs.grid.import_kw * grid.hours[i] + 1e-6]
        if over:
            warnings.append(
                f"load exceeds the {inputs.grid.import_kw:g} kW import limit in {len(over)} slot(s)"
            )
    for dp in device_plans:
        warnings.extend(f"{dp.device_id}: {w}" for w in dp.warnings)
    topup = None
    if inputs.prepay is not None and n:
        topup = advise_topup(
            inputs.prepay, grid, slot_cost, inputs.tariff.standing_charge_p_per_day, currency=inputs.currency
        )
        if topup.runs_low_at is not None:
            warnings.append(topup.message)
    house_cost = sum(bill(grid.house_kwh[i], grid.import_p[i], grid.export_p[i]) for i in range(n))
    start = to_dt(grid.t[0]) if n else inputs.now
    return Plan(
        inputs.now,
        start,
        to_dt(grid.t[-1]) if n else inputs.now,
        slots,
        tuple(device_plans),
        sum(slot_cost),
        house_cost,
        tuple(warnings),
        topup,
    )


# ------------------------------------------------------------------------------------------ per device


def _slot_costs(ctx: Context, sch: Schedule) -> list[float]:
    """What each slot's runs add to the bill. A slot time-shared between charging and discharging is
    billed run by run (import and export are metered apart), as the plan's convex slot cost counts it."""
    out = []
    for i, e in enumerate(sch.grid_kwh):
        runs = sch.runs[i] if i < len(sch.runs) else []
        if len({kw > 0 for _, _, kw in runs}) > 1:
            h, b = ctx.grid.hours[i], ctx.background[i]
            ip, ep = ctx.grid.import_p[i], ctx.grid.export_p[i]
            out.append(
                sum(
                    bill(b * (r1 - r0) + kw * h * (r1 - r0), ip, ep) - bill(b * (r1 - r0), ip, ep)
                    for r0, r1, kw in runs
                )
            )
        else:
            out.append(ctx.marginal(i, e) if e else 0.0)
    return out


def _intervals(
    grid: Grid,
    sch: Schedule,
    costs: list[float],
    act: Callable[[int, float], DeviceAction],
    idle: Callable[[int], DeviceAction],
) -> tuple[Interval, ...]:
    rows: list[list[object]] = []  # [start, end, action, kwh, cost]

    def push(a: float, b: float, action: DeviceAction, kwh: float, cost: float) -> None:
        if b - a <= 1e-6:
            return
        if rows and rows[-1][2] == action and abs(float(rows[-1][1]) - a) < 1e-6:  # type: ignore[arg-type]
            rows[-1][1] = b
            rows[-1][3] = float(rows[-1][3]) + kwh  # type: ignore[arg-type]
            rows[-1][4] = float(rows[-1][4]) + cost  # type: ignore[arg-type]
        else:
            rows.append([a, b, action, kwh, cost])

    for i in range(grid.n):
        a, b = grid.t[i], grid.t[i + 1]
        dur = b - a
        pos = 0.0
        e_slot = sum(abs(kw) * (fb - fa) for fa, fb, kw in sch.runs[i]) * grid.hours[i]
        for fa, fb, kw in sch.runs[i]:
            if fa > pos + 1e-9:
                push(a + pos * dur, a + fa * dur, idle(i), 0.0, 0.0)
            e = kw * (fb - fa) * grid.hours[i]
            share = abs(e) / e_slot if e_slot > 0 else 0.0
            push(a + fa * dur, a + fb * dur, act(i, kw), e, costs[i] * share)
            pos = fb
        if pos < 1.0 - 1e-9:
            push(a + pos * dur, b, idle(i), 0.0, 0.0)
    return tuple(
        Interval(to_dt(float(r[0])), to_dt(float(r[1])), r[2], float(r[3]), float(r[4]))  # type: ignore[arg-type]
        for r in rows
    )


def _device_plan(d: PlannedDevice, sch: Schedule, ctx: Context, inputs: PlanInputs) -> DevicePlan:
    if isinstance(d, EV):
        return _ev_plan(d, sch, ctx, inputs)
    if isinstance(d, Battery):
        return _battery_plan(d, sch, ctx, inputs)
    if isinstance(d, HeatPump):
        return _hp_plan(d, sch, ctx, inputs)
    if isinstance(d, HotWaterTank):
        return _hw_plan(d, sch, ctx, inputs)
    return _relay_plan(d, sch, ctx, inputs)


def _waiting_reasons(grid: Grid, bl: list[tuple[int, int]], done: str, tz: str) -> list[str]:
    """Idle reason per slot: waiting for the next block, or done after the last."""
    out = [done] * grid.n
    starts = {b[0] for b in bl}
    nxt: int | None = None
    for i in range(grid.n - 1, -1, -1):
        if nxt is not None:
            out[i] = f"waiting for cheaper slots (next run {hhmm(grid.t[nxt], tz)})"
        if i in starts:
            nxt = i
    return out


def asap_cost(ev: EV, ctx: Context) -> float:
    """Cost of charging at full power from now until the target is met (the 'plug in and charge' baseline)."""
    grid = ctx.grid
    need = ev_need(ev).battery_kwh / ev.model.efficiency
    usable = usable_slots(ev, grid)
    cost = 0.0
    for i in range(grid.n):
        if need <= 1e-9:
            break
        if not usable[i]:
            continue
        take = min(ev.model.max_kw * grid.hours[i], need)
        cost += ctx.marginal(i, take)
        need -= take
    return cost


def _ev_plan(ev: EV, sch: Schedule, ctx: Context, inputs: PlanInputs) -> DevicePlan:
    grid, tz = ctx.grid, inputs.tz
    costs = _slot_costs(ctx, sch)
    active = [e > 1e-9 for e in sch.grid_kwh]
    bl = blocks(active)
    deadline = ts(ev.target.deadline) if ev.target and ev.target.deadline else None
    reason = [""] * grid.n
    for b in bl:
        r = ev_block_reason(grid, ctx, sch, b, deadline, tz, ev.model.continuous, inputs.currency)
        for i in range(b[0], b[1] + 1):
            reason[i] = r
    kraken = ev.model.kraken_controlled
    done = sch.notes[-1] if (sch.notes and not bl) else "target reached"
    waiting = _waiting_reasons(grid, bl, done, tz)
    boost = sch.boost or [False] * grid.n

    def act(i: int, kw: float) -> DeviceAction:
        if kraken:
            if boost[i]:
                return DeviceAction(ActionKind.REQUEST_BOOST, kw, None, "boost: " + reason[i])
            return DeviceAction(ActionKind.FOLLOW_KRAKEN, kw, None, "Kraken dispatch: " + reason[i])
        return DeviceAction(ActionKind.CHARGE, kw, None, reason[i])

    def idle(i: int) -> DeviceAction:
        if kraken:
            return DeviceAction(ActionKind.FOLLOW_KRAKEN, 0.0, None, "Kraken controls charging")
        return DeviceAction(ActionKind.STOP, 0.0, None, waiting[i])

    kwh = sum(sch.grid_kwh)
    cost = sum(costs)
    start = sch.info.get("start_soc_pct", ev.state.soc_pct)
    end = sch.info.get("end_soc_pct", start)
    by = f" by {hhmm(deadline, tz)}" if deadline is not None else ""
    if kwh > 1e-9:
        summary = (
            f"{start:.0f}% → {end:.0f}%{by}: {kwh:.1f} kWh in {sum(active)} slot(s), "
            f"{inputs.currency.money(cost)} (avg {inputs.currency.rate(cost / kwh)})"
        )
    else:
        summary = sch.notes[0] if sch.notes else "nothing to do"
    if sch.notes and kwh > 1e-9:
        summary += "; " + "; ".join(sch.notes)
    baseline = asap_cost(ev, ctx) if not kraken else None
    if baseline is not None and kwh > 1e-9:
        summary += f"; charging now would cost {inputs.currency.money(baseline)}"
    idle_action = DeviceAction(
        ActionKind.FOLLOW_KRAKEN if kraken else ActionKind.STOP, 0.0, None, "outside the plan"
    )
    return DevicePlan(
        ev.id,
        "ev",
        _intervals(grid, sch, costs, act, idle),
        idle_action,
        summary,
        tuple(sch.warnings),
        kwh,
        cost,
        baseline,
        {"soc_pct": end},
        any(boost),
    )


def _battery_plan(bat: Battery, sch: Schedule, ctx: Context, inputs: PlanInputs) -> DevicePlan:
    grid, tz = ctx.grid, inputs.tz
    costs = _slot_costs(ctx, sch)
    charge_bl = blocks([e > 1e-9 for e in sch.grid_kwh])
    dis_bl = blocks([e < -1e-9 for e in sch.grid_kwh])
    avg_c = _avg_over(ctx, sch, charge_bl)
    avg_d = _avg_over(ctx, sch, dis_bl)
    reason = [""] * grid.n
    cap = bat.model.capacity_kwh
    hi = cap * bat.model.max_soc_pct / 100.0
    room = sun_room_reasons(ctx, sch, hi, ts(inputs.now), tz)

    def pct(i: int) -> str:
        return f"{sch.state[i] / cap * 100.0:.0f}%"

    for b in charge_bl:
        r = store_block_reason(grid, ctx, sch, b, True, avg_d, tz, inputs.currency)
        if room[b[1]] is not None:
            r = f"{r}; stopping at {pct(b[1] + 1)}: {room[b[1]]}"
        for i in range(b[0], b[1] + 1):
            reason[i] = r
    for b in dis_bl:
        r = store_block_reason(grid, ctx, sch, b, False, avg_c, tz, inputs.currency)
        for i in range(b[0], b[1] + 1):
            reason[i] = r

    def act(i: int, kw: float) -> DeviceAction:
        cycle = abs(sch.state[i + 1] - sch.state[i]) < 1e-6  # charged and discharged back in the slot
        if len(sch.runs[i]) > 1 and ((kw >= 0) != (sch.grid_kwh[i] >= 0) or cycle):
            # a run against the slot's net direction: the slot is time-shared
            why = time_shared_reason(grid, i, tz, inputs.currency)
        else:
            why = reason[i] or ("charging" if kw >= 0 else "discharging")
        if kw >= 0:
            return DeviceAction(ActionKind.CHARGE, kw, None, why)
        return DeviceAction(ActionKind.DISCHARGE, -kw, None, why)

    cheapest = [math.inf] * (grid.n + 1)  # cheapest priced import before slot i
    for i in range(grid.n):
        p = math.inf if grid.is_unpriced(i) else grid.import_p[i]
        cheapest[i + 1] = min(cheapest[i], p)

    sun = sun_ahead_reasons(grid, sch, ts(inputs.now), tz) if inputs.solar else [None] * grid.n

    def idle(i: int) -> DeviceAction:
        why = _hold_reason(bat, sch, ctx, i, cheapest[i], inputs.currency)
        space = i < len(sch.state) and sch.state[i] < hi - 0.1
        if room[i] is not None and not grid.is_unpriced(i):
            why = f"not charging from the grid above {pct(i + 1)}: {room[i]}"
        elif why.startswith("holding: cycling") and space and sun[i] is not None:
            why = sun[i] or why
        return DeviceAction(ActionKind.HOLD, 0.0, None, why)

    end_pct = sch.state[-1] / cap * 100.0 if sch.state else bat.state.soc_pct
    charged = sum(e for e in sch.grid_kwh if e > 0)
    discharged = -sum(e for e in sch.grid_kwh if e < 0)
    cost = sum(costs)
    summary = (
        f"{bat.state.soc_pct:.0f}% → {end_pct:.0f}%: charges {charged:.1f} kWh, "
        f"discharges {discharged:.1f} kWh; "
        f"bill effect {inputs.currency.money(cost)} (0 = no battery)"
    )
    return DevicePlan(
        bat.id,
        "battery",
        _intervals(grid, sch, costs, act, idle),
        DeviceAction(ActionKind.HOLD, 0.0, None, "outside the plan"),
        summary,
        tuple(sch.warnings),
        sum(sch.grid_kwh),
        cost,
        0.0,
        {"soc_pct": end_pct},
    )


def _hold_reason(
    bat: Battery, sch: Schedule, ctx: Context, i: int, cheapest_before: float, currency: Currency
) -> str:
    grid = ctx.grid
    if grid.is_unpriced(i):
        return "holding: no price known for this slot"
    m = bat.model
    wear = m.cycle_cost_p
    if wear > 0.0:
        # what a kWh delivered here would save, against the cheapest way to have it stored: charged in an
        # earlier slot, or (the DP's shadow price) what the energy already stored is worth later
        basis = cheapest_before / (m.charge_efficiency * m.discharge_efficiency)
        if i < len(sch.shadow) and math.isfinite(sch.shadow[i][0]):
            basis = min(basis, -sch.shadow[i][0] / m.discharge_efficiency)
        price = grid.import_p[i] if ctx.background[i] > 1e-9 else grid.export_p[i]
        gain = price - basis
        if 0.0 < gain <= wear + 1e-9:
            wear_p = currency.minor(wear)
            return f"not discharging: {currency.rate(gain)} gain is below the {wear_p} cycle cost"
    return f"holding: cycling does not pay at {currency.rate(grid.import_p[i])}"


def _avg_over(ctx: Context, sch: Schedule, bl: list[tuple[int, int]]) -> float | None:
    kwh = cost = 0.0
    for b in bl:
        for i in range(b[0], b[1] + 1):
            kwh += abs(sch.grid_kwh[i])
            cost += abs(ctx.marginal(i, sch.grid_kwh[i]))
    return cost / kwh if kwh > 1e-9 else None


def _hp_plan(hp: HeatPump, sch: Schedule, ctx: Context, inputs: PlanInputs) -> DevicePlan:
    grid, tz = ctx.grid, inputs.tz
    costs = _slot_costs(ctx, sch)
    bl = blocks([e > 1e-9 for e in sch.grid_kwh])
    temps = sch.state
    reason = [""] * grid.n
    for b in bl:
        lo_end = comfort_at(hp.comfort, grid.t[b[1] + 1])[0]
        peak = max(temps[b[0] + 1 : b[1] + 2])
        verb = "pre-heating" if peak > lo_end + 0.2 else "heating"
        r = (
            f"{verb} {span(grid, b, tz)} to {peak:.1f}°C: avg {inputs.currency.rate(avg_price(ctx, sch, b))}"
            f"{price_tag(grid, b)}"
        )
        for i in range(b[0], b[1] + 1):
            reason[i] = r

    def act(i: int, kw: float) -> DeviceAction:
        return DeviceAction(ActionKind.HEAT, kw, round(temps[i + 1], 1), reason[i])

    def idle(i: int) -> DeviceAction:
        lo = comfort_at(hp.comfort, grid.t[i])[0]
        return DeviceAction(
            ActionKind.HOLD, 0.0, lo, f"coasting: comfort kept without heating (floor {lo:.1f}°C)"
        )

    kwh = sum(sch.grid_kwh)
    cost = sum(costs)
    summary = (
        f"{hp.state.indoor_c:.1f}°C → {temps[-1] if temps else hp.state.indoor_c:.1f}°C, "
        f"{kwh:.1f} kWh, {inputs.currency.money(cost)}, avg COP {sch.info.get('avg_cop', 0.0):.1f}"
    )
    return DevicePlan(
        hp.id,
        "heat_pump",
        _intervals(grid, sch, costs, act, idle),
        DeviceAction(ActionKind.HOLD, 0.0, hp.comfort.min_c, "outside the plan: own thermostat"),
        summary,
        tuple(sch.warnings),
        kwh,
        cost,
        None,
        {"indoor_c": temps[-1] if temps else hp.state.indoor_c},
    )


def _hw_plan(tank: HotWaterTank, sch: Schedule, ctx: Context, inputs: PlanInputs) -> DevicePlan:
    grid, tz = ctx.grid, inputs.tz
    costs = _slot_costs(ctx, sch)
    bl = blocks([e > 1e-9 for e in sch.grid_kwh])
    needs = sorted(ts(nd.at) for nd in tank.needs)
    reason = [""] * grid.n
    for b in bl:
        end = grid.t[b[1] + 1]
        nxt = next((t for t in needs if t >= end - 1e-6), None)
        ready = f" ready for {hhmm(nxt, tz)}" if nxt is not None else ""
        r = (
            f"hot-water boost {span(grid, b, tz)}{ready}: cheapest slots, "
            f"avg {inputs.currency.rate(avg_price(ctx, sch, b))}{price_tag(grid, b)}"
        )
        for i in range(b[0], b[1] + 1):
            reason[i] = r

    def act(i: int, kw: float) -> DeviceAction:
        return DeviceAction(ActionKind.HOT_WATER_BOOST, kw, None, reason[i])

    def idle(i: int) -> DeviceAction:
        return DeviceAction(ActionKind.HOT_WATER_OFF, 0.0, None, "enough hot water stored for the next need")

    kwh = sum(sch.grid_kwh)
    cost = sum(costs)
    return DevicePlan(
        tank.id,
        "hot_water",
        _intervals(grid, sch, costs, act, idle),
        DeviceAction(ActionKind.HOT_WATER_OFF, 0.0, None, "outside the plan"),
        f"{kwh:.1f} kWh of boost, {inputs.currency.money(cost)}; {len(needs)} need(s)",
        tuple(sch.warnings),
        kwh,
        cost,
        None,
        {"energy_kwh": sch.state[-1] if sch.state else tank.energy_kwh},
    )


def _relay_plan(load: RelayLoad, sch: Schedule, ctx: Context, inputs: PlanInputs) -> DevicePlan:
    grid, tz = ctx.grid, inputs.tz
    costs = _slot_costs(ctx, sch)
    bl = blocks([e > 1e-9 for e in sch.grid_kwh])
    by = f" before {hhmm(ts(load.deadline), tz)}" if load.deadline else ""
    reason = [""] * grid.n
    for b in bl:
        r = (
            f"on {span(grid, b, tz)}: cheapest slots{by}, "
            f"avg {inputs.currency.rate(avg_price(ctx, sch, b))}{price_tag(grid, b)}"
        )
        for i in range(b[0], b[1] + 1):
            reason[i] = r
    waiting = _waiting_reasons(grid, bl, "done", tz)

    def act(i: int, kw: float) -> DeviceAction:
        return DeviceAction(ActionKind.ON, kw, None, reason[i])

    def idle(i: int) -> DeviceAction:
        return DeviceAction(ActionKind.OFF, 0.0, None, waiting[i])

    kwh = sum(sch.grid_kwh)
    cost = sum(costs)
    return DevicePlan(
        load.id,
        "relay",
        _intervals(grid, sch, costs, act, idle),
        DeviceAction(ActionKind.OFF, 0.0, None, "outside the plan"),
        f"{kwh:.1f} of {load.energy_kwh:.1f} kWh, {inputs.currency.money(cost)}",
        tuple(sch.warnings),
        kwh,
        cost,
        None,
        {"kwh": kwh},
    )
