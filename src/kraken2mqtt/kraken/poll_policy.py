"""When to poll what (pure): snapshot + now + pending commands + budget slowdown → due streams, next wake-up.

Cadences (seconds, before the budget's ``slowdown`` stretches them):

===========================  =========  ==========================================================
live (dispatches + devices)  60         a user command is pending, or within ``EDGE_BEFORE`` before /
                                        ``EDGE_AFTER`` after a dispatch start or end (also of one that
                                        just completed)
                             180        a dispatch runs or an EV charges / boosts
                             300        an EV is plugged in (new dispatches get planned)
                             900        dispatch-capable account, nothing plugged in
                             1800       no smart devices at all
tariffs                      6 h        re-check agreements; half-hourly: every 30 min from 16:00 local
                                        until tomorrow's prices are in, at once when today's run out
account                      24 h       properties, meter points, heat-pump controllers
heat pumps                   300        only when the account has one
prepay                       1800       only for a smart prepay meter
events                       3600       saving sessions, greenness (an optional document of its own)
===========================  =========  ==========================================================

The rate-limit allowance (``rateLimitInfo``) rides along with the live query (GB, DE) or the account query
(AU), so it costs no request of its own. The live query carries the planned dispatches of the first
smart-charging device (``flexPlannedDispatches``); each further device costs one request per live poll.
Until the account number is known only discovery (``viewer``) is planned.

A failed stream is retried after 60 s, doubling per consecutive failure up to its normal interval (at least
60 s, at most 30 min); one that failed only because the server was unreachable or erroring is retried as
soon as another stream has been fetched since (the outage is over). The next wake-up is also placed
``EDGE_BEFORE`` ahead of each dispatch edge so the fast window is never missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kraken2mqtt.kraken import deployments, dispatches
from kraken2mqtt.kraken.snapshot import Snapshot, Stream
from kraken2mqtt.kraken.tariffs import tomorrow_prices_due

FAST = 60.0
DISPATCHING = 180.0
PLUGGED_IN = 300.0
IDLE = 900.0
SLOW = 1800.0
TARIFFS = 6 * 3600.0
TARIFFS_AWAITING = 1800.0
ACCOUNT = 24 * 3600.0
HEAT_PUMPS = 300.0
PREPAY = 1800.0
EVENTS = 3600.0
EDGE_BEFORE = timedelta(seconds=90)
EDGE_AFTER = timedelta(seconds=120)
RETRY_BASE = 60.0
RETRY_CAP = 1800.0
#: Nothing at all to poll (JP: mutations only): look again in an hour (cheap, sends nothing).
NOTHING = 3600.0


def streams_for(deployment: str) -> frozenset[Stream]:
    """What a deployment documents (its capability table) decides what is polled at all."""
    dep = deployments.find(deployment)
    has = dep.root_fields if dep is not None else frozenset()
    out: set[Stream] = set()
    if "account" in has:
        out |= {Stream.ACCOUNT, Stream.TARIFFS}
    if "flexPlannedDispatches" in has or "plannedDispatches" in has:
        out.add(Stream.DISPATCHES)
    if "devices" in has:
        out.add(Stream.DEVICES)
    if "octoHeatPumpControllerStatus" in has or "heatPumpStatus" in has:
        out.add(Stream.HEAT_PUMPS)
    if "prepayBalanceSnapshot" in has:
        out.add(Stream.PREPAY)
    if "savingSessions" in has or "greennessForecast" in has:
        out.add(Stream.EVENTS)
    if "rateLimit" in has or "rateLimitInfo" in has:
        out.add(Stream.RATE_LIMIT)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class PollPlan:
    due: frozenset[Stream]  # poll these now (empty: nothing yet)
    next_at: datetime  # when to look again (after polling ``due``, recompute)
    live_interval: float
    reason: str


def live_interval(snapshot: Snapshot, now: datetime, *, pending_command: bool) -> tuple[float, str]:
    """The interval for dispatches + devices, with the reason (for logs and metrics)."""
    if pending_command:
        return FAST, "command pending"
    for edge in dispatches.edges(snapshot.dispatches, include_completed=True):
        if edge - EDGE_BEFORE <= now <= edge + EDGE_AFTER:
            return FAST, "dispatch edge"
    evs = snapshot.ev_devices
    if dispatches.dispatching_now(snapshot.dispatches, now) or any(d.charging for d in evs):
        return DISPATCHING, "dispatching"
    if any(d.plugged_in for d in evs):
        return PLUGGED_IN, "plugged in"
    has_devices = bool(snapshot.devices and snapshot.devices.devices)
    if has_devices or any(d.end > now for d in snapshot.dispatches):
        return IDLE, "idle"
    return SLOW, "no devices"


def _tariff_interval(snapshot: Snapshot, now: datetime) -> float:
    tariffs = snapshot.tariffs
    if tariffs is None:
        return 0.0
    current = tariffs.import_
    if current is not None and current.valid_to is not None and current.valid_to <= now:
        return 0.0  # the agreement ended: find the next one
    upcoming = tariffs.upcoming_import
    if upcoming is not None and upcoming.valid_from is not None and upcoming.valid_from <= now:
        return 0.0
    if current is not None and tomorrow_prices_due(current, now):
        known = current.known_until
        if known is None or known <= now:
            return FAST * 5  # today's prices ran out: soon, but not in a tight loop
        return TARIFFS_AWAITING
    return TARIFFS


def _retry_delay(failures: int, interval: float) -> float:
    return min(max(RETRY_BASE, interval), RETRY_CAP, RETRY_BASE * 2.0 ** max(0, failures - 1))


def plan(
    snapshot: Snapshot,
    now: datetime,
    *,
    pending_command: bool = False,
    slowdown: float = 1.0,
    streams: frozenset[Stream] | None = None,
) -> PollPlan:
    """Which streams are due at ``now`` and when to wake up next."""
    available = streams if streams is not None else streams_for(snapshot.deployment)
    slowdown = max(1.0, slowdown)
    live, reason = live_interval(snapshot, now, pending_command=pending_command)
    intervals: dict[Stream, float] = {}
    account = snapshot.account
    if snapshot.account_number is None and Stream.ACCOUNT in available:
        available = frozenset({Stream.ACCOUNT})  # discover the account first (with its retry backoff)
    if Stream.ACCOUNT in available:
        intervals[Stream.ACCOUNT] = ACCOUNT
        if snapshot.account_number is not None:
            intervals[Stream.TARIFFS] = _tariff_interval(snapshot, now)
    if Stream.DISPATCHES in available:
        intervals[Stream.DISPATCHES] = live
    if Stream.DEVICES in available:
        intervals[Stream.DEVICES] = live
    if Stream.HEAT_PUMPS in available and _has_heat_pump(snapshot):
        intervals[Stream.HEAT_PUMPS] = HEAT_PUMPS
    if Stream.PREPAY in available and account is not None and account.is_prepay:
        intervals[Stream.PREPAY] = PREPAY
    if Stream.EVENTS in available:
        intervals[Stream.EVENTS] = EVENTS
    if not intervals:
        return PollPlan(frozenset(), now + timedelta(seconds=NOTHING), live, "nothing to poll")

    due: set[Stream] = set()
    next_at = now + timedelta(days=2)
    # The server answered since: a stream that failed only because it could not be reached is due now.
    answered = max((s.fetched_at for s in snapshot.status.values() if s.fetched_at is not None), default=None)
    for stream, interval in intervals.items():
        status = snapshot.stream(stream)
        stretched = interval * slowdown
        recovered = (
            status.error is not None
            and status.transient
            and status.attempted_at is not None
            and answered is not None
            and answered > status.attempted_at
        )
        if (status.fetched_at is None and status.attempted_at is None) or recovered:
            at = now
        elif status.error is not None and status.attempted_at is not None:
            at = status.attempted_at + timedelta(seconds=_retry_delay(status.failures, stretched))
        else:
            last = status.fetched_at or status.attempted_at or now
            at = last + timedelta(seconds=stretched)
        if at <= now:
            due.add(stream)
        else:
            next_at = min(next_at, at)
    # Never sleep through the fast window before a dispatch edge.
    if Stream.DISPATCHES in intervals:
        for edge in dispatches.edges(snapshot.dispatches):
            wake = edge - EDGE_BEFORE
            if wake > now:
                next_at = min(next_at, wake)
                break
    if due:
        next_at = now
    return PollPlan(frozenset(due), next_at, live, reason)


def _has_heat_pump(snapshot: Snapshot) -> bool:
    account = snapshot.account
    if account is not None and account.heat_pump_controller_euids:
        return True
    hp = snapshot.heat_pumps
    if hp is not None and (hp.legacy is not None or hp.controllers):
        return True
    # Not probed yet on this account: probe once (legacy heatPumpStatus).
    return snapshot.stream(Stream.HEAT_PUMPS).attempted_at is None and account is not None
