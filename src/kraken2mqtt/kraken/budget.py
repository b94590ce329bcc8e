"""A per-account request budget (token bucket) that every Kraken call draws from.

The bucket refills at ``points_per_hour``; what the server reports (``rateLimit`` on GB, ``rateLimitInfo``
elsewhere) can only make it stricter. ``slowdown`` tells the poller how much to stretch its intervals so
that the allowance is never actually reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from kraken2mqtt.clock import Clock
from kraken2mqtt.kraken.errors import RateLimitedError


@dataclass(frozen=True, slots=True)
class ServerAllowance:
    """What the server says about the rate limit."""

    limit: int
    remaining: int
    resets_at: float | None = None  # Unix time of the next allowance, when known
    blocked: bool = False


class RequestBudget:
    def __init__(self, clock: Clock, *, points_per_hour: float = 120.0, burst: float | None = None) -> None:
        if points_per_hour <= 0:
            raise ValueError("points_per_hour must be positive")
        self._clock = clock
        self.points_per_hour = points_per_hour
        self.capacity = burst if burst is not None else max(5.0, points_per_hour / 6.0)
        self._rate = points_per_hour / 3600.0
        self._tokens = self.capacity
        self._stamp = clock.monotonic()
        self._blocked_until = 0.0  # monotonic
        self.server: ServerAllowance | None = None

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` points can be spent (0 if now)."""
        self._refill()
        blocked = max(0.0, self._blocked_until - self._clock.monotonic())
        missing = max(0.0, cost - self._tokens)
        return max(blocked, missing / self._rate)

    async def acquire(self, cost: float = 1.0, *, max_wait: float = 60.0) -> None:
        """Spend ``cost`` points, waiting (on the clock) up to ``max_wait`` seconds for them."""
        wait = self.wait_time(cost)
        if wait > max_wait:
            raise RateLimitedError(
                f"request budget spent; next request possible in {wait:.0f} s", retry_after=wait
            )
        if wait > 0:
            await self._clock.sleep(wait)
            self._refill()
        self._tokens -= cost

    def block_for(self, seconds: float) -> None:
        """The server said "too many requests": spend nothing until ``seconds`` have passed."""
        self._blocked_until = max(self._blocked_until, self._clock.monotonic() + max(1.0, seconds))
        self._refill()
        self._tokens = min(self._tokens, 0.0)

    def update_from_server(self, allowance: ServerAllowance) -> None:
        """Make the bucket no more generous than the server's remaining allowance."""
        self.server = allowance
        self._refill()
        if allowance.limit > 0:
            # Keep the same share of our bucket as the server has left of its allowance.
            share = max(0.0, min(1.0, allowance.remaining / allowance.limit))
            self._tokens = min(self._tokens, self.capacity * share)
        if allowance.blocked:
            reset_in = 3600.0
            if allowance.resets_at is not None:
                reset_in = max(1.0, allowance.resets_at - self._clock.now().timestamp())
            self.block_for(reset_in)

    @property
    def slowdown(self) -> float:
        """Factor ≥ 1 by which polling intervals should be stretched: 1 while over half the bucket
        (and of the server's allowance) is left, growing to 8 as it empties."""
        self._refill()
        share = self._tokens / self.capacity
        if self.server is not None and self.server.limit > 0:
            share = min(share, self.server.remaining / self.server.limit)
        if share >= 0.5:
            return 1.0
        return min(8.0, 0.5 / max(share, 0.0625))
