"""Simulated time for the sandbox: a :class:`~kraken2mqtt.clock.Clock` that runs ``speed`` times faster than
real time.

``now()`` and ``monotonic()`` are in *simulated* seconds (so token lifetimes, poll intervals and request
budgets all scale together); ``sleep(s)`` waits ``s / speed`` real seconds. Reads are thread-safe: the fake
Kraken server's threads share the clock with the daemon.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

MAX_SPEED = 100_000.0


class ScaledClock:
    """Simulated time starting at ``start`` and running ``speed``× faster than the real monotonic clock.

    ``real`` is the real time source (seconds, monotonic); tests may inject one.
    """

    def __init__(
        self, start: datetime, speed: float = 1.0, *, real: Callable[[], float] = time.monotonic
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        _check_speed(speed)
        self._lock = threading.Lock()
        self._real = real
        self._start = start
        self._speed = float(speed)
        self._anchor_real = real()
        self._anchor_sim = 0.0  # simulated seconds since start at _anchor_real

    @property
    def speed(self) -> float:
        with self._lock:
            return self._speed

    def _elapsed(self) -> float:
        """Simulated seconds since ``start``; call with the lock held."""
        return self._anchor_sim + (self._real() - self._anchor_real) * self._speed

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        with self._lock:
            return 1000.0 + self._elapsed()

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (simulated time stays continuous)."""
        _check_speed(speed)
        with self._lock:
            self._anchor_sim = self._elapsed()
            self._anchor_real = self._real()
            self._speed = float(speed)

    def skip(self, seconds: float) -> None:
        """Jump simulated time forward (never backward)."""
        if seconds < 0:
            raise ValueError("simulated time cannot go backwards")
        with self._lock:
            self._anchor_sim += seconds

    def real_seconds(self, simulated_seconds: float) -> float:
        """How long ``simulated_seconds`` take in real time at the current speed."""
        return max(0.0, simulated_seconds) / self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.real_seconds(seconds))


def _check_speed(speed: float) -> None:
    if not 0 < speed <= MAX_SPEED:
        raise ValueError(f"speed must be in (0, {MAX_SPEED:g}], got {speed!r}")
