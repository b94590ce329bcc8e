"""What a device's grid energy costs in a slot, given everything else on the meter.

The site meter nets all devices: with ``b`` kWh already flowing (house load plus the other devices;
negative = exporting) a device adding ``e`` kWh changes the bill by ``h(b + e) - h(b)`` where ``h`` bills
imports at the import price and credits exports at the export price. Each device is planned against this
marginal cost; :mod:`.joint` iterates so that every device sees the others' final plans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .slots import Grid

INF = math.inf


def bill(g: float, import_p: float, export_p: float) -> float:
    """Cost (pence) of a net grid flow of ``g`` kWh in one slot (negative = export)."""
    return import_p * g if g >= 0.0 else export_p * g


@dataclass(slots=True)
class Context:
    """What one device is planned against."""

    grid: Grid
    background: list[float]  # kWh per slot of house load + other devices (signed)
    import_cap: list[float]  # max additional import (kWh) this device may add per slot (INF = none)
    export_cap: list[float]  # max additional export (kWh, positive number) per slot
    # Extra sources a load may use, per slot: (kWh, p/kWh, takes import room). Offered by batteries in
    # the joint plan: energy they could discharge, or import room they would give up charging.
    offers: list[list[tuple[float, float, bool]]] | None = None
    # Import room flexible loads would give up for a store, per slot: (kWh, p/kWh it costs the site).
    room: list[list[tuple[float, float]]] | None = None

    def marginal(self, i: int, e: float) -> float:
        b = self.background[i]
        ip, ep = self.grid.import_p[i], self.grid.export_p[i]
        return bill(b + e, ip, ep) - bill(b, ip, ep)

    def load_room(self, i: int) -> float:
        """kWh of load that fits in slot ``i`` under the import limit (incl. room batteries would give up)."""
        room = self.import_cap[i]
        if self.offers is not None:
            room += sum(kwh for kwh, _, frees in self.offers[i] if frees)
        return room

    def load_pieces(self, i: int, e_max: float) -> list[tuple[float, float]]:
        """Convex pieces (kWh, p/kWh) of adding up to ``e_max`` kWh of load in slot ``i``."""
        if self.offers is None or not self.offers[i]:
            return self._meter_pieces(i, e_max)
        limit = min(e_max, self.load_room(i))
        pieces = self._meter_pieces(i, limit)
        pieces += [(kwh, price) for kwh, price, _ in self.offers[i]]
        pieces.sort(key=lambda p: p[1])
        out: list[tuple[float, float]] = []
        left = limit
        for kwh, price in pieces:
            take = min(kwh, left)
            if take > 0.0:
                out.append((take, price))
                left -= take
            if left <= 0.0:
                break
        return out

    def _meter_pieces(self, i: int, e_max: float) -> list[tuple[float, float]]:
        e_max = min(e_max, self.import_cap[i])
        if e_max <= 0.0:
            return []
        b = self.background[i]
        ip, ep = self.grid.import_p[i], self.grid.export_p[i]
        if b >= 0.0:
            return [(e_max, ip)]
        first = min(-b, e_max)
        rest = e_max - first
        if rest <= 0.0:
            return [(first, ep)]
        if ep <= ip:
            return [(first, ep), (rest, ip)]
        # non-convex (export worth more than import): use the average, i.e. the convex envelope
        return [(e_max, (first * ep + rest * ip) / e_max)]


def make_context(grid: Grid, import_kw: float | None, export_kw: float | None) -> Context:
    n = grid.n
    return Context(
        grid,
        list(grid.house_kwh),
        [INF] * n if import_kw is None else [0.0] * n,
        [INF] * n if export_kw is None else [0.0] * n,
    )
