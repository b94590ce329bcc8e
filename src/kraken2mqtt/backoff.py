"""Jittered exponential backoff, shared by the Kraken client, auth and the MQTT reconnect loop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with "full jitter": delay ∈ [base·2^n / 2, base·2^n], capped.

    Half the nominal delay is always kept so that a burst of failures never turns into a burst of
    immediate retries.
    """

    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Record one failure and return how long to wait before the next try."""
        nominal = min(self.cap, self.base * (2.0 ** min(self.failures, 32)))
        self.failures += 1
        return nominal / 2.0 + self.rng.uniform(0.0, nominal / 2.0)

    def reset(self) -> None:
        self.failures = 0
