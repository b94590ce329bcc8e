"""ScaledClock: simulated time at a multiple of real time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.clock import Clock
from kraken2mqtt.sandbox.sim_clock import ScaledClock

START = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)


class FakeReal:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


def test_runs_speed_times_faster() -> None:
    real = FakeReal()
    clock = ScaledClock(START, 60.0, real=real)
    mono = clock.monotonic()
    assert clock.now() == START
    real.t += 2.5
    assert clock.now() == START + timedelta(minutes=2.5)
    assert clock.monotonic() - mono == pytest.approx(150.0)


def test_speed_change_keeps_time_continuous_and_skip_jumps() -> None:
    real = FakeReal()
    clock = ScaledClock(START, 10.0, real=real)
    real.t += 1
    clock.set_speed(100.0)
    assert clock.now() == START + timedelta(seconds=10)
    real.t += 1
    assert clock.now() == START + timedelta(seconds=110)
    clock.skip(3600)
    assert clock.now() == START + timedelta(seconds=3710)
    with pytest.raises(ValueError, match="backwards"):
        clock.skip(-1)
    assert clock.speed == 100.0 and clock.real_seconds(50) == 0.5


@pytest.mark.parametrize("speed", [0, -1, 1e9])
def test_rejects_bad_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START, speed)


def test_rejects_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ScaledClock(datetime(2026, 1, 1), 1.0)


async def test_sleep_takes_seconds_over_speed_in_real_time() -> None:
    clock: Clock = ScaledClock(START, 1000.0)
    before_real, before_sim = time.monotonic(), clock.now()
    await clock.sleep(60)  # one simulated minute
    real = time.monotonic() - before_real
    assert 0.05 <= real < 1.0
    assert clock.now() - before_sim >= timedelta(seconds=59)


def test_now_is_safe_from_threads() -> None:
    clock = ScaledClock(START, 1000.0)
    seen: list[datetime] = []

    def reader() -> None:
        for _ in range(2000):
            seen.append(clock.now())

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(200):
        clock.set_speed(500.0)
        clock.set_speed(1000.0)
    for t in threads:
        t.join()
    assert len(seen) == 8000 and all(s >= START for s in seen)
