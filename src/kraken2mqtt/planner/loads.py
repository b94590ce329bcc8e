"""Flexible on/off loads on a relay (e.g. an immersion heater): run ``energy_kwh`` in the cheapest time
between ``earliest`` and ``deadline``. Intelligent Octopus dispatch slots are off-peak for the whole house,
so these loads move into them whenever that is cheapest. A relay is either on (at its power) or off, so a
partial slot means "on for the first part of the slot"."""

from __future__ import annotations

from .costs import Context
from .ev import cheapest_fill
from .model import RelayLoad
from .schedule import Schedule, spread_runs
from .slots import Grid, ts

_EPS = 1e-9


def load_usable(load: RelayLoad, ctx: Context) -> list[bool]:
    return load_window(load, ctx.grid)


def load_window(load: RelayLoad, g: Grid) -> list[bool]:
    lo = ts(load.earliest) if load.earliest else -1e18
    hi = ts(load.deadline) if load.deadline else 1e18
    return [g.t[i] >= lo - 1.0 and g.t[i + 1] <= hi + 1.0 for i in range(g.n)]


def plan_relay(load: RelayLoad, ctx: Context) -> Schedule:
    g = ctx.grid
    n = g.n
    sch = Schedule.idle(n)
    if load.energy_kwh <= _EPS:
        sch.notes.append("nothing to do")
        return sch
    usable = load_usable(load, ctx)
    # on/off: a slot is usable only if the import limit leaves room for the full power
    power = [
        load.power_kw if usable[i] and ctx.load_room(i) >= load.power_kw * g.hours[i] - 1e-9 else 0.0
        for i in range(n)
    ]
    alloc, unmet = cheapest_fill(ctx, [i for i in range(n) if usable[i]], power, load.energy_kwh)
    for i, kwh in alloc.items():
        sch.grid_kwh[i] = kwh
        sch.runs[i] = spread_runs(kwh, g.hours[i], load.power_kw, load.power_kw)
    sch.info["planned_kwh"] = sum(alloc.values())
    if unmet > 1e-6:
        sch.warnings.append(f"only {sum(alloc.values()):.1f} of {load.energy_kwh:.1f} kWh fit in the window")
    return sch
