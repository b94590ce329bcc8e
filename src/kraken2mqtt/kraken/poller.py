"""The polling loop: asks :mod:`poll_policy` what is due, runs the few combined documents that cover it,
folds the results into the :class:`Snapshot`, persists what changed and signals readers.

Failure never loses data: a stream that fails (transport, 5xx, brownout, wrong shape, unknown values) keeps
its last good data and records the error and its age. Readers wait on :attr:`Poller.changed` (an
``asyncio.Event``) or pass ``on_change``; they are woken on change, not on a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel

from kraken2mqtt.clock import Clock
from kraken2mqtt.kraken import deployments, documents, parse, poll_policy, signals, tariffs
from kraken2mqtt.kraken.budget import ServerAllowance
from kraken2mqtt.kraken.client import GraphQLResult, KrakenClient
from kraken2mqtt.kraken.deployments import BACKEND
from kraken2mqtt.kraken.dispatches import DispatchTracker, merge_planned
from kraken2mqtt.kraken.errors import KrakenError, KrakenValidationError, NotFoundError
from kraken2mqtt.kraken.snapshot import (
    DevicesData,
    Dispatch,
    EventsData,
    HeatPumpController,
    HeatPumpData,
    Lifecycle,
    Mode,
    PrepayData,
    Snapshot,
    Stream,
    comparable,
)
from kraken2mqtt.kraken.snapshot_store import SnapshotStore
from kraken2mqtt.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

LIVE = frozenset({Stream.DISPATCHES, Stream.DEVICES})
#: At most this many DE agreements / AU products are looked up per tariff refresh.
MAX_AGREEMENTS = 3
#: Changes to these streams do not wake readers (they move on every poll).
QUIET = frozenset({Stream.RATE_LIMIT})

ChangeCallback = Callable[[Snapshot, frozenset[Stream]], None]
#: Planned-dispatch sources per deployment, best first (each deployment's ``dispatch_sources``, see
#: :mod:`deployments`); one the server rejects is demoted (the next one is used from then on: one
#: warning, a ``dropped`` entry in status and the metric).
#: ``flex`` = flexPlannedDispatches(deviceId) per smart-charging device; ``planned`` = the account-wide
#: plannedDispatches through ``PollLivePlanned<Gb|De>``, for a deployment that still serves only that.
#: The live facts (kraken-live-api.md) name no deployment that serves only plannedDispatches: GB's is past
#: its removal date (2026-01-16; HAOE v13.5.3 broke on 2026-02-15), DE's schema has none, JP documents no
#: queries and AU no devices. So ``planned`` is GB's fallback only while its document is not past its
#: ``# until:`` date (a docs-era server without flexPlannedDispatches); after it, it is never sent.
DISPATCH_SOURCES: dict[str, tuple[str, ...]] = {
    name: dep.dispatch_sources for name, dep in deployments.DEPLOYMENTS.items() if dep.dispatch_sources
}
#: The documents of each source (``{suffix}``: the deployment's document suffix, Gb / De).
_SOURCE_DOCUMENTS = {"flex": "PollLive{suffix}", "planned": "PollLivePlanned{suffix}"}
_SOURCE_FIELDS = {"flex": "flexPlannedDispatches", "planned": "plannedDispatches"}
_DISPATCH_FIELDS = frozenset({"flexPlannedDispatches", "plannedDispatches"})
#: Dispatch-field errors that mean "this account has no smart-charging device": no dispatches.
NO_DISPATCHES = frozenset({"KT-CT-4301"})
#: How many rejected optional selections one call may drop before giving up.
MAX_DROPS_PER_CALL = 8
#: A rejected critical field is logged at most this often (the stream's error says it all the time).
CRITICAL_LOG_EVERY = timedelta(hours=1)


class RejectedFieldError(KrakenError):
    """The server rejects a field or type the plan needs (a critical part of a document)."""

    def __init__(self, rejection: documents.Rejection, document: str) -> None:
        super().__init__(
            f"the server rejects {rejection.label} (needed; document {document}): {rejection.message}",
            operation=document,
        )
        self.rejection = rejection
        self.document = document


class DroppedError(KrakenError):
    """An optional document the server rejected as a whole is no longer sent."""


@dataclass(frozen=True, slots=True)
class PollResult:
    polled: frozenset[Stream]
    changed: frozenset[Stream]
    failed: frozenset[Stream]
    plan: poll_policy.PollPlan


class Poller:
    def __init__(
        self,
        client: KrakenClient,
        *,
        deployment: str,
        clock: Clock,
        account_number: str | None = None,
        store: SnapshotStore | None = None,
        on_change: ChangeCallback | None = None,
        pending_commands: Callable[[], bool] | None = None,
        topup_device_id: str | None = None,
    ) -> None:
        self.client = client
        self.deployment = deployment
        #: The deployment's one object: fields, endpoints, documents, account discovery, dispatch sources.
        self.dep = deployments.get(deployment)
        self.clock = clock
        self.store = store
        self.on_change = on_change
        self.pending_commands = pending_commands or (lambda: False)
        self.topup_device_id = topup_device_id
        self.streams = poll_policy.streams_for(deployment)
        self.changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._tracker = DispatchTracker()
        self._legacy_devices: bool | None = None  # None: not probed
        self._legacy_heat_pump: bool | None = None  # a legacy heatPumpStatus was seen (None: not asked)
        #: Per document, the optional fragments the server rejected (never sent again by this process).
        self._dropped: dict[str, frozenset[str]] = {}
        #: Optional documents the server rejected as a whole -> why.
        self._dropped_documents: dict[str, str] = {}
        #: Where planned dispatches come from, best first; the first is demoted when the server rejects it.
        self._dispatch_sources: list[str] = list(DISPATCH_SOURCES.get(deployment, ()))
        self._suffix = self.dep.document_suffix
        self._critical_logged: dict[str, datetime] = {}
        self._dispatch_rejected: RejectedFieldError | None = None
        mode: Mode = "full"
        if LIVE.isdisjoint(self.streams):
            mode = "tariff-only" if Stream.TARIFFS in self.streams else "commands-only"
        self._snapshot = Snapshot(deployment=deployment, account_number=account_number, mode=mode)
        self.last_plan: poll_policy.PollPlan | None = None
        self._force: frozenset[Stream] = frozenset()

    # -- reading --------------------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def signals(self, now: datetime | None = None) -> signals.Signals:
        return signals.of(self._snapshot, now or self.clock.now(), self.streams - {Stream.RATE_LIMIT})

    async def refresh(self) -> PollResult:
        """Poll the live streams (dispatches, devices) now, whatever the policy says (the refresh button)."""
        self._force = frozenset(LIVE & self.streams) or frozenset(self.streams - {Stream.RATE_LIMIT})
        return await self.poll_once()

    def wake(self) -> None:
        """Re-plan now (e.g. a user command was queued)."""
        self._wake.set()

    # -- persistence ----------------------------------------------------------------------------------

    async def restore(self) -> bool:
        """Load the persisted snapshot (so readers have data before the first poll). True if found."""
        if self.store is None:
            return False
        store = self.store
        number = self._snapshot.account_number
        loaded = await asyncio.to_thread(store.load_snapshot, self.deployment, number)
        if loaded is None:
            return False
        self._tracker = DispatchTracker(loaded.dispatches)
        self._tracker.advance(self.clock.now())
        self._snapshot = loaded.model_copy(
            update={"mode": self._snapshot.mode, "dispatches": self._tracker.dispatches}
        )
        log.info("poller.restored", streams=sorted(s.value for s in loaded.status))
        self._notify(frozenset(loaded.status) - QUIET)
        return True

    async def _persist(self) -> None:
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.save_snapshot, self._snapshot, self.clock.now())
        except Exception as exc:  # the disk must not stop polling
            log.error("poller.persist_failed", error=str(exc)[:200])

    # -- loop -----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            result = await self.poll_once()
            delay = max(1.0, (result.plan.next_at - self.clock.now()).total_seconds())
            await self._sleep(delay, stop)

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, waker, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(sleeper, waker, stopper)

    async def poll_once(self) -> PollResult:
        """Run whatever is due now; return what was polled, what changed and the plan for next time."""
        now = self.clock.now()
        before = self._snapshot
        polled: set[Stream] = set()
        if self._tracker.advance(now):
            self._snapshot = self._snapshot.model_copy(update={"dispatches": self._tracker.dispatches})
        # Up to three passes: discovery (viewer), then what is due, then what that revealed (a heat pump,
        # a prepay meter) so a fresh start has everything after one cycle.
        discovered = False
        for _ in range(3):
            plan = poll_policy.plan(
                self._snapshot,
                now,
                pending_command=self.pending_commands(),
                slowdown=self.client.budget.slowdown,
                streams=self.streams,
            )
            todo = (plan.due | self._force) - polled
            self._force = frozenset()
            if not todo:
                break
            if self._snapshot.account_number is None:
                if discovered:
                    break
                discovered = True
                await self._discover(now)
                continue
            polled |= await self._run_due(todo, now)
        changed = _changed(before, self._snapshot)
        failed = frozenset(
            s
            for s in polled
            if self._snapshot.stream(s).error is not None and self._snapshot.stream(s).attempted_at == now
        )
        if changed or polled:
            await self._persist()
        if changed - QUIET:
            self._notify(changed - QUIET)
        self.last_plan = poll_policy.plan(
            self._snapshot,
            self.clock.now(),
            pending_command=self.pending_commands(),
            slowdown=self.client.budget.slowdown,
            streams=self.streams,
        )
        return PollResult(frozenset(polled), changed, failed, self.last_plan)

    def _notify(self, changed: frozenset[Stream]) -> None:
        if not changed:
            return
        self.changed.set()
        if self.on_change is not None:
            try:
                self.on_change(self._snapshot, changed)
            except Exception as exc:
                log.error("poller.on_change_failed", error=str(exc)[:200])

    # -- fetching -------------------------------------------------------------------------------------

    async def _execute(
        self, document: documents.Document | str, variables: Mapping[str, Any]
    ) -> GraphQLResult:
        return await self.client.execute(document, variables, allow_partial=True, max_wait=30.0)

    def _fail(self, streams: frozenset[Stream] | set[Stream], now: datetime, exc: BaseException) -> None:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, RejectedFieldError):
            last = self._critical_logged.get(text)
            if last is None or now - last >= CRITICAL_LOG_EVERY:
                self._critical_logged[text] = now
                log.error(
                    "poller.critical_field_rejected",
                    streams=sorted(s.value for s in streams),
                    error=text[:300],
                )
        else:
            log.warning("poller.stream_failed", streams=sorted(s.value for s in streams), error=text[:200])
        snap = self._snapshot
        for stream in streams:
            snap = snap.with_failure(stream, now, text, transient=bool(getattr(exc, "retryable", False)))
        self._snapshot = snap

    async def _guard(
        self, streams: frozenset[Stream], now: datetime, fetch: Callable[[], Any]
    ) -> frozenset[Stream]:
        try:
            await fetch()
        except KrakenError as exc:
            self._fail(streams, now, exc)
        except (parse.ParseError, ValueError, TypeError, KeyError) as exc:
            self._fail(streams, now, parse.ParseError(f"unexpected response shape: {exc}"))
        except Exception as exc:  # never let one bad response end the loop
            log.error("poller.unexpected", error=repr(exc)[:300])
            self._fail(streams, now, exc)
        return streams

    async def _discover(self, now: datetime) -> None:
        if not self.dep.has("viewer"):
            return

        async def fetch() -> None:
            numbers = parse.viewer_accounts((await self.client.execute("Viewer")).data)
            if not numbers:
                raise parse.ParseError("viewer has no accounts")
            if len(numbers) > 1:
                log.info("poller.several_accounts", using=numbers[0], count=len(numbers))
            self._snapshot = self._snapshot.model_copy(update={"account_number": numbers[0]})

        await self._guard(frozenset({Stream.ACCOUNT}), now, fetch)

    async def _run_due(self, due: frozenset[Stream], now: datetime) -> set[Stream]:
        polled: set[Stream] = set()
        if due & {Stream.ACCOUNT, Stream.TARIFFS}:
            streams = frozenset({Stream.ACCOUNT, Stream.TARIFFS})
            polled |= await self._guard(streams, now, lambda: self._fetch_account(now))
        if due & LIVE and LIVE & self.streams:
            streams = frozenset(LIVE & self.streams)
            polled |= await self._guard(streams, now, lambda: self._fetch_live(now))
        if Stream.EVENTS in due and not self._events_dropped():
            polled |= await self._guard(frozenset({Stream.EVENTS}), now, lambda: self._fetch_events(now))
        if Stream.HEAT_PUMPS in due and not self._heat_pumps_dropped():
            polled |= await self._guard(
                frozenset({Stream.HEAT_PUMPS}), now, lambda: self._fetch_heat_pumps(now)
            )
        if Stream.PREPAY in due:
            polled |= await self._guard(frozenset({Stream.PREPAY}), now, lambda: self._fetch_prepay(now))
        return polled

    def _heat_pumps_dropped(self) -> bool:
        return {"PollHeatPumpGb", "PollHeatPumpStatusGb"} <= set(self._dropped_documents) and not (
            self._on_backend("PollHeatPumpLiveGb", "heatPumpLivePerformance")
        )

    def _account_number(self) -> str:
        number = self._snapshot.account_number
        if number is None:
            raise parse.ParseError("no account number")
        return number

    def _rate_limit(self, data: Mapping[str, Any], now: datetime) -> None:
        rl = parse.rate_limit(data)
        if rl is None:
            return
        if rl.limit is not None and rl.remaining is not None:
            self.client.budget.update_from_server(
                ServerAllowance(
                    limit=rl.limit,
                    remaining=rl.remaining,
                    resets_at=rl.resets_at.timestamp() if rl.resets_at else None,
                    blocked=rl.blocked,
                )
            )
        self._set(Stream.RATE_LIMIT, now, rate_limit=rl)

    def _set(self, stream: Stream, now: datetime, **fields: Any) -> None:
        self._snapshot = self._snapshot.with_data(stream, now, **fields)

    async def _fetch_account(self, now: datetime) -> None:
        number = self._account_number()
        discovery = self.dep.account_discovery
        suffix = self._suffix
        if discovery == "meter_points":
            result = await self._query(f"PollAccount{suffix}", {"accountNumber": number})
            _raise_if_failed(result, "account")
            account = result.data.get("account")
            info = parse.account_info(account, euids=await self._heat_pump_euids(number, account))
            tariff_set = tariffs.gb_tariffs(account, now, deployment=self.dep)
        elif discovery == "market_supply_agreements":
            result = await self._query(f"PollAccount{suffix}", {"accountNumber": number})
            _raise_if_failed(result, "account")
            account = parse.obj(result.data.get("account"), "account")
            refs = parse.edges(account.get("marketSupplyAgreements"), "marketSupplyAgreements")
            ids = [str(r["id"]) for r in refs if isinstance(r, dict) and r.get("id") is not None]
            agreements = []
            for agreement_id in ids[:MAX_AGREEMENTS]:
                res = await self._query(f"PollAgreement{suffix}", {"id": agreement_id})
                _raise_if_failed(res, "agreement")
                if res.data.get("agreement") is not None:
                    agreements.append(res.data["agreement"])
            info = parse.account_info(account, agreement_ids=ids)
            tariff_set = tariffs.de_tariffs(agreements, now, deployment=self.dep)
        elif discovery == "product_agreements":
            result = await self._query(f"PollAccount{suffix}", {"accountNumber": number})
            _raise_if_failed(result, "account")
            self._rate_limit(result.data, now)
            account = parse.obj(result.data.get("account"), "account")
            refs = [a for a in parse.items(account.get("agreements"), "agreements") if isinstance(a, dict)]
            codes: list[str] = []
            for ref in refs:
                product = parse.sub(ref, "product")
                if product.get("code") and str(product["code"]) not in codes:
                    codes.append(str(product["code"]))
            products: dict[str, Any] = {}
            for code in codes[:MAX_AGREEMENTS]:
                res = await self._query(f"PollProduct{suffix}", {"code": code})
                _raise_if_failed(res, "product")
                if res.data.get("product") is not None:
                    products[code] = res.data["product"]
            info = parse.account_info(
                account, agreement_ids=[str(r.get("id")) for r in refs], product_codes=codes
            )
            tariff_set = tariffs.au_tariffs(refs, products, now, deployment=self.dep)
        else:
            return
        self._set(Stream.ACCOUNT, now, account=info)
        tariff_set = tariffs.intelligent(tariff_set, self._dispatch_capable())
        self._set(Stream.TARIFFS, now, tariffs=tariffs.with_history(tariff_set, self._snapshot.tariffs, now))

    def _dispatch_capable(self) -> bool:
        """The account has a smart-charging device that is live (what makes a tariff Intelligent)."""
        devices = self._snapshot.devices
        return any(
            d.is_ev and d.lifecycle == Lifecycle.LIVE for d in (devices.devices if devices else ())
        ) or any(d.end > d.start for d in self._snapshot.dispatches)

    def _reassess_intelligent(self) -> None:
        current = self._snapshot.tariffs
        if current is None:
            return
        updated = tariffs.intelligent(current, self._dispatch_capable())
        if updated is not current:
            self._snapshot = self._snapshot.model_copy(update={"tariffs": updated})

    # -- documents, optional selections and rejected fields ---------------------------------------------

    async def _query(
        self, name: str, variables: Mapping[str, Any], *, optional: bool = False
    ) -> GraphQLResult:
        """Run the document ``name`` without the optional selections the server rejected so far. A GraphQL
        validation error naming a field or type of an optional fragment drops that fragment (one warning,
        a ``dropped`` entry in the snapshot) and the document is sent again at once. One naming a critical
        part raises :class:`RejectedFieldError`; with ``optional`` the whole document is dropped instead."""
        for _ in range(MAX_DROPS_PER_CALL):
            if name in self._dropped_documents:
                raise DroppedError(f"{name} was dropped: {self._dropped_documents[name]}")
            try:
                doc = documents.load(name, self._dropped.get(name, frozenset()))
            except documents.DocumentError:  # every optional part of it is dropped
                self._drop_document(name, "every optional selection was rejected")
                continue
            try:
                return await self._execute(doc, variables)
            except KrakenValidationError as exc:
                found = documents.rejection(exc.message) if exc.code is None else None
                parts = documents.culprits(doc, found) if found is not None else None
                if found is None or parts is None:
                    raise
                if not parts:
                    if optional:
                        self._drop_document(name, found.message)
                        continue
                    raise RejectedFieldError(found, name) from None
                self._drop_parts(name, parts, found)
        raise KrakenError(f"{name}: too many rejected selections", operation=name)

    def _drop_parts(self, name: str, parts: frozenset[str], found: documents.Rejection) -> None:
        self._dropped[name] = self._dropped.get(name, frozenset()) | parts
        dropped = dict(self._snapshot.dropped)
        for part in sorted(parts):
            log.warning(
                "poller.selection_dropped",
                document=name,
                selection=part,
                rejected=found.label,
                error=found.message[:200],
            )
            dropped[f"{name}/{part}"] = found.message[:200]
        self._snapshot = self._snapshot.model_copy(update={"dropped": dropped})

    def _drop_document(self, name: str, reason: str) -> None:
        self._dropped_documents[name] = reason[:200]
        log.warning("poller.document_dropped", document=name, error=reason[:200])
        self._snapshot = self._snapshot.model_copy(
            update={"dropped": {**self._snapshot.dropped, name: reason[:200]}}
        )

    # -- the fast cycle: devices and dispatches --------------------------------------------------------

    def _dispatch_device_ids(self) -> list[str]:
        """The smart-charging devices the last device poll found (their planned dispatches are asked)."""
        devices = self._snapshot.devices
        return sorted(
            d.id
            for d in (devices.devices if devices else ())
            if d.is_ev and not d.legacy and d.lifecycle != Lifecycle.RETIRED
        )

    def _on_backend(self, document: str, root_field: str) -> bool:
        """Whether ``document`` goes to the deployment's backend endpoint: the client has one, the
        deployment serves ``root_field`` there, and the server has not rejected the document."""
        return (
            BACKEND in self.client.endpoints
            and self.dep.endpoint_of(root_field) == BACKEND
            and document not in self._dropped_documents
        )

    async def _heat_pump_euids(self, number: str, account: Any) -> Any:
        """Octopus heat-pump controllers (optional: kept out of the account document). On GB's backend
        endpoint, per property (``heatPumpControllersAtLocation``, as HAOE asks); the main endpoint's
        ``controllerEuids`` when there is no backend endpoint or it rejects the document."""
        if self._on_backend("HeatPumpControllersAtLocationGb", "heatPumpControllersAtLocation"):
            found = await self._heat_pump_euids_at_locations(number, account)
            if found is not None:
                return found
        if not self.dep.has("controllerEuids"):
            return None
        try:
            result = await self._query("HeatPumpControllersGb", {"accountNumber": number}, optional=True)
        except (DroppedError, KrakenError) as exc:
            log.info("poller.heat_pump_discovery_failed", error=str(exc)[:200])
            old = self._snapshot.account
            return list(old.heat_pump_controller_euids) if old else None
        return _ok(result, "controllerEuids")

    async def _heat_pump_euids_at_locations(self, number: str, account: Any) -> list[str] | None:
        """The controllers at each of the account's properties (None: the backend rejected the document,
        ask the main endpoint)."""
        props = parse.items(account.get("properties") if isinstance(account, dict) else None, "properties")
        property_ids = [str(p["id"]) for p in props if isinstance(p, dict) and p.get("id") is not None]
        euids: list[str] = []
        try:
            for property_id in property_ids[:MAX_AGREEMENTS]:
                result = await self._query(
                    "HeatPumpControllersAtLocationGb",
                    {"accountNumber": number, "propertyId": property_id},
                    optional=True,
                )
                err = result.failed("heatPumpControllersAtLocation")
                if isinstance(err, NotFoundError):
                    continue  # no controller at this property
                if err is not None:
                    raise err
                for euid in parse.controllers_at_location(result.data.get("heatPumpControllersAtLocation")):
                    if euid not in euids:
                        euids.append(euid)
        except DroppedError:
            return None
        except KrakenError as exc:
            log.info("poller.heat_pump_discovery_failed", endpoint=BACKEND, error=str(exc)[:200])
            old = self._snapshot.account
            return list(old.heat_pump_controller_euids) if old else []
        return euids

    def _dispatch_source(self, now: datetime) -> str | None:
        """The best planned-dispatch source not demoted whose document exists and is not retired."""
        for source in self._dispatch_sources:
            name = _SOURCE_DOCUMENTS[source].format(suffix=self._suffix)
            if name in documents.names() and not documents.retired(documents.load(name), now.date()):
                return source
        return None

    async def _fetch_live(self, now: datetime) -> None:
        number = self._account_number()
        suffix = self._suffix
        device_ids = self._dispatch_device_ids()
        source = self._dispatch_source(now)
        variables: dict[str, Any] = {"accountNumber": number}
        if source == "planned":
            document = f"PollLivePlanned{suffix}"
        elif source == "flex" and device_ids:
            document = f"PollLive{suffix}"
            variables["deviceId"] = device_ids[0]
        else:
            document = f"PollDevices{suffix}"
        try:
            result = await self._query(document, variables)
        except RejectedFieldError as exc:
            if exc.rejection.name in _DISPATCH_FIELDS and self._demote_dispatch_source(exc, source, now):
                return await self._fetch_live(now)
            raise
        data = result.data
        self._rate_limit(data, now)
        device_error = result.failed("devices")
        if device_error is not None:
            self._fail({Stream.DEVICES}, now, device_error)
        else:
            try:
                devices = await self._devices(data, now)
            except parse.ParseError as exc:
                self._fail({Stream.DEVICES}, now, exc)
            else:
                self._set(Stream.DEVICES, now, devices=devices)
                self._reassess_intelligent()
        demoted = await self._dispatches(result, now, source, device_ids if "deviceId" in variables else [])
        if demoted and self._dispatch_source(now) is not None:
            await self._fetch_live(now)  # the next source, in this same poll

    def _demote_dispatch_source(self, exc: RejectedFieldError, source: str | None, now: datetime) -> bool:
        """The server rejects the dispatch field of ``source``: fall back to the next source (one warning,
        a ``dropped`` entry: status and metric). With none left the devices are still polled and the
        dispatch stream is stale with the reason. True: poll again now."""
        if source is None or source not in self._dispatch_sources:
            return False
        self._dispatch_sources.remove(source)
        self._dispatch_rejected = exc
        now_using = self._dispatch_source(now)
        log.warning(
            "poller.dispatch_source_demoted",
            rejected=exc.rejection.label,
            source=_SOURCE_FIELDS[source],
            now_using=_SOURCE_FIELDS[now_using] if now_using else None,
        )
        key = f"{_SOURCE_DOCUMENTS[source].format(suffix=self._suffix)}/{_SOURCE_FIELDS[source]}"
        self._snapshot = self._snapshot.model_copy(
            update={"dropped": {**self._snapshot.dropped, key: exc.rejection.message[:200]}}
        )
        return True

    @property
    def dispatch_sources(self) -> tuple[str, ...]:
        """The planned-dispatch sources still in use, best first (``flex``, ``planned``)."""
        return tuple(self._dispatch_sources)

    async def _dispatches(
        self, result: GraphQLResult, now: datetime, source: str | None, asked: list[str]
    ) -> bool:
        """Planned dispatches (per device, or the fallback's account-wide list) and completed ones. True:
        the server rejected the source's field and it was demoted."""
        data = result.data
        if source is None:
            err = self._dispatch_rejected or KrakenError("no source of planned dispatches")
            self._fail({Stream.DISPATCHES}, now, err)
            return False
        try:
            completed = self._dispatch_list(result, "completedDispatches", None)
            planned_lists: list[tuple[Dispatch, ...]] = []
            if source == "planned":
                planned_lists.append(self._dispatch_list(result, "plannedDispatches", None))
            elif source == "flex":
                wanted = self._dispatch_device_ids()
                for device_id in wanted:
                    if asked and device_id == asked[0] and "flexPlannedDispatches" in data:
                        planned_lists.append(self._dispatch_list(result, "flexPlannedDispatches", device_id))
                        continue
                    res = await self._query("FlexPlannedDispatches", {"deviceId": device_id})
                    planned_lists.append(self._dispatch_list(res, "flexPlannedDispatches", device_id))
        except RejectedFieldError as exc:
            demoted = exc.rejection.name in _DISPATCH_FIELDS and self._demote_dispatch_source(
                exc, source, now
            )
            if not demoted or self._dispatch_source(now) is None:
                self._fail({Stream.DISPATCHES}, now, exc)
            return demoted
        except (KrakenError, parse.ParseError) as exc:
            self._fail({Stream.DISPATCHES}, now, exc)
            return False
        self._tracker.update(merge_planned(planned_lists), completed, now)
        self._set(Stream.DISPATCHES, now, dispatches=self._tracker.dispatches)
        return False

    @staticmethod
    def _dispatch_list(result: GraphQLResult, field: str, device_id: str | None) -> tuple[Dispatch, ...]:
        err = result.failed(field)
        if err is not None:
            if isinstance(err, NotFoundError) and err.code in NO_DISPATCHES:
                return ()  # no smart-charging device (KT-CT-4301): no dispatches, not a failure
            raise err  # KT-CT-4340 / 4341 and the rest: keep the last data
        if device_id is not None:
            return parse.flex_dispatches(result.data.get(field), device_id)
        return parse.dispatches(result.data.get(field), field)

    async def _devices(self, data: Mapping[str, Any], now: datetime) -> DevicesData:
        old = self._snapshot.devices
        found = parse.devices_data(data.get("devices"))
        if not found.devices and self._legacy_devices is None and self.dep.legacy_devices:
            return await self._probe_legacy(found)
        return found.model_copy(update={"legacy_battery": old.legacy_battery if old else None})

    async def _probe_legacy(self, found: DevicesData) -> DevicesData:
        """``devices`` lists nothing: the account may have a battery on the legacy KrakenFlex API (asked
        once; the legacy EV queries are gone)."""
        self._legacy_devices = False
        account = self._snapshot.account
        property_id = next(
            (int(p.id) for p in (account.properties if account else ()) if p.id.isdigit()), None
        )
        if property_id is None:
            return found
        try:
            result = await self._query(
                "PollLegacyDevicesGb",
                {"accountNumber": self._account_number(), "propertyId": property_id},
                optional=True,
            )
        except (DroppedError, KrakenValidationError) as exc:
            log.info("poller.legacy_probe_skipped", error=str(exc)[:200])
            return found
        legacy = parse.devices_data(None, battery=_ok(result, "batteryDevice"))
        if legacy.legacy_battery is not None:
            self._legacy_devices = True
            log.info("poller.legacy_battery")
        return legacy

    def _events_dropped(self) -> bool:
        return "PollEventsGb" in self._dropped_documents and not self._on_backend(
            "PollEventsBackendGb", "greenerNightsForecast"
        )

    async def _fetch_events(self, now: datetime) -> None:
        """Saving sessions and the greenness of the coming nights: on GB's backend endpoint in the live
        shape (``savingSessions { events(includeDev:) account(accountNumber:) }``, ``greenerNightsForecast``)
        when the client has that endpoint; the main endpoint's ``PollEventsGb`` (``greennessForecast``)
        otherwise, or once the backend rejects the document."""
        old = self._snapshot.events or EventsData()
        number = self._account_number()
        if self._on_backend("PollEventsBackendGb", "greenerNightsForecast"):
            try:
                result = await self._query("PollEventsBackendGb", {"accountNumber": number}, optional=True)
            except DroppedError as exc:
                log.info("poller.events_fallback", to="PollEventsGb", error=str(exc)[:200])
            else:
                if "GreenerNights" in self._dropped.get("PollEventsBackendGb", frozenset()):
                    result = await self._main_greenness(result)
                self._events(result, now, old, "PollEventsBackendGb", "greenerNightsForecast")
                return
        result = await self._query("PollEventsGb", {"accountNumber": number}, optional=True)
        self._events(result, now, old, "PollEventsGb", "greennessForecast")

    async def _main_greenness(self, backend: GraphQLResult) -> GraphQLResult:
        """``backend`` (saving sessions without greener nights) with the main endpoint's
        ``greennessForecast`` beside them (``PollGreennessGb``): the backend rejected only the greener
        nights, so only that feature falls back. Once the main endpoint rejects it too, greenness is empty
        (the drop is in ``dropped``), the saving sessions still come."""
        try:
            green = await self._query("PollGreennessGb", {}, optional=True)
        except DroppedError:
            return backend
        except KrakenError as exc:  # transient: keep the last greenness (see _events)
            log.info("poller.greenness_failed", error=str(exc)[:200])
            exc.path = ("greennessForecast",)
            green = GraphQLResult(data={}, errors=[exc])
        return GraphQLResult(
            data={**backend.data, "greennessForecast": green.data.get("greennessForecast")},
            errors=[*backend.errors, *green.errors],
        )

    def _events(
        self, result: GraphQLResult, now: datetime, old: EventsData, document: str, green_field: str
    ) -> None:
        dropped = self._dropped.get(document, frozenset())
        if "greennessForecast" in result.data or result.failed("greennessForecast"):
            green_field = "greennessForecast"  # the main endpoint's, beside the backend's saving sessions
            dropped = (dropped - {"GreenerNights"}) | self._dropped.get("PollGreennessGb", frozenset())
        fields = ("savingSessions", green_field)
        failed = [f for f in fields if result.failed(f)]
        if len(failed) == len(fields):
            raise result.failed(fields[0]) or KrakenError("events failed")
        if green_field == "greenerNightsForecast":
            new = parse.events(result.data.get("savingSessions"), None).model_copy(
                update={"greenness": parse.greener_nights(result.data.get(green_field))}
            )
        else:
            new = parse.events(result.data.get("savingSessions"), result.data.get(green_field))
        update: dict[str, Any] = {}
        if "savingSessions" in failed and not dropped & {"SavingSessions", "SavingSessionsLive"}:
            update |= {
                "saving_sessions": old.saving_sessions,
                "has_joined_saving_campaign": old.has_joined_saving_campaign,
            }
        if green_field in failed and not dropped & {"Greenness", "GreenerNights"}:
            update["greenness"] = old.greenness
        self._set(Stream.EVENTS, now, events=new.model_copy(update=update))

    async def _fetch_heat_pumps(self, now: datetime) -> None:
        number = self._account_number()
        account = self._snapshot.account
        euids = account.heat_pump_controller_euids if account else ()
        old = self._snapshot.heat_pumps
        legacy = old.legacy if old else None
        controllers = []
        backend = self._on_backend("PollHeatPumpLiveGb", "heatPumpLivePerformance")
        # The legacy KrakenFlex status (main endpoint): when there is no Octopus controller, and beside a
        # controller read on the backend while this account has shown a legacy heat pump (or not yet asked).
        if not euids or (backend and (self._legacy_heat_pump is not False)):
            try:
                result = await self._query("PollHeatPumpStatusGb", {"accountNumber": number}, optional=True)
            except DroppedError:
                if not euids:
                    raise
            else:
                if "heatPumpStatus" in result.data and not result.failed("heatPumpStatus"):
                    legacy = parse.legacy_heat_pump(result.data.get("heatPumpStatus"))
                    self._legacy_heat_pump = legacy is not None
        for euid in euids[:MAX_AGREEMENTS]:
            if backend:
                try:
                    controllers.append(await self._backend_controller(number, euid))
                    continue
                except DroppedError as exc:  # the backend rejects it: the main endpoint from now on
                    backend = False
                    log.info("poller.heat_pump_fallback", to="PollHeatPumpGb", error=str(exc)[:200])
            result = await self._query(
                "PollHeatPumpGb", {"accountNumber": number, "euid": euid}, optional=True
            )
            if "heatPumpStatus" in result.data and not result.failed("heatPumpStatus"):
                legacy = parse.legacy_heat_pump(result.data.get("heatPumpStatus"))
            err = result.failed("heatPumpControllerStatus")
            if err is not None and not result.data.get("heatPumpStatus"):
                raise err
            if "heatPumpControllerStatus" in result.data:
                controllers.append(parse.controller(euid, _ok(result, "heatPumpControllerStatus"), None))
        self._set(
            Stream.HEAT_PUMPS, now, heat_pumps=HeatPumpData(legacy=legacy, controllers=tuple(controllers))
        )

    async def _backend_controller(self, number: str, euid: str) -> HeatPumpController:
        """One controller's zones and live performance from GB's backend endpoint; a part that fails keeps
        that part's last data."""
        result = await self._query(
            "PollHeatPumpLiveGb", {"accountNumber": number, "euid": euid}, optional=True
        )
        status_err = result.failed("heatPumpControllerStatus")
        live_err = result.failed("heatPumpLivePerformance")
        asked = [f for f in ("heatPumpControllerStatus", "heatPumpLivePerformance") if f in result.data]
        if asked and all(result.failed(f) for f in asked):
            raise status_err or live_err or KrakenError("heat pump failed")
        new = parse.controller(
            euid, _ok(result, "heatPumpControllerStatus"), _ok(result, "heatPumpLivePerformance")
        )
        old = next(
            (
                c
                for c in (self._snapshot.heat_pumps.controllers if self._snapshot.heat_pumps else ())
                if c.euid == euid
            ),
            None,
        )
        if old is None:
            return new
        dropped = self._dropped.get("PollHeatPumpLiveGb", frozenset())
        update: dict[str, Any] = {}
        if status_err is not None and "HeatPumpBackendStatus" not in dropped:
            update |= {"zones": old.zones, "sensors": old.sensors}
        if live_err is not None and "HeatPumpLivePerformance" not in dropped:
            update |= {
                f: getattr(old, f)
                for f in ("live_read_at", "cop", "power_input_kw", "heat_output_kw", "outdoor_temperature_c")
            }
        return new.model_copy(update=update) if update else new

    async def _fetch_prepay(self, now: datetime) -> None:
        """Balance from the ESME; the auto top-up config from the meter's smart device that holds it
        (``autoTopupConfigs`` is per device: the ESME is asked first, then the meter's other smart devices,
        until one has configs; the one found is remembered)."""
        account = self._snapshot.account
        esme = account.esme_device_id if account else None
        if esme is None:
            raise parse.ParseError("no smart import meter to read a prepay balance from")
        old = self._snapshot.prepay
        candidates = list(account.smart_device_ids if account else (esme,))
        known = self.topup_device_id or (old.topup_device_id if old else None)
        if known is not None:
            candidates = [known]
        number = self._account_number()
        config = old.current_config(now) if old else None
        data: PrepayData | None = None
        topup_device: str | None = known
        for device in candidates:
            variables: dict[str, Any] = {"accountNumber": number, "esme": esme, "topupDevice": device}
            if config is not None and device == known:
                result = await self._query("PollPrepayTriggersGb", {**variables, "configId": config.id})
            else:
                result = await self._query("PollPrepayGb", variables)
            _raise_if_failed(result, "prepayBalanceSnapshot")
            data = parse.prepay(
                result.data.get("prepayBalanceSnapshot"),
                _ok(result, "autoTopupConfigs"),
                _ok(result, "autoTopupTriggers"),
            )
            if old is not None and result.failed("autoTopupConfigs"):
                data = data.model_copy(update={"topup_configs": old.topup_configs})
            if old is not None and (config is None or result.failed("autoTopupTriggers")):
                data = data.model_copy(update={"triggers": old.triggers})
            if data.topup_configs:
                topup_device = device
                break
        if data is None:
            return
        self._set(Stream.PREPAY, now, prepay=data.model_copy(update={"topup_device_id": topup_device}))


def _ok(result: GraphQLResult, field: str) -> Any:
    """The data of ``field``, or None when that root field failed."""
    return None if result.failed(field) else result.data.get(field)


def _raise_if_failed(result: GraphQLResult, field: str) -> None:
    err = result.failed(field)
    if err is not None:
        raise err


def _changed(before: Snapshot, after: Snapshot) -> frozenset[Stream]:
    fields = {
        Stream.ACCOUNT: "account",
        Stream.TARIFFS: "tariffs",
        Stream.DISPATCHES: "dispatches",
        Stream.DEVICES: "devices",
        Stream.HEAT_PUMPS: "heat_pumps",
        Stream.PREPAY: "prepay",
        Stream.EVENTS: "events",
        Stream.RATE_LIMIT: "rate_limit",
    }
    out = set()
    for s, f in fields.items():
        old, new = getattr(before, f), getattr(after, f)
        if old != new and (
            not isinstance(old, BaseModel)
            or not isinstance(new, BaseModel)
            or comparable(s, old) != comparable(s, new)
        ):
            out.add(s)
    # A stream turning stale or recovering is a change readers care about too.
    for s in fields:
        if (before.stream(s).error is None) != (after.stream(s).error is None):
            out.add(s)
    return frozenset(out)
