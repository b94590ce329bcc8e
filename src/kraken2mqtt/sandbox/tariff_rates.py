"""The simulated tariffs' unit rates over time: which agreements are in force, and the rate of each
half-hour (``applicableRates``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from kraken2mqtt.sandbox.sim_account import UK, SimAgreement, SimMeterPoint, SimRate, SimTariff


def rate_at(t: SimTariff, slot: datetime) -> float | None:
    """The unit rate in force for the half-hour starting at ``slot`` (sandbox rule for multi-rate tariffs:
    night = 00:00-07:00 UK local; three-rate off-peak = 13:00-16:00 UK local)."""
    if t.kind == "HALF_HOURLY":
        return next((r.value for r in t.unit_rates if r.valid_from <= slot < r.valid_to), None)
    if t.kind in ("STANDARD", "PREPAY"):
        return t.unit_rate
    hour = slot.astimezone(UK).hour
    if t.kind == "THREE_RATE" and 13 <= hour < 16:
        return t.off_peak_rate
    return t.night_rate if hour < 7 else t.day_rate


def active_agreements(mp: SimMeterPoint, now: datetime) -> list[SimAgreement]:
    """'Filters out expired agreements by default.'"""
    return [a for a in mp.agreements if a.valid_to is None or a.valid_to > now]


def applicable_rates(mp: SimMeterPoint, start: datetime, end: datetime) -> list[SimRate]:
    nodes: list[SimRate] = []
    slot = start.replace(minute=0 if start.minute < 30 else 30, second=0, microsecond=0)
    while slot < end:
        nxt = slot + timedelta(minutes=30)
        agreement = next(
            (a for a in mp.agreements if a.valid_from <= slot and (a.valid_to is None or slot < a.valid_to)),
            None,
        )
        value = rate_at(agreement.tariff, slot) if agreement else None
        if value is not None:
            nodes.append(SimRate(max(slot, start), min(nxt, end), value))
        slot = nxt
    return nodes
