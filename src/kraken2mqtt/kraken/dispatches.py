"""Dispatch lifecycle (planned → started → completed, or cancelled) and the signals derived from it (pure).

Kraken's planned dispatches (``flexPlannedDispatches`` per device, formerly ``plannedDispatches``: "24 hours
ahead, usually in time order") often drop a dispatch just before or as it starts, and
``completedDispatches`` ("12 hours behind, in reverse time order") lists it only once it is over. In between
the dispatch is in neither list. The tracker keeps such a dispatch as *started* (``held``) until its end, so
"a device is being dispatched now" and the off-peak rate do not flicker off mid-charge. A planned dispatch
that disappears well before its start was cancelled (kept in history, ignored by signals).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from kraken2mqtt.kraken.snapshot import Dispatch, DispatchState, PriceTimeline, TrackedDispatch

#: A planned dispatch that vanishes less than this before its start is taken to have started.
VANISH_GRACE = timedelta(minutes=5)
#: How long finished dispatches are kept (the issue asks for at least 48 h of history).
HISTORY = timedelta(hours=48)
#: Sources whose energy is billed at the off-peak rate on intelligent tariffs ("bump-charge" is not).
OFF_PEAK_SOURCES = frozenset({"smart-charge", "test-charge", None})

_ACTIVE = (DispatchState.PLANNED, DispatchState.STARTED)


def _state_at(start: datetime, end: datetime, now: datetime) -> DispatchState:
    if now >= end:
        return DispatchState.COMPLETED
    if now >= start:
        return DispatchState.STARTED
    return DispatchState.PLANNED


def _overlaps(a: TrackedDispatch | Dispatch, b: TrackedDispatch | Dispatch) -> bool:
    return a.start < b.end and b.start < a.end


class DispatchTracker:
    """Merges successive ``plannedDispatches`` / ``completedDispatches`` polls into one lifecycle."""

    def __init__(self, history: Iterable[TrackedDispatch] = ()) -> None:
        self._items: dict[datetime, TrackedDispatch] = {}
        for item in history:
            self._items[item.start] = item

    @property
    def dispatches(self) -> tuple[TrackedDispatch, ...]:
        return tuple(self._items[k] for k in sorted(self._items))

    def advance(self, now: datetime) -> bool:
        """Move dispatches along with time alone (planned → started → completed). True if any changed."""
        changed = False
        for key, item in list(self._items.items()):
            if item.state in _ACTIVE:
                state = _state_at(item.start, item.end, now)
                if state != item.state:
                    self._items[key] = item.model_copy(update={"state": state, "updated_at": now})
                    changed = True
        return changed

    def update(self, planned: Sequence[Dispatch], completed: Sequence[Dispatch], now: datetime) -> bool:
        """Apply one poll of both lists. True when anything a reader cares about changed."""
        before = self.dispatches
        planned_starts = set()
        for p in sorted(planned, key=lambda d: d.start):
            planned_starts.add(p.start)
            old = self._items.get(p.start)
            if old is not None and old.state == DispatchState.COMPLETED and old.location is not None:
                continue  # already confirmed by completedDispatches
            new = TrackedDispatch(
                start=p.start,
                end=p.end,
                delta_kwh=p.delta_kwh,
                source=p.source,
                location=p.location,
                type=p.type,
                energy_kwh=p.energy_kwh,
                device_id=p.device_id,
                state=_state_at(p.start, p.end, now),
                first_seen=old.first_seen if old and old.first_seen else now,
                updated_at=now,
            )
            if old is not None and _signature([old]) == _signature([new]):
                continue  # unchanged: keep its timestamps (no needless writes)
            self._items[p.start] = new
        # Planned dispatches that vanished from the list.
        for key, item in list(self._items.items()):
            if item.state not in _ACTIVE or key in planned_starts:
                continue
            if now >= item.end:
                self._items[key] = item.model_copy(
                    update={"state": DispatchState.COMPLETED, "updated_at": now}
                )
            elif now >= item.start - VANISH_GRACE:
                state = _state_at(item.start, item.end, now)
                if not item.held or state != item.state:
                    self._items[key] = item.model_copy(
                        update={"state": state, "held": True, "updated_at": now}
                    )
            else:
                self._items[key] = item.model_copy(
                    update={"state": DispatchState.CANCELLED, "updated_at": now}
                )
        # Completed dispatches are authoritative for the time they cover.
        for c in sorted(completed, key=lambda d: d.start):
            for key, item in list(self._items.items()):
                if key != c.start and _overlaps(item, c) and item.end <= c.end and item.location is None:
                    del self._items[key]  # superseded (re-planned times), replaced by the completed record
            old = self._items.get(c.start)
            if old is not None and old.state in _ACTIVE and old.end > c.end and now < old.end:
                continue  # still running beyond the completed part: keep the live entry
            self._items[c.start] = TrackedDispatch(
                start=c.start,
                end=c.end,
                delta_kwh=c.delta_kwh,
                source=old.source if old else c.source,
                location=c.location,
                type=old.type if old else None,
                energy_kwh=old.energy_kwh if old else None,
                device_id=old.device_id if old else None,
                state=DispatchState.COMPLETED,
                first_seen=old.first_seen if old and old.first_seen else now,
                updated_at=old.updated_at if old and _same(old, c) else now,
            )
        self.advance(now)
        self.prune(now)
        return _signature(before) != _signature(self.dispatches)

    def prune(self, now: datetime, keep: timedelta = HISTORY) -> None:
        for key, item in list(self._items.items()):
            if item.end < now - keep:
                del self._items[key]


def _same(old: TrackedDispatch, c: Dispatch) -> bool:
    return (
        old.state == DispatchState.COMPLETED
        and old.end == c.end
        and old.delta_kwh == c.delta_kwh
        and old.location == c.location
    )


def _signature(items: Sequence[TrackedDispatch]) -> list[tuple[object, ...]]:
    return [(d.start, d.end, d.delta_kwh, d.source, d.location, d.state, d.held, *_flex(d)) for d in items]


def _flex(d: TrackedDispatch) -> tuple[object, ...]:
    return (d.type, d.energy_kwh, d.device_id)


def merge_planned(lists: Iterable[Sequence[Dispatch]]) -> tuple[Dispatch, ...]:
    """Several devices' ``flexPlannedDispatches`` as one list for the tracker (keyed by start: of two
    dispatches starting together the longer is kept; the windows they make are the same)."""
    by_start: dict[datetime, Dispatch] = {}
    for items in lists:
        for d in items:
            old = by_start.get(d.start)
            if old is None or d.end > old.end:
                by_start[d.start] = d
    return tuple(by_start[k] for k in sorted(by_start))


# ------------------------------------------------------------------------------------------- signals


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    off_peak: bool  # billed at the off-peak rate on an intelligent tariff


def windows(dispatches: Iterable[TrackedDispatch]) -> list[Window]:
    """Live (planned/started) dispatches merged where they overlap or touch, in time order."""
    live = sorted((d for d in dispatches if d.state in _ACTIVE), key=lambda d: d.start)
    out: list[Window] = []
    for d in live:
        off = d.source in OFF_PEAK_SOURCES
        if out and d.start <= out[-1].end:
            last = out[-1]
            out[-1] = Window(last.start, max(last.end, d.end), last.off_peak or off)
        else:
            out.append(Window(d.start, d.end, off))
    return out


def current_window(dispatches: Iterable[TrackedDispatch], now: datetime) -> Window | None:
    return next((w for w in windows(dispatches) if w.start <= now < w.end), None)


def dispatching_now(dispatches: Iterable[TrackedDispatch], now: datetime) -> bool:
    """A device is being dispatched now (a planned or held dispatch covers ``now``)."""
    return current_window(dispatches, now) is not None


def next_start(dispatches: Iterable[TrackedDispatch], now: datetime) -> datetime | None:
    """Start of the next dispatch window after ``now`` (not the one running now)."""
    return next((w.start for w in windows(dispatches) if w.start > now), None)


def edges(dispatches: Iterable[TrackedDispatch], *, include_completed: bool = False) -> list[datetime]:
    """Every start and end of a live window, sorted; with ``include_completed`` also those of dispatches
    that already ended (the poll policy stays fast for a moment after an end)."""
    items = list(dispatches)
    out: list[datetime] = []
    for w in windows(items):
        out.extend((w.start, w.end))
    if include_completed:
        done = [
            d.model_copy(update={"state": DispatchState.PLANNED})
            for d in items
            if d.state == DispatchState.COMPLETED
        ]
        for w in windows(done):
            out.extend((w.start, w.end))
    return sorted(set(out))


def off_peak_now(
    timeline: PriceTimeline | None, dispatches: Iterable[TrackedDispatch], now: datetime
) -> bool:
    """Off-peak pricing applies now: the tariff's own off-peak period, or (on an intelligent tariff) a
    smart-charge dispatch covering ``now``."""
    if timeline is None:
        return False
    if timeline.is_off_peak(now):
        return True
    if not timeline.dispatch_discount:
        return False
    return any(
        d.state in _ACTIVE and d.start <= now < d.end and d.source in OFF_PEAK_SOURCES for d in dispatches
    )


def dispatch_adjusted_rate(
    timeline: PriceTimeline | None, dispatches: Iterable[TrackedDispatch], now: datetime
) -> Decimal | None:
    """The import unit rate at ``now``, lowered to the off-peak rate during a discounted dispatch."""
    if timeline is None:
        return None
    price = timeline.price_at(now)
    cheap = timeline.off_peak_rate
    if cheap is not None and off_peak_now(timeline, dispatches, now):
        return cheap if price is None else min(price, cheap)
    return price
