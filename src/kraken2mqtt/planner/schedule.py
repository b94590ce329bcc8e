"""A device's planned use of the grid, slot by slot (the internal form; :mod:`.plan` turns it into
:class:`~.model.DevicePlan` intervals with actions and reasons)."""

from __future__ import annotations

from dataclasses import dataclass, field

# One run inside a slot: (start fraction, end fraction, grid-side kW; negative = supplying the house/grid).
Run = tuple[float, float, float]


@dataclass(slots=True)
class Schedule:
    grid_kwh: list[float]  # per slot, signed (import positive)
    runs: list[list[Run]]  # per slot, the non-idle runs
    state: list[float] = field(default_factory=list)  # per boundary (n + 1): SoC kWh, °C or tank kWh
    warnings: list[str] = field(default_factory=list)
    boost: list[bool] = field(default_factory=list)  # per slot: ask Kraken for a boost (Intelligent EVs)
    info: dict[str, float] = field(default_factory=dict)  # end state etc. for the summary
    notes: list[str] = field(default_factory=list)  # reason fragments for the summary
    shadow: list[tuple[float, float]] = field(default_factory=list)  # stores: cost-to-go slopes after slot
    #: Batteries: the grid-charge guard's bound on the stored energy per slot boundary (sun_guard.py).
    ceiling: list[float] = field(default_factory=list)

    @staticmethod
    def idle(n: int) -> Schedule:
        return Schedule([0.0] * n, [[] for _ in range(n)])


def spread_runs(kwh: float, hours: float, min_kw: float, max_kw: float, align_end: bool = False) -> list[Run]:
    """Runs delivering ``kwh`` in a slot of ``hours``: spread evenly, or at ``min_kw`` for part of it."""
    if kwh <= 1e-9 or hours <= 0.0:
        return []
    kw = kwh / hours
    if kw >= min_kw or min_kw <= 0.0:
        return [(0.0, 1.0, min(kw, max_kw) if max_kw > 0 else kw)]
    frac = kwh / (min_kw * hours)
    return [(1.0 - frac, 1.0, min_kw)] if align_end else [(0.0, frac, min_kw)]
