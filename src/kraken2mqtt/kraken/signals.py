"""What users (and the scheduler) want to know right now, derived from a snapshot (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kraken2mqtt.kraken import dispatches
from kraken2mqtt.kraken.snapshot import Snapshot, Stream

#: Streams older than this are reported stale (seconds); roughly three missed polls.
STALE_AFTER: dict[Stream, float] = {
    Stream.DISPATCHES: 1800.0,
    Stream.DEVICES: 1800.0,
    Stream.TARIFFS: 2 * 86400.0,
    Stream.ACCOUNT: 3 * 86400.0,
    Stream.HEAT_PUMPS: 1800.0,
    Stream.PREPAY: 3 * 3600.0,
    Stream.EVENTS: 4 * 3600.0,
}

#: Streams that are stale when missing; the others may simply not apply to the account.
CORE = frozenset({Stream.ACCOUNT, Stream.TARIFFS, Stream.DISPATCHES, Stream.DEVICES})


@dataclass(frozen=True, slots=True)
class Signals:
    at: datetime
    off_peak_now: bool  # off-peak pricing applies (tariff off-peak or a discounted dispatch)
    dispatching_now: bool  # a device is being dispatched
    next_dispatch_start: datetime | None
    current_dispatch_end: datetime | None
    import_rate: Decimal | None  # tariff unit rate now
    dispatch_adjusted_rate: Decimal | None  # what is actually billed now
    export_rate: Decimal | None
    stale: frozenset[Stream]  # streams whose data is older than STALE_AFTER (or missing)
    ages: dict[Stream, float | None]


def of(snapshot: Snapshot, now: datetime, available: frozenset[Stream] | None = None) -> Signals:
    tariffs = snapshot.tariffs
    imp = tariffs.import_ if tariffs else None
    exp = tariffs.export if tariffs else None
    window = dispatches.current_window(snapshot.dispatches, now)
    streams = available if available is not None else frozenset(snapshot.status) | {Stream.TARIFFS}
    ages = {s: snapshot.age(s, now) for s in streams}
    stale = frozenset(
        s
        for s in streams
        if s in STALE_AFTER
        and ((ages[s] is None and s in CORE) or (ages[s] is not None and (ages[s] or 0.0) > STALE_AFTER[s]))
    )
    return Signals(
        at=now,
        off_peak_now=dispatches.off_peak_now(imp, snapshot.dispatches, now),
        dispatching_now=window is not None,
        next_dispatch_start=dispatches.next_start(snapshot.dispatches, now),
        current_dispatch_end=window.end if window else None,
        import_rate=imp.price_at(now) if imp else None,
        dispatch_adjusted_rate=dispatches.dispatch_adjusted_rate(imp, snapshot.dispatches, now),
        export_rate=exp.price_at(now) if exp else None,
        stale=stale,
        ages=ages,
    )
