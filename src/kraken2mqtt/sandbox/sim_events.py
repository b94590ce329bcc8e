"""What the simulated world reports: human-readable one-liners with a simulated timestamp."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kraken2mqtt.sandbox.sim_account import UK


@dataclass(frozen=True)
class WorldEvent:
    at: datetime
    kind: str  # ev | dispatch | boost | control | prices | battery | heat_pump | hot_water | prepay
    text: str

    def __str__(self) -> str:
        return f"{self.at.astimezone(UK):%a %H:%M} {self.text}"


def span(start: datetime, end: datetime) -> str:
    """``HH:MM–HH:MM`` in UK time."""
    return f"{start.astimezone(UK):%H:%M}–{end.astimezone(UK):%H:%M}"
