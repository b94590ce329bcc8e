from __future__ import annotations

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken.budget import RequestBudget, ServerAllowance
from kraken2mqtt.kraken.errors import RateLimitedError


async def test_burst_then_refill_on_the_clock() -> None:
    clock = ManualClock()
    budget = RequestBudget(clock, points_per_hour=360, burst=5)  # 1 point per 10 s
    for _ in range(5):
        await budget.acquire()
    assert clock.slept == []
    await budget.acquire()
    assert clock.slept == [pytest.approx(10.0)]


async def test_refuses_waits_longer_than_allowed() -> None:
    budget = RequestBudget(ManualClock(), points_per_hour=36, burst=1)
    await budget.acquire()
    with pytest.raises(RateLimitedError) as info:
        await budget.acquire(max_wait=5)
    assert info.value.retry_after == pytest.approx(100.0)


def test_server_allowance_makes_it_stricter_and_slows_polling() -> None:
    clock = ManualClock()
    budget = RequestBudget(clock, points_per_hour=120, burst=20)
    assert budget.slowdown == 1.0
    budget.update_from_server(ServerAllowance(limit=1000, remaining=100))
    assert budget.available <= 2.0 + 1e-9
    assert budget.slowdown > 4.0
    budget.update_from_server(ServerAllowance(limit=1000, remaining=900))
    clock.advance(3600)
    assert budget.slowdown == 1.0


def test_blocked_until_reset() -> None:
    clock = ManualClock()
    budget = RequestBudget(clock, points_per_hour=120)
    budget.update_from_server(
        ServerAllowance(limit=100, remaining=0, resets_at=clock.now().timestamp() + 600, blocked=True)
    )
    assert budget.wait_time() == pytest.approx(600.0)
    clock.advance(601)
    assert budget.wait_time() == 0.0
