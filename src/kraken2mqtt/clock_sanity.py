"""Is the wall clock set yet? A Raspberry Pi has no real-time clock: after a power cut it boots at 1970, or
at the time ``fake-hwclock`` saved, until NTP sets it. A plan, a device command or a Kraken call made then
would use the wrong day.

Evidence, strongest first:

* ``/run/systemd/timesync/synchronized`` exists: systemd-timesyncd has synchronised the clock since boot
  (it creates the file then; with ``systemd-time-wait-sync`` enabled, ``time-sync.target``, which the unit
  orders itself after, is reached only then);
* otherwise a sanity check: the clock must not be before :data:`NOT_BEFORE` (this code's date) nor before
  the last time the daemon persisted (its state file's timestamps and the ``clock.last_seen`` mark it
  writes every :data:`MARK_EVERY`), less :data:`TOLERANCE`;
* with systemd-timesyncd running but not synchronised and the sanity check passed, the daemon waits up to
  :data:`UNSYNCED_GRACE` (a network that is slow to come up), then goes on and says so.

:func:`assess` is pure; :class:`ClockGate` is the shell the daemon awaits before its first plan, device
command or Kraken call.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from kraken2mqtt.clock import Clock
from kraken2mqtt.tasks import cancel_and_wait

if TYPE_CHECKING:
    from kraken2mqtt.store.sqlite import StateStore

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: No clock reading before this is believable: the date of this code (keep it in the past; a test does).
NOT_BEFORE = datetime(2026, 12, 1, tzinfo=UTC)
#: systemd-timesyncd's flag file (systemd >= 239) and the directory it lives in while timesyncd runs.
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
#: A clock this much behind the last persisted time still passes (NTP slewing, a few seconds' step back).
TOLERANCE = timedelta(minutes=2)
#: How long to wait for a running systemd-timesyncd to synchronise when the clock looks sane otherwise.
UNSYNCED_GRACE = timedelta(minutes=5)
#: How often the daemon marks the time it has seen (a small kv write), so a restore after a power cut
#: by fake-hwclock (saved hourly) to a time before it is caught.
MARK_EVERY = timedelta(minutes=15)
#: How often the clock is looked at again while waiting.
RECHECK_SECONDS = 5.0
LAST_SEEN_KEY = "clock.last_seen"


def timesync_state(flag: Path = TIMESYNC_FLAG) -> bool | None:
    """True: systemd-timesyncd has synchronised; False: it runs but has not yet; None: it is not in use."""
    try:
        if flag.exists():
            return True
        return False if flag.parent.is_dir() else None
    except OSError:
        return None


def assess(
    now: datetime,
    *,
    synchronized: bool | None,
    last_seen: datetime | None,
    waited: timedelta = timedelta(0),
    not_before: datetime = NOT_BEFORE,
) -> str | None:
    """None when ``now`` can be trusted, else why not (a sentence for the log and ``status``)."""
    if synchronized:
        return None
    if now < not_before:
        return f"the clock says {_iso(now)}, before this version was written ({_iso(not_before)})"
    if last_seen is not None and now < last_seen - TOLERANCE:
        return f"the clock says {_iso(now)}, before the last time this daemon saw ({_iso(last_seen)})"
    if synchronized is False and waited < UNSYNCED_GRACE:
        return "systemd-timesyncd has not synchronised the clock yet"
    return None


def last_seen(store: StateStore) -> datetime | None:
    """The latest wall-clock time in the state file: fetch times, kv writes, the ``clock.last_seen`` mark."""
    times: list[float] = []
    try:
        for table, column in (("snapshot_stream", "fetched_at"), ("kv", "updated_at")):
            query = f"SELECT max({column}) AS t FROM {table}"  # noqa: S608 (constant names)
            row = store.database.row(query)
            if row is not None and row["t"] is not None:
                times.append(float(row["t"]))
    except sqlite3.Error:
        pass
    mark = store.get(LAST_SEEN_KEY)
    if mark is not None:
        with suppress(ValueError):
            times.append(datetime.fromisoformat(mark).timestamp())
    return datetime.fromtimestamp(max(times), UTC) if times else None


@dataclass
class ClockCheck:
    """Where the evidence comes from (tests point it elsewhere)."""

    flag: Path = TIMESYNC_FLAG
    not_before: datetime = NOT_BEFORE
    recheck_seconds: float = RECHECK_SECONDS


class ClockGate:
    """Opens once the clock can be trusted; :meth:`then` runs a coroutine after it opens (or drops it when
    the daemon stops first). Without a :class:`ClockCheck` it is open from the start (simulated clocks)."""

    def __init__(
        self,
        check: ClockCheck | None,
        clock: Clock,
        store: StateStore,
        *,
        on_wait: Callable[[str], Any] | None = None,
    ) -> None:
        self.check, self.clock, self.store, self.on_wait = check, clock, store, on_wait
        self.waiting_for: str | None = None  # why, while closed
        #: Called (no arguments) when :attr:`waiting_for` changes (the daemon saves it for ``status``).
        self.watchers: list[Callable[[], Any]] = []
        self.checks = 0  # how often the clock was looked at
        self._open = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if check is None:
            self._open.set()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self, stop: asyncio.Event | None = None) -> bool:
        """True once open; False if ``stop`` is set or the gate is closed first."""
        if self._open.is_set():
            return True
        if self._task is None and not self._closed.is_set():
            self._task = asyncio.create_task(self._watch(), name="clock-gate")
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._open, self._closed, stop) if e is not None]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._open.is_set()

    async def then(self, work: Awaitable[T], stop: asyncio.Event | None = None) -> T | None:
        """``await work`` once the gate is open; drop it (None) if stopped first."""
        if not await self.wait(stop):
            if asyncio.iscoroutine(work):
                work.close()
            return None
        return await work

    async def close(self) -> None:
        self._closed.set()
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def _watch(self) -> None:
        assert self.check is not None
        started = self.clock.monotonic()
        seen = await asyncio.to_thread(last_seen, self.store)
        told: str | None = None
        while True:
            waited = timedelta(seconds=self.clock.monotonic() - started)
            synced = timesync_state(self.check.flag)
            now = self.clock.now()
            self.checks += 1
            why = assess(
                now, synchronized=synced, last_seen=seen, waited=waited, not_before=self.check.not_before
            )
            if why is None:
                break
            self.waiting_for = why
            if told is None or same_kind(why) != same_kind(told):  # the reading ticks, the reason not
                told = why
                log.warning("clock.waiting", reason=why)
                self._changed()
            self._tell(f"waiting for the clock: {why}")  # each time: READY=1's status must not hide it
            await self.clock.sleep(self.check.recheck_seconds)
        if told is not None:
            log.warning("clock.ok", now=_iso(now), waited_seconds=round(waited.total_seconds()))
            self._tell(f"the clock is set ({_iso(now)})")
        elif synced is False:
            log.warning("clock.unconfirmed", reason="systemd-timesyncd has not synchronised; going on")
        self.waiting_for = None
        if told is not None:
            self._changed()
        self._open.set()
        while True:  # mark the time seen now and every MARK_EVERY (a power cut loses the rest)
            try:
                await asyncio.to_thread(self.store.set, LAST_SEEN_KEY, _iso(self.clock.now()))
            except Exception as exc:  # the disk must not stop the daemon
                log.error("clock.mark_failed", error=str(exc)[:200])
            await self.clock.sleep(MARK_EVERY.total_seconds())

    def _changed(self) -> None:
        for watcher in list(self.watchers):
            try:
                watcher()
            except Exception:  # a report must not stop the gate
                log.exception("clock.report_failed")

    def _tell(self, text: str) -> None:
        if self.on_wait is not None:
            try:
                self.on_wait(text)
            except Exception:  # a report must not stop the gate
                log.exception("clock.report_failed")


def same_kind(reason: str) -> str:
    """A waiting reason without its figures: the clock's reading in it moves every second."""
    return re.sub(r"[0-9]", "", reason)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="seconds")
