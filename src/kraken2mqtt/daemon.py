"""The daemon's wiring: one place that connects poll → snapshot → (plan → reconcile → publish).

Each stage lives in its own package; this module only builds them from the settings and runs their loops
until asked to stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

import structlog

from kraken2mqtt.clock import Clock
from kraken2mqtt.devices.base import Message, ReportedState
from kraken2mqtt.devices.driver import DeviceDriver
from kraken2mqtt.devices.reconcile import wanted_actions
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import KrakenClient, RequestEvent
from kraken2mqtt.kraken.commands import (
    CommandContext,
    KrakenCommandExecutor,
    Outcome,
    context_from_snapshot,
)
from kraken2mqtt.kraken.deployments import DEPLOYMENTS
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.signals import Signals
from kraken2mqtt.kraken.snapshot import Snapshot, Stream
from kraken2mqtt.mqtt.command_runner import CommandRunner, CommandService
from kraken2mqtt.mqtt.commands import CommandResult
from kraken2mqtt.mqtt.ha_publisher import HaPublisher
from kraken2mqtt.mqtt.homeassistant import Topics, View
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.ops.metrics import Metrics
from kraken2mqtt.ops.sdnotify import Notifier, stop_watchdog
from kraken2mqtt.planner.inputs import build_inputs
from kraken2mqtt.planner.model import DeviceAction, Plan
from kraken2mqtt.planner.plan import make_plan
from kraken2mqtt.settings import Settings
from kraken2mqtt.state import ensure_state_dir
from kraken2mqtt.store.commands import CommandQueue, PendingCommand, PlannerOverrides
from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore
from kraken2mqtt.tasks import cancel_and_wait

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KrakenTarget:
    """Where and as whom to talk to Kraken (the settings' account, or the sandbox's fake one)."""

    endpoint: str
    credentials: Credentials
    deployment: str
    account_number: str | None = None


def target_from(settings: Settings) -> KrakenTarget:
    k = settings.kraken
    return KrakenTarget(
        endpoint=k.endpoint_url,
        credentials=Credentials(api_key=k.api_key, email=k.email, password=k.password),
        deployment=k.deployment,
        account_number=k.account_number,
    )


def open_store(settings: Settings) -> StateStore:
    return StateStore(ensure_state_dir(settings.state_dir))


def make_client(
    settings: Settings,
    target: KrakenTarget,
    store: StateStore,
    clock: Clock,
    on_request: Callable[[RequestEvent], None] | None = None,
) -> KrakenClient:
    return KrakenClient(
        target.endpoint,
        target.credentials,
        deployment=target.deployment,
        clock=clock,
        token_store=SqliteTokenStore(store),
        budget=RequestBudget(clock, points_per_hour=settings.kraken.requests_per_hour),
        timeout=settings.kraken.timeout_seconds,
        on_request=on_request,
    )


class Daemon:
    """Runs the stages. Built from settings; ``run`` returns when ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        target: KrakenTarget | None = None,
        out: TextIO | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.target = target or target_from(settings)
        self.out = out
        self.metrics = metrics if metrics is not None else Metrics(clock=lambda: clock.now().timestamp())
        self.store = open_store(settings)
        self.client = make_client(settings, self.target, self.store, clock, self.metrics.observe_request)
        self.queue = CommandQueue(self.store.path)
        self.overrides = PlannerOverrides(self.queue)
        self.poller = Poller(
            self.client,
            deployment=self.target.deployment,
            clock=clock,
            account_number=self.target.account_number,
            store=self.store,
            on_change=self._on_change,
            pending_commands=lambda: bool(self.queue.pending()),
        )
        self.mqtt = MqttSupervisor(settings.mqtt, clock=clock)
        self.executor = KrakenCommandExecutor(self.client, self._command_context)
        self.runner = CommandRunner(
            self.queue, self.executor, self._publish_result, clock=clock, on_attempt=self._command_attempt
        )
        self.commands = CommandService(
            self.mqtt,
            self.runner,
            context=self._command_context,
            overrides=self.overrides,
            on_refresh=self._refresh,
            clock=clock,
        )
        self.driver = DeviceDriver(
            settings.devices,
            publish=self._publish_device,
            now=clock.now,
            on_state=self._device_state,
            on_action=self._on_action,
        )
        self.ha = HaPublisher(
            self._publish_retained, Topics(settings.mqtt.base_topic, settings.mqtt.discovery_prefix)
        )
        self.plan: Plan | None = None
        self.last_pass: float | None = None  # monotonic time of the last reconcile pass
        self._wake = asyncio.Event()  # the inputs changed: plan and apply now
        self._wake_soon = asyncio.Event()  # a device reported: plan and apply once the burst has settled
        self._plan_summary: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        notifier = Notifier.from_environment()
        self.commands.install()
        self.driver.install(lambda topic, handler: self.mqtt.subscribe(topic, handler))
        self.mqtt.on_connected += [self._on_mqtt_connected, self.driver.on_connected]
        if self.settings.metrics.enabled:
            try:
                await self.metrics.start_server(self.settings.metrics.host, self.settings.metrics.port)
            except OSError as exc:
                log.error("metrics.unavailable", error=str(exc))
        await self.poller.restore()
        tasks = [
            asyncio.create_task(self.mqtt.run(), name="mqtt"),
            asyncio.create_task(self.poller.run(stop), name="poller"),
            asyncio.create_task(self.runner.run(), name="commands"),
            asyncio.create_task(self._reconcile_loop(stop), name="reconcile"),
            asyncio.create_task(self._ready_when_connected(notifier), name="ready"),
        ]
        watchdog = notifier.start_watchdog(self.healthy)
        try:
            await stop.wait()
        finally:
            notifier.stopping()
            await stop_watchdog(watchdog)
            # Let the command being sent to Kraken finish (bounded), then stop everything else.
            self.runner.stop()
            await asyncio.wait({tasks[2]}, timeout=10.0)
            await cancel_and_wait(*tasks[1:])
            # Publish offline and disconnect (bounded: a broker that stopped answering must not hang us).
            mqtt_stop = asyncio.ensure_future(self.mqtt.stop())
            await asyncio.wait({mqtt_stop}, timeout=10.0)
            await cancel_and_wait(mqtt_stop, tasks[0])
            await self.metrics.stop_server()
            await self.close()

    async def poll_once(self) -> Snapshot:
        await self.poller.restore()
        await self.poller.poll_once()
        return self.poller.snapshot

    async def close(self) -> None:
        await self.client.aclose()
        self.queue.close()
        self.store.close()

    def healthy(self) -> bool:
        """For the systemd watchdog: the reconcile loop is turning and the broker is reachable."""
        if self.last_pass is None:
            return True
        limit = 3 * self.settings.planner.reconcile_seconds + 30
        return self.clock.monotonic() - self.last_pass < limit

    async def _ready_when_connected(self, notifier: Notifier) -> None:
        await self.mqtt.wait_connected()
        notifier.ready("connected to the broker")
        log.info("daemon.ready")

    # -- the level-triggered loop: plan → device actions → Home Assistant ---------------------------

    async def _reconcile_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            self._wake_soon.clear()
            try:
                await self.reconcile()
            except Exception:  # one bad pass must not stop the loop
                log.exception("reconcile.failed")
            self.last_pass = self.clock.monotonic()
            await self._idle(self.settings.planner.reconcile_seconds, stop)

    async def _idle(self, seconds: float, stop: asyncio.Event) -> None:
        """Until ``seconds`` of the daemon's clock pass, the inputs change (at once), a device reports
        (a second later, so a burst of state messages makes one pass), or we are stopped."""

        async def settled() -> None:
            await self._wake_soon.wait()
            await self.clock.sleep(1.0)

        waiters = [
            asyncio.ensure_future(self.clock.sleep(seconds)),
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(settled()),
            asyncio.ensure_future(stop.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(*waiters)

    async def reconcile(self) -> None:
        now = self.clock.now()
        snapshot = self.poller.snapshot
        modes: dict[str, str] = dict(self.overrides.all())
        self.plan = self._make_plan(snapshot, now, modes)
        planner = self.settings.planner
        failsafe = planner if planner.enabled else None
        if Stream.TARIFFS in snapshot.status:  # not before the first attempt to learn the prices
            actions = wanted_actions(self.settings.devices, self.plan, modes, now, failsafe)
            await self.driver.apply(actions)
        signals = self.poller.signals(now)
        view = View(snapshot, signals, now, self.plan, self.settings.devices, self.driver.reported(), modes)
        if self.mqtt.connected:
            await self.ha.publish(view)
        self._update_metrics(snapshot, signals)

    def _make_plan(self, snapshot: Snapshot, now: datetime, modes: dict[str, str]) -> Plan | None:
        if not self.settings.planner.enabled:
            return None
        inputs = build_inputs(
            snapshot, now, self.settings.planner, self.settings.devices, self.driver.reported(), modes
        )
        if inputs is None:
            return None
        started = time.perf_counter()
        plan = make_plan(inputs)
        minor = DEPLOYMENTS[snapshot.deployment].minor_per_major
        self.metrics.observe_plan(time.perf_counter() - started, plan.total_cost_p / minor)
        summary = [dp.summary for dp in plan.devices]
        if summary != self._plan_summary:
            self._plan_summary = summary
            log.debug("plan.changed", devices=summary)
        return plan

    def _update_metrics(self, snapshot: Snapshot, signals: Signals) -> None:
        m = self.metrics
        minor = DEPLOYMENTS[snapshot.deployment].minor_per_major
        m.set_prices(
            float(signals.import_rate) / minor if signals.import_rate is not None else None,
            float(signals.export_rate) / minor if signals.export_rate is not None else None,
        )
        m.set_dispatch_active(signals.dispatching_now)
        m.set_mqtt_connected(self.mqtt.connected)
        m.set_pending_commands(len(self.queue.pending()))
        if self.client.auth is not None:
            m.set_token_expiry(self.client.auth.expires_at)
        if snapshot.rate_limit is not None:
            resets = snapshot.rate_limit.resets_at
            m.set_rate_limit(
                snapshot.rate_limit.remaining,
                snapshot.rate_limit.limit,
                resets.timestamp() if resets else None,
            )
        for stream, status in snapshot.status.items():
            if status.fetched_at is not None:
                m.mark_fetched(stream.value, status.fetched_at.timestamp())
        m.set_dropped(snapshot.dropped)
        for device_id, state in self.driver.reported().items():
            soc = state.soc_pct / 100 if state.soc_pct is not None else None
            power = state.power_kw * 1000 if state.power_kw is not None else None
            m.set_device(device_id, soc, power)
        for dp in self.plan.devices if self.plan is not None else ():
            m.set_planned_energy(dp.device_id, max(0.0, dp.grid_kwh))

    # -- callbacks ----------------------------------------------------------------------------------

    def _on_change(self, snapshot: Snapshot, changed: frozenset[Stream]) -> None:
        self._wake.set()
        if self.out is not None and changed & _SHOWN:
            print(describe(snapshot, self.poller.signals(), changed), file=self.out, flush=True)
            for dp in self.plan.devices if self.plan is not None else ():
                print(f"  plan {dp.device_id}: {dp.summary}", file=self.out, flush=True)

    def _on_action(self, device_id: str, action: DeviceAction) -> None:
        if self.out is not None:
            power = f" {action.power_kw:.1f} kW" if action.power_kw else ""
            setpoint = f" to {action.setpoint_c:.1f} °C" if action.setpoint_c is not None else ""
            print(
                f"[{_local(self.clock.now())}] {device_id}: {action.kind.value}{power}{setpoint}"
                f" — {action.reason or 'no reason given'}",
                file=self.out,
                flush=True,
            )

    def _device_state(self, device_id: str, state: ReportedState) -> None:
        self._wake_soon.set()

    async def _on_mqtt_connected(self) -> None:
        self.ha.forget()
        self._wake.set()

    async def _refresh(self) -> None:
        await self.poller.refresh()

    def _command_context(self) -> CommandContext:
        return context_from_snapshot(
            self.poller.snapshot,
            deployment=self.target.deployment,
            local_devices=[d.id for d in self.settings.devices],
        )

    def _command_attempt(self, pending: PendingCommand, outcome: Outcome) -> None:
        self.metrics.command(pending.command.control.value, _METRIC_RESULT.get(outcome.status, "failed"))
        if outcome.status == "done":
            self.poller.wake()  # see the effect soon

    async def _publish_result(self, device: str, result: CommandResult) -> None:
        await self.commands.publish_result(device, result)

    async def _publish_device(self, message: Message) -> bool:
        return await self.mqtt.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)

    async def _publish_retained(self, topic: str, payload: str, retain: bool) -> bool:
        return await self.mqtt.publish(topic, payload, qos=1, retain=retain)


_SHOWN = frozenset({Stream.ACCOUNT, Stream.TARIFFS, Stream.DISPATCHES})
_METRIC_RESULT = {"done": "ok", "refused": "rejected", "invalid": "rejected", "retry": "failed"}


def _local(t: datetime | None, tz: str = "Europe/London") -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%a %H:%M") if t else "—"


def describe(snapshot: Snapshot, signals: Signals, changed: frozenset[Stream] = frozenset()) -> str:
    """A few human-readable lines about what the daemon now knows (the sandbox prints them)."""
    at = _local(signals.at)
    what = ", ".join(sorted(s.value for s in changed)) or "nothing"
    lines = [f"[{at}] {snapshot.account_number or 'account ?'} ({snapshot.mode}) — changed: {what}"]
    tariffs = snapshot.tariffs
    unit = tariffs.import_.unit if tariffs and tariffs.import_ else "p"
    if signals.import_rate is not None:
        rate = f"import {signals.import_rate:.2f}{unit}/kWh"
        billed = signals.dispatch_adjusted_rate
        if billed is not None and billed != signals.import_rate:
            rate += f" (billed {billed:.2f}{unit} during the dispatch)"
        if signals.export_rate is not None:
            rate += f", export {signals.export_rate:.2f}{unit}/kWh"
        lines.append("  prices: " + rate)
    if tariffs and tariffs.import_ and tariffs.import_.known_until:
        lines.append(f"  prices known until {_local(tariffs.import_.known_until)}")
    dispatching = f"yes until {_local(signals.current_dispatch_end)}" if signals.dispatching_now else "no"
    lines.append(
        f"  off-peak now: {'yes' if signals.off_peak_now else 'no'}; dispatching now: {dispatching}; "
        f"next dispatch: {_local(signals.next_dispatch_start)}"
    )
    for dev in snapshot.devices.devices if snapshot.devices else ():
        state = dev.state_raw or dev.state.value
        extra = ", suspended" if dev.suspended else ""
        lines.append(f"  device {dev.name or dev.id}: {dev.kind.value} {state}{extra}")
    if snapshot.prepay and snapshot.prepay.balance:
        lines.append(f"  prepay credit: {snapshot.prepay.balance.credit / 100:.2f}")
    if signals.stale:
        lines.append("  stale: " + ", ".join(sorted(s.value for s in signals.stale)))
    return "\n".join(lines)
