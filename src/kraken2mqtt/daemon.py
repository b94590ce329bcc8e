"""The daemon's wiring: one place that connects poll → snapshot → (plan → reconcile → publish).

Each stage lives in its own package; this module only builds them from the settings and runs their loops
until asked to stop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

import aiomqtt
import httpx
import structlog

from kraken2mqtt.clock import Clock
from kraken2mqtt.clock_sanity import ClockCheck, ClockGate
from kraken2mqtt.devices.base import LocalKind, Message, ReportedState
from kraken2mqtt.devices.driver import DeviceDriver
from kraken2mqtt.devices.reconcile import price_now, wanted_actions
from kraken2mqtt.forecast.load_meter import LoadMeter
from kraken2mqtt.forecast.model import SolarForecast
from kraken2mqtt.forecast.planning import outdoor_points, planned_solar
from kraken2mqtt.forecast.service import ForecastService
from kraken2mqtt.forecast.sun_history import persistence, sun_high
from kraken2mqtt.forecast.sun_meter import SunMeter
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import KrakenClient, RequestEvent
from kraken2mqtt.kraken.deployments import DEPLOYMENTS, MAIN
from kraken2mqtt.kraken.mutations import (
    CommandContext,
    KrakenCommandExecutor,
    Outcome,
    context_from_snapshot,
)
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.signals import Signals
from kraken2mqtt.kraken.snapshot import Snapshot, Stream
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.mqtt.command_runner import CommandRunner, CommandService
from kraken2mqtt.mqtt.ha_publisher import HaPublisher
from kraken2mqtt.mqtt.holds import Holds, held_by
from kraken2mqtt.mqtt.homeassistant import ForecastShown, Topics, View
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.ops.metrics import Metrics
from kraken2mqtt.ops.sdnotify import Notifier, stop_watchdog
from kraken2mqtt.plan_inputs import build_inputs, currency_of
from kraken2mqtt.planner.model import DeviceAction, LoadProfile, Plan, PlanInputs
from kraken2mqtt.planner.plan import make_plan
from kraken2mqtt.settings import Settings
from kraken2mqtt.state import DAEMON_STATE_KEY, encode_daemon_state, ensure_state_dir
from kraken2mqtt.store.command_queue import CommandQueue, PendingCommand, PlannerOverrides
from kraken2mqtt.store.device_days import SqliteDeviceDays
from kraken2mqtt.store.sqlite import SqliteForecastStore, SqliteTokenStore, StateStore
from kraken2mqtt.tasks import Supervisor, TaskFailed, first_completed

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KrakenTarget:
    """Where and as whom to talk to Kraken (the settings' account, or the sandbox's fake one)."""

    endpoint: str
    credentials: Credentials
    deployment: str
    account_number: str | None = None
    #: Every endpoint by name (``main``, GB's ``backend``); None: the deployment's, with ``endpoint`` as main.
    endpoints: Mapping[str, str] | None = None

    def all_endpoints(self) -> dict[str, str]:
        if self.endpoints is not None:
            return {**self.endpoints, MAIN: self.endpoint}
        known = DEPLOYMENTS.get(self.deployment)
        return known.endpoints_with(self.endpoint) if known is not None else {MAIN: self.endpoint}


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
    *,
    attempts: int = 3,
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
        endpoints=target.all_endpoints(),
        attempts=attempts,
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
        clock_check: ClockCheck | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.target = target or target_from(settings)
        self.out = out
        self.metrics = metrics if metrics is not None else Metrics(clock=lambda: clock.now().timestamp())
        self.store = open_store(settings)
        self.clock_gate = ClockGate(clock_check, clock, self.store)  # no plan, command or Kraken call before
        self._kraken_failing: str | None = None  # what the last request failed with (terminal lines)
        self.client = make_client(settings, self.target, self.store, clock, self._observe_request)
        self.queue = CommandQueue(self.store.database)  # one connection to the one file
        self.forecast = self._make_forecast()
        fs = settings.forecast
        self.load_meter = (
            LoadMeter(fs, SqliteForecastStore(self.store), settings.planner.timezone, clock.now)
            if fs.load_topic
            else None
        )
        # The sun as the panels measure it, per half hour of the last days (kept across a restart).
        self.sun_meter = (
            SunMeter(fs, SqliteForecastStore(self.store), settings.planner.timezone, clock.now)
            if fs.solar_topic
            else None
        )
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
        self.mqtt = MqttSupervisor(settings.mqtt, clock=clock, on_event=self._mqtt_event)
        #: Every long-running part, by name (the sandbox adds its world and devices before ``run``).
        self.tasks = Supervisor(clock, on_event=self._task_event)
        self.tasks.watchers.append(self._save_state)  # tasks and the clock wait, for `status` and metrics
        self.clock_gate.watchers.append(self._save_state)
        self._clock_changed = asyncio.Event()  # the clock gate's reason changed: tell Home Assistant
        self.clock_gate.watchers.append(self._clock_changed.set)
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
            metrics=self.metrics,
            timezone=settings.planner.timezone,
            save_status=lambda text: self.store.set("devices.status", text),
            days=SqliteDeviceDays(self.store.database),  # the flash budget survives a restart
        )
        self.ha = HaPublisher(
            self._publish_retained,
            Topics(
                settings.mqtt.base_topic, settings.mqtt.discovery_prefix, settings.mqtt.ha_legacy_object_id
            ),
        )
        self.holds = Holds(settings.mqtt.ha_person_hold_minutes, settings.planner.timezone)
        self.plan: Plan | None = None
        self.last_pass: float | None = None  # monotonic time of the last reconcile pass
        self._wake = asyncio.Event()  # the inputs changed: plan and apply now
        self._wake_soon = asyncio.Event()  # a device reported: plan and apply once the burst has settled
        self._plan_summary: list[str] = []
        self._forecast_said: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run every part under the task supervisor until ``stop`` is set. Raises :class:`TaskFailed`
        (after a clean shutdown) when a part failed for good, so the process exits non-zero."""
        notifier = Notifier.from_environment()
        self.clock_gate.on_wait = notifier.status
        self._install()
        await self.poller.restore()
        self._add_tasks(stop, notifier)
        watchdog = notifier.start_watchdog(self.healthy)
        failure: str | None = None
        try:
            failure = await self.tasks.run(stop)
        finally:
            notifier.stopping()
            await stop_watchdog(watchdog)
            await self._shutdown()
        if failure is not None:
            raise TaskFailed(failure)

    def _install(self) -> None:
        self.commands.install()
        topic = self.settings.forecast.load_topic
        if self.load_meter is not None and topic:
            self.mqtt.subscribe(topic, self._on_load_sample)
        sun_topic = self.settings.forecast.solar_topic
        if self.sun_meter is not None and sun_topic:
            self.mqtt.subscribe(sun_topic, self._on_solar_sample)
        self.driver.install(lambda topic, handler: self.mqtt.subscribe(topic, handler))
        self.mqtt.on_connected += [self._on_mqtt_connected, self.driver.on_connected]

    def _add_tasks(self, stop: asyncio.Event, notifier: Notifier) -> None:
        t = self.tasks
        t.add("mqtt", self.mqtt.run, healthy=self.mqtt.healthy)
        # No plan, device command or Kraken call before the clock is known to be right (clock_sanity.py).
        gate = self.clock_gate
        t.add("poller", lambda: gate.then(self.poller.run(stop), stop))
        t.add("commands", lambda: gate.then(self.runner.run(), stop))
        t.add("reconcile", lambda: gate.then(self._reconcile_loop(stop), stop), healthy=self._reconcile_fresh)
        if self.settings.metrics.enabled:
            t.add("metrics", self._serve_metrics, critical=False)
        forecast = self.forecast
        if forecast is not None:
            # Solar and weather forecasts: a failing service costs the forecast, never the daemon.
            t.add(
                "forecast",
                lambda: gate.then(forecast.run(self.clock.sleep, self._forecast_changed), stop),
                critical=False,
            )
        t.add("ready", lambda: self._ready_when_connected(notifier), may_end=True)
        t.add("clock-to-ha", lambda: self._clock_to_ha(stop), critical=False)

    async def _shutdown(self) -> None:
        """Stop in order; each step bounded so that a wedged part cannot hang the stop."""
        t = self.tasks
        # 1. Let the command being sent to Kraken finish (bounded).
        self.runner.stop()
        await t.wait("commands", within=10.0)
        # 2. Stop everything but the MQTT connection (the sandbox's world and devices too).
        await t.cancel(*(name for name in t.status() if name != "mqtt"))
        # 3. Hand every device back to its own logic before offline (devices/driver.py; bounded).
        await first_completed(self.driver.release_all(), self.clock_free_sleep(5.0))
        # 4. Publish offline and disconnect (bounded: a broker that stopped answering must not hang us).
        if "mqtt" in t:
            await first_completed(self.mqtt.stop(), self.clock_free_sleep(10.0))
            await t.cancel("mqtt")
        await self.clock_gate.close()
        await self.metrics.stop_server()
        await self.close()

    @staticmethod
    async def clock_free_sleep(seconds: float) -> None:
        """A real-time bound for shutdown steps (the daemon's clock may be simulated or paused)."""
        await asyncio.sleep(seconds)

    async def _serve_metrics(self) -> None:
        """The Prometheus endpoint (a server thread): started, then watched; a dead thread is an error
        (so the supervisor restarts it)."""
        await self.metrics.start_server(self.settings.metrics.host, self.settings.metrics.port)
        try:
            while self.metrics.address is not None:
                await self.clock.sleep(30.0)
            raise RuntimeError("the metrics server stopped")
        finally:
            await self.metrics.stop_server()

    async def poll_once(self) -> Snapshot:
        await self.poller.restore()
        await self.poller.poll_once()
        return self.poller.snapshot

    async def close(self) -> None:
        if self.load_meter is not None:
            self.load_meter.save()
        if self.sun_meter is not None:
            self.sun_meter.save()
        await self.client.aclose()
        if self.forecast is not None:
            await self.forecast.client.aclose()
        self.queue.close()
        self.store.close()

    def healthy(self) -> bool:
        """For the systemd watchdog: every critical part is running and healthy (the reconcile loop is
        turning, the MQTT supervisor is not failing for a local reason, no task has failed for good)."""
        return self.tasks.healthy()

    def _reconcile_fresh(self) -> bool:
        if self.last_pass is None:
            return True
        limit = 3 * self.settings.planner.reconcile_seconds + 30
        return self.clock.monotonic() - self.last_pass < limit

    def _observe_request(self, event: RequestEvent) -> None:
        self.metrics.observe_request(event)
        if self.out is None:
            return
        failing = None if event.outcome in ("ok", "partial") else event.outcome
        if failing is not None and self._kraken_failing is None:
            why = _KRAKEN_TROUBLE.get(failing, failing)
            print(
                f"[{_local(self.clock.now())}] Kraken: {why} ({event.operation}); retrying, last data kept",
                file=self.out,
                flush=True,
            )
        elif failing is None and self._kraken_failing is not None:
            print(f"[{_local(self.clock.now())}] Kraken: back", file=self.out, flush=True)
        self._kraken_failing = failing

    def _forecast_shown(self, now: datetime) -> ForecastShown | None:
        """The forecasts and the house load as Home Assistant shows them (None: no forecast configured)."""
        fc, meter = self.forecast, self.load_meter
        if fc is None and meter is None and self.sun_meter is None:
            return None
        tz = ZoneInfo(self.settings.planner.timezone)
        midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        shown = ForecastShown()
        solar = self._solar_forecast(now, 48.0)
        if solar is not None:
            slot = solar.half_hours(now, now + timedelta(minutes=1))
            shown = replace(
                shown,
                solar_rest_of_today_kwh=round(solar.energy_between(now, midnight + timedelta(days=1)), 1),
                solar_tomorrow_kwh=round(
                    solar.energy_between(midnight + timedelta(days=1), midnight + timedelta(days=2)), 1
                ),
                solar_now_kw=round(slot[0].mean_kw, 2) if slot else None,
            )
        weather = fc.weather_now() if fc is not None else None
        if weather is not None:
            temp = weather.celsius_at(now.replace(minute=0, second=0, microsecond=0))
            shown = replace(shown, outdoor_c=round(temp, 1) if temp is not None else None)
        if fc is not None:
            fetched = [f.fetched_at for f in (fc.solar, fc.weather) if f is not None]
            status = fc.status()
            stale = any(isinstance(v, dict) and v.get("stale") for v in status.values())
            shown = replace(shown, fetched_at=min(fetched) if fetched else None, stale=stale)
        learned = meter.daily_kw() if meter is not None else None
        if learned is not None:
            local = now.astimezone(tz)
            shown = replace(
                shown,
                house_load_kw=round(learned[local.hour * 2 + local.minute // 30], 2),
                house_load_learned=True,
            )
        return shown

    def _forecast_changed(self) -> None:
        """A new forecast: plan again now; one terminal line with what the sun will bring."""
        self._wake.set()
        now = self.clock.now()
        shown = self._forecast_shown(now)
        if self.out is None or shown is None:
            return
        parts = []
        if shown.solar_rest_of_today_kwh is not None and shown.solar_tomorrow_kwh is not None:
            parts.append(
                f"sun {shown.solar_rest_of_today_kwh:.1f} kWh for the rest of today, "
                f"{shown.solar_tomorrow_kwh:.1f} kWh tomorrow"
            )
        if shown.outdoor_c is not None:
            parts.append(f"outdoor {shown.outdoor_c:.1f} °C now")
        # Only when the sun's totals change (the temperature alone moves every hour).
        if parts and parts[0] != self._forecast_said:
            self._forecast_said = parts[0]
            print(f"[{_local(now)}] forecast: {'; '.join(parts)}", file=self.out, flush=True)

    def _mqtt_event(self, text: str) -> None:
        """A line on the terminal for each broker loss and return (the sandbox and ``run`` on a tty)."""
        if self.out is not None:
            print(f"[{_local(self.clock.now())}] MQTT: {text}", file=self.out, flush=True)

    def _save_state(self) -> None:
        report = self.tasks.report()
        self.metrics.observe_tasks(report)
        state = encode_daemon_state(report, self.clock_gate.waiting_for, self.clock.now())
        try:
            self.store.set(DAEMON_STATE_KEY, state)
        except sqlite3.Error as exc:  # the disk must not stop a task
            log.warning("daemon.state_not_saved", error=str(exc)[:200])

    def _task_event(self, name: str, what: str, error: BaseException | None, delay: float | None) -> None:
        if self.out is None or what == "failed":
            return
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        text = {
            "ended": f"task {name} ended unexpectedly",
            "restarting": f"task {name} failed{why}; restarting in {delay or 0:.0f} s",
            "gave_up": f"task {name} failed for good{why}",
        }.get(what, f"task {name}: {what}")
        print(f"[{_local(self.clock.now())}] {text}", file=self.out, flush=True)

    async def _clock_to_ha(self, stop: asyncio.Event) -> None:
        """Home Assistant's "Waiting for the clock" entity, published whenever the gate's reason changes or
        the broker connects: it runs before the gate opens, while nothing else is published."""
        gate = self.clock_gate
        while not stop.is_set():
            await first_completed(self.mqtt.wait_connected(), stop.wait())
            self._clock_changed.clear()
            if self.mqtt.connected:
                await self.ha.publish_clock(gate.waiting_for)
            await first_completed(self._clock_changed.wait(), stop.wait())

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

        await first_completed(self.clock.sleep(seconds), self._wake.wait(), settled(), stop.wait())

    async def reconcile(self) -> None:
        now = self.clock.now()
        snapshot = self.poller.snapshot
        modes: dict[str, str] = dict(self.overrides.all())
        self.plan = self._make_plan(snapshot, now, modes)
        planner = self.settings.planner
        failsafe = planner if planner.enabled else None
        # The action now, computed once and carried to the driver, Home Assistant and `status`.
        actions: dict[str, DeviceAction] = {}
        if Stream.TARIFFS in snapshot.status:  # not before the first attempt to learn the prices
            actions = wanted_actions(self.settings.devices, self.plan, modes, now, failsafe)
            await self.driver.apply(self.holds.apply(actions, now, modes), import_p=price_now(self.plan, now))
        signals = self.poller.signals(now)
        view = View(snapshot, signals, now, self.plan, self.settings.devices, self.driver.reported(), modes)
        holds = self.holds.shown(now, modes)
        view = replace(view, holds=holds, forecast=self._forecast_shown(now), actions=actions)
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
        inputs = self._with_forecasts(inputs, now)
        started = time.perf_counter()
        plan = make_plan(inputs)
        minor = DEPLOYMENTS[snapshot.deployment].minor_per_major
        self.metrics.observe_plan(time.perf_counter() - started, plan.total_cost_p / minor)
        summary = [dp.summary for dp in plan.devices]
        if summary != self._plan_summary:
            self._plan_summary = summary
            log.debug("plan.changed", devices=summary)
        return plan

    def _make_forecast(self) -> ForecastService | None:
        fs = self.settings.forecast
        if not (fs.solar or fs.weather):
            return None
        client = httpx.AsyncClient(timeout=fs.timeout_seconds)
        return ForecastService(fs, client, SqliteForecastStore(self.store), self.clock.now)

    async def _on_load_sample(self, message: aiomqtt.Message) -> None:
        if self.load_meter is None or not isinstance(message.payload, bytes | bytearray):
            return
        planned = sum(
            r.power_kw or 0.0
            for d in self.settings.devices
            if d.plan is not None and d.kind is not LocalKind.BATTERY
            for r in (self.driver.reported().get(d.id),)
            if r is not None
        )
        self.load_meter.sample(bytes(message.payload), planned)

    async def _on_solar_sample(self, message: aiomqtt.Message) -> None:
        if self.sun_meter is not None and isinstance(message.payload, bytes | bytearray):
            self.sun_meter.sample(bytes(message.payload))

    def _with_forecasts(self, inputs: PlanInputs, now: datetime) -> PlanInputs:
        """The learned house load (once there is a week of it); the solar forecast as negative house
        load (the measured sun's own persistence forecast when no service answers); the optimistic sun
        of the grid-charge guard from the measured sun of the last days; the weather forecast for the
        heat-pump model, shifted by the pump's own outdoor reading."""
        fs = self.settings.forecast
        learned = self.load_meter.daily_kw() if self.load_meter is not None else None
        if learned is not None:
            inputs = replace(inputs, house_load=LoadProfile(learned, self.settings.planner.timezone))
        fc = self.forecast
        measured = self.sun_meter.measured if self.sun_meter is not None else None
        if measured is not None:
            inputs = replace(inputs, solar_high=sun_high(measured.history, now, inputs.horizon_h))
        solar = self._solar_forecast(now, inputs.horizon_h)
        if solar is not None:
            inputs = replace(
                inputs,
                solar=planned_solar(
                    solar, now, inputs.horizon_h, fs.solar_weight, measured, fs.measured_sun_prior_kwh
                ),
            )
        if fc is not None:
            outdoor = outdoor_points(fc.weather_now(), self._measured_outdoor_c(), now)
            if outdoor is not None:
                inputs = replace(inputs, outdoor=outdoor)
        return inputs

    def _solar_forecast(self, now: datetime, horizon_h: float) -> SolarForecast | None:
        """The service's solar forecast; without one (none set up, or too old), the measured sun's own
        persistence forecast (``forecast.measured_sun_forecast``); None: no sun."""
        solar = self.forecast.solar_now() if self.forecast is not None else None
        if solar is None and self.sun_meter is not None and self.settings.forecast.measured_sun_forecast:
            solar = persistence(self.sun_meter.measured.history, now, horizon_h)
        return solar

    def _measured_outdoor_c(self) -> float | None:
        heat_pumps = self.poller.snapshot.heat_pumps
        for ctl in heat_pumps.controllers if heat_pumps else ():
            if ctl.outdoor_temperature_c is not None:
                return float(ctl.outdoor_temperature_c)
        return None

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
        m.set_actions(self.driver.actions_now)  # the action now, as the driver and `status` have it

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
        self._clock_changed.set()

    async def _refresh(self) -> None:
        await self.clock_gate.then(self.poller.refresh())

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
        if self.ha.note_result(device, result):  # Home Assistant shows the value that was set
            self._wake.set()
        kraken = self.poller.snapshot.devices
        heat_pumps = held_by(device, self.settings.devices, kraken.devices if kraken else ())
        if self.holds.note(result, self.clock.now(), heat_pumps):  # the person wins for a while
            self._wake.set()

    async def _publish_device(self, message: Message) -> bool:
        return await self.mqtt.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)

    async def _publish_retained(self, topic: str, payload: str, retain: bool) -> bool:
        return await self.mqtt.publish(topic, payload, qos=1, retain=retain)


_KRAKEN_TROUBLE = {
    "TransportError": "unreachable",
    "ServerError": "server error",
    "ProtocolError": "unreadable answer",
    "RateLimitedError": "rate limited, backing off",
    "EdgeBlockedError": "blocked by the API's CDN (edge rate limit), backing off",
    "TokenExpiredError": "token expired, renewing",
    "AuthError": "token refused, renewing",
    "CredentialsError": "credentials refused",
    "AuthBackoffError": "waiting before the next login attempt",
}
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
        lines.append(
            f"  prepay credit: {currency_of(snapshot.deployment).money(snapshot.prepay.balance.credit)}"
        )
    if signals.stale:
        lines.append("  stale: " + ", ".join(sorted(s.value for s in signals.stale)))
    return "\n".join(lines)
