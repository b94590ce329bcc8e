"""Reasons a person can read, e.g. "charging 23:30–01:00: cheapest 3 slots before 07:00, avg 7.1p/kWh"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .costs import Context
from .money import GBP, Currency
from .schedule import Schedule
from .slots import Grid, zone

Block = tuple[int, int]  # slots [first, last] inclusive


def hhmm(t: float, tz: str) -> str:
    return datetime.fromtimestamp(t, zone(tz)).strftime("%H:%M")


def span(grid: Grid, block: Block, tz: str) -> str:
    return f"{hhmm(grid.t[block[0]], tz)}–{hhmm(grid.t[block[1] + 1], tz)}"


def blocks(active: Sequence[bool]) -> list[Block]:
    out: list[Block] = []
    start = -1
    for i, a in enumerate(active):
        if a and start < 0:
            start = i
        elif not a and start >= 0:
            out.append((start, i - 1))
            start = -1
    if start >= 0:
        out.append((start, len(active) - 1))
    return out


def avg_price(ctx: Context, sch: Schedule, block: Block) -> float:
    """Average marginal price (p/kWh) the device pays (or saves, if negative energy) in a block."""
    kwh = cost = 0.0
    for i in range(block[0], block[1] + 1):
        e = sch.grid_kwh[i]
        kwh += abs(e)
        cost += abs(ctx.marginal(i, e))
    return cost / kwh if kwh > 1e-12 else 0.0


def price_tag(grid: Grid, block: Block) -> str:
    tags = []
    rng = range(block[0], block[1] + 1)
    if any(grid.dispatch[i] for i in rng):
        tags.append("Intelligent dispatch (off-peak)")
    if any(grid.forecast[i] for i in rng):
        tags.append("price forecast, not yet published")
    return f" [{'; '.join(tags)}]" if tags else ""


def slots_word(k: int) -> str:
    return f"{k} slot" if k == 1 else f"{k} slots"


def ev_block_reason(
    grid: Grid,
    ctx: Context,
    sch: Schedule,
    block: Block,
    deadline: float | None,
    tz: str,
    continuous: bool,
    currency: Currency = GBP,
) -> str:
    k = block[1] - block[0] + 1
    by = f" before {hhmm(deadline, tz)}" if deadline is not None else " in the horizon"
    what = "cheapest continuous block" if continuous else f"cheapest {slots_word(k)}"
    return (
        f"charging {span(grid, block, tz)}: {what}{by}, avg {currency.rate(avg_price(ctx, sch, block))}"
        f"{price_tag(grid, block)}"
    )


def store_block_reason(
    grid: Grid,
    ctx: Context,
    sch: Schedule,
    block: Block,
    charging: bool,
    other_avg: float | None,
    tz: str,
    currency: Currency = GBP,
) -> str:
    p, rate = avg_price(ctx, sch, block), currency.rate
    if charging:
        tail = f"; used later when it saves avg {rate(other_avg)}" if other_avg is not None else ""
        return f"charging {span(grid, block, tz)}: cheap at avg {rate(p)}{tail}{price_tag(grid, block)}"
    tail = f"; stored at avg {rate(other_avg)}" if other_avg is not None else ""
    return f"discharging {span(grid, block, tz)}: saves avg {rate(p)}{tail}{price_tag(grid, block)}"


def time_shared_reason(grid: Grid, i: int, tz: str, currency: Currency = GBP) -> str:
    """The reason of a slot split between charging and discharging (never both at once): export pays more
    than import costs, or a negative price makes losing energy pay."""
    return (
        f"alternating {span(grid, (i, i), tz)}: charging and discharging in turn pays "
        f"(import {currency.rate(grid.import_p[i])}, export {currency.rate(grid.export_p[i])})"
    )


def _day_word(t: float, now: float, tz: str) -> str:
    day = datetime.fromtimestamp(t, zone(tz)).date()
    today = datetime.fromtimestamp(now, zone(tz)).date()
    if day == today:
        return "today"
    if (day - today).days == 1:
        return "tomorrow"
    return day.strftime("%a")


def sun_room_reasons(ctx: Context, sch: Schedule, hi: float, now: float, tz: str) -> list[str | None]:
    """Per slot, why a battery stops charging from the grid short of ``hi`` (kWh): the grid-charge guard
    (sun_guard.py) keeps room for the sun an optimistic estimate (``PlanInputs.solar_high``) would bring.
    "room kept for up to 7.5 kWh of sun tomorrow 09:00–15:00 (the sunniest of the last days)" where the
    stored energy after the slot is at a guard bound below ``hi``; None elsewhere."""
    grid = ctx.grid
    n = grid.n
    if not grid.sun_extra or len(sch.ceiling) != n + 1 or len(sch.state) != n + 1:
        return [None] * n
    surplus = [max(0.0, grid.sun_extra[i] - ctx.background[i]) for i in range(n)]
    spare = blocks([s > 1e-3 for s in surplus])
    out: list[str | None] = [None] * n
    for i in range(n):
        bound = sch.ceiling[i + 1]
        if bound >= hi - 0.1 or sch.state[i + 1] < bound - 0.05:
            continue
        ahead = next(((a, b) for a, b in spare if a > i), None)
        if ahead is None:
            continue
        a, b = ahead
        kwh = sum(surplus[a : b + 1])
        when = f"{_day_word(grid.t[a], now, tz)} {span(grid, ahead, tz)}"
        out[i] = f"room kept for up to {kwh:.1f} kWh of sun {when} (the sunniest of the last days)"
    return out


def sun_ahead_reasons(grid: Grid, sch: Schedule, now: float, tz: str) -> list[str | None]:
    """Per slot, why a store is not charged from the grid though it has room: the sun will fill it.
    "not charging from the grid: 6.2 kWh of sun expected tomorrow 09:00–15:00" for the slots before each
    stretch of spare sun (the forecast sun beyond the house's load) the plan stores; None elsewhere."""
    n = grid.n
    spare = blocks([grid.house_kwh[i] < -1e-3 for i in range(n)])
    out: list[str | None] = [None] * n
    nxt: str | None = None
    bi = len(spare) - 1
    for i in range(n - 1, -1, -1):
        while bi >= 0 and spare[bi][0] > i:
            a, b = spare[bi]
            stored = sum(max(0.0, min(sch.grid_kwh[j], -grid.house_kwh[j])) for j in range(a, b + 1))
            if stored >= 0.1:
                when = f"{_day_word(grid.t[a], now, tz)} {span(grid, (a, b), tz)}"
                nxt = f"not charging from the grid: {stored:.1f} kWh of sun expected {when}"
            bi -= 1
        if grid.house_kwh[i] >= -1e-3:
            out[i] = nxt
    return out
