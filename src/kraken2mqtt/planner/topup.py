"""Auto top-up for smart prepay: forecast the balance from the plan and the tariff, warn before it would
run low, and propose a top-up amount (rounded up to the top-up step, plus a buffer)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .model import Prepay, TopUpAdvice
from .money import GBP, Currency
from .slots import Grid, to_dt


def balance_forecast(
    prepay: Prepay, grid: Grid, slot_cost_p: Sequence[float], standing_p_per_day: float
) -> list[float]:
    """Balance at each slot boundary (n + 1 values)."""
    out = [prepay.balance_p]
    b = prepay.balance_p
    for i in range(grid.n):
        b -= slot_cost_p[i] + standing_p_per_day * grid.hours[i] / 24.0
        out.append(b)
    return out


def advise_topup(
    prepay: Prepay,
    grid: Grid,
    slot_cost_p: Sequence[float],
    standing_p_per_day: float,
    tz_fmt: str = "%a %H:%M",
    currency: Currency = GBP,
) -> TopUpAdvice:
    money = currency.money
    bal = balance_forecast(prepay, grid, slot_cost_p, standing_p_per_day)
    k_min = min(range(len(bal)), key=bal.__getitem__)
    low_at = None
    for k in range(1, len(bal)):
        if bal[k] < prepay.warn_below_p <= bal[k - 1]:
            frac = (bal[k - 1] - prepay.warn_below_p) / (bal[k - 1] - bal[k])
            low_at = grid.t[k - 1] + frac * (grid.t[k] - grid.t[k - 1])
            break
    if bal[0] < prepay.warn_below_p:
        low_at = grid.t[0]
    if low_at is None:
        return TopUpAdvice(
            prepay.balance_p,
            bal[k_min],
            to_dt(grid.t[k_min]) if grid.t else to_dt(0.0),
            None,
            0.0,
            f"balance stays above {money(prepay.warn_below_p)} over the plan (lowest {money(bal[k_min])})",
        )
    short = prepay.warn_below_p - bal[k_min] + prepay.buffer_p
    step = max(prepay.topup_step_p, 1.0)
    propose = math.ceil(short / step - 1e-9) * step
    when = to_dt(low_at)
    return TopUpAdvice(
        prepay.balance_p,
        bal[k_min],
        to_dt(grid.t[k_min]),
        when,
        propose,
        f"balance will fall below {money(prepay.warn_below_p)} at {when:%Y-%m-%d %H:%M}Z "
        f"(lowest {money(bal[k_min])}): top up {money(propose)}",
    )
