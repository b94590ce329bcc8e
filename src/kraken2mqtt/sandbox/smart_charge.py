"""Intelligent-Octopus-like smart charging for the simulated EV: the target and ready-by time from the
device's preferences, and dispatches on the cheapest half hours before the ready-by time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from kraken2mqtt.sandbox.sim_account import DAYS, UK, SimDevice, SimDispatch

SLOT = timedelta(minutes=30)


def charge_target(device: SimDevice, after: datetime) -> tuple[float, datetime]:
    """(target SoC %, ready-by instant): the first scheduled ready-by time after ``after``.

    SmartFlex ``preferences.schedules`` (per weekday: ``time``, ``max``) win; without them the legacy
    weekday/weekend target SoC and time are used.
    """
    local = after.astimezone(UK)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        target, hhmm = _for_day(device, DAYS[day.weekday()])
        hour, minute = (int(x) for x in hhmm.split(":")[:2])
        ready = datetime.combine(day, time(hour, minute), tzinfo=UK).astimezone(UTC)
        if ready > after:
            return target, ready
    raise AssertionError("unreachable: every weekday has a target")  # pragma: no cover


def _for_day(device: SimDevice, day_name: str) -> tuple[float, str]:
    prefs = device.preferences
    if prefs is not None and prefs.schedules:
        same_day = [s for s in prefs.schedules if s.day_of_week == day_name]
        chosen = same_day[0] if same_day else prefs.schedules[0]
        return float(chosen.max), chosen.time
    if day_name in ("SATURDAY", "SUNDAY"):
        return float(device.weekend_target_soc), device.weekend_target_time
    return float(device.weekday_target_soc), device.weekday_target_time


def plan_dispatches(
    now: datetime,
    ready_by: datetime,
    need_kwh: float,
    power_kw: float,
    price_at: Callable[[datetime], float],
) -> list[SimDispatch]:
    """Dispatches (``smart-charge``, negative delta) on the cheapest slots in [now, ready_by) that deliver
    ``need_kwh`` at ``power_kw``; the slot now in progress counts from ``now``. Ties go to the earlier slot.
    If the time is too short, every slot is used."""
    if need_kwh <= 0 or power_kw <= 0 or ready_by <= now:
        return []
    slots: list[tuple[datetime, datetime]] = []
    t = now
    while t < ready_by:
        end = min(ready_by, _next_slot(t))
        slots.append((t, end))
        t = end
    energy: dict[datetime, float] = {}
    left = need_kwh
    for start, end in sorted(slots, key=lambda s: (price_at(s[0]), s[0])):
        if left <= 1e-9:
            break
        take = min(left, power_kw * (end - start).total_seconds() / 3600)
        energy[start] = take
        left -= take
    out: list[SimDispatch] = []
    for start, end in slots:
        if start not in energy:
            continue
        if out and out[-1].end == start:
            out[-1].end = end
            out[-1].delta_kwh -= energy[start]
        else:
            out.append(SimDispatch(start, end, -energy[start], source="smart-charge"))
    for d in out:
        d.delta_kwh = round(d.delta_kwh, 3)
    return out


def _next_slot(t: datetime) -> datetime:
    base = t.replace(minute=0, second=0, microsecond=0)
    return base + SLOT if t < base + SLOT else base + 2 * SLOT
