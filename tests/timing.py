"""How slow this machine is, for the few tests that run real processes in real time (a Raspberry Pi, qemu-user
emulation, a CI runner shared with other jobs are 3-20x slower than a development machine).

:func:`slowness` is measured once per session: the mean time of a small pure-Python workload over
:data:`REFERENCE_SECONDS`, the time it takes on the (already loaded) machines the limits were set on; never
below 1, so a fast machine keeps the limits as written. ``K2M_TEST_SLOWNESS=5`` sets it by hand. Use it for
limits (``scaled(30)``) and for simulated-time speed-ups (``speed / slowness()``), never to sleep.
"""

from __future__ import annotations

import os
import statistics
import time
from functools import cache

#: The workload's mean where the timing-sensitive tests were tuned (2 cores shared by several suites):
#: ~20 ms idle, 25-50 ms loaded. Measured under a 10 % CPU quota (cgroup ``cpu.cfs_quota_us``): ~100 ms.
REFERENCE_SECONDS = 0.025
MAX_SLOWNESS = 50.0


def _workload() -> float:
    start = time.perf_counter()
    sum(i * i for i in range(200_000))
    return time.perf_counter() - start


@cache
def slowness() -> float:
    """≥ 1: how many times slower than the reference machine this one runs Python now."""
    if forced := os.environ.get("K2M_TEST_SLOWNESS"):
        return min(MAX_SLOWNESS, max(1.0, float(forced)))
    # The mean, not the median: a throttled or shared CPU shows in sustained throughput, not in one burst.
    mean = statistics.fmean(_workload() for _ in range(8))
    return min(MAX_SLOWNESS, max(1.0, mean / REFERENCE_SECONDS))


def scaled(seconds: float) -> float:
    """A time limit for real-time work, stretched by :func:`slowness`."""
    return seconds * slowness()
