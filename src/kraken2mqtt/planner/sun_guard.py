"""Grid-charge guard: never fill a battery from the grid with energy the sun would fill before it is used.

The battery plan counts on the solar forecast; when the sun comes out brighter than that, grid energy
bought at night is still in the battery when the full battery spills the sun to the grid at the export
price: bought at the import price, in effect sold at the export price. The guard bounds the stored energy
at each slot boundary by the room an *optimistic* sun (``PlanInputs.solar_high``) would need later.

Per slot ``k`` the house's net flow under the optimistic sun is the planned background less the extra
sun (``Grid.sun_extra``); as an inverter in self-consumption does, a surplus goes into the battery (up to
its charge power) and a deficit comes out of it (up to its discharge power). The room needed at boundary
``k`` to store all later surplus without spilling is, backwards from the horizon's end,
``R_k = max(0, u_k + R_{k+1})`` (``u_k``: the stored change, + charging, − discharging), so the ceiling
is ``hi − R_k``. It binds grid charging only: it never forces the battery down further than self-consumption
would take it (the ceiling is at least the stored energy run forward in self-consumption under the
optimistic sun, which the plan's own, smaller sun can always follow), and after a slot whose import price
is at or below its export price that run restarts from full (buying then is no loss even if the sun
spills later). Pure: numbers in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence


def grid_charge_ceiling(
    s0: float,
    lo: float,
    hi: float,
    net_kwh: Sequence[float],
    hours: Sequence[float],
    cheap: Sequence[bool],
    max_charge_kw: float,
    max_discharge_kw: float,
    eta_c: float,
    eta_d: float,
) -> list[float]:
    """Upper bound on the stored energy (kWh) at each of the ``n + 1`` slot boundaries.

    ``net_kwh[k]``: the house's net grid flow in slot ``k`` under the optimistic sun, without the battery
    (negative: surplus sun); ``cheap[k]``: buying in slot ``k`` costs no more than exporting."""
    n = len(net_kwh)
    u = [
        min(-b, max_charge_kw * h) * eta_c if b < 0.0 else -min(b, max_discharge_kw * h) / eta_d
        for b, h in zip(net_kwh, hours, strict=True)
    ]
    room = [0.0] * (n + 1)
    for k in range(n - 1, -1, -1):
        room[k] = min(hi - lo, max(0.0, u[k] + room[k + 1]))
    # Never forcing: the ceiling is at least where self-consumption from the stored energy (or from
    # full, after a cheap slot) would take the battery, as the plan's own sun is below the optimistic one.
    own = min(hi, max(lo, s0))
    out = [max(s0, hi - room[0])]
    for k in range(n):
        own = hi if cheap[k] else min(hi, max(lo, own + u[k]))
        out.append(max(lo, hi - room[k + 1], own))
    return out
