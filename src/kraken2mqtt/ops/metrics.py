"""Prometheus metrics: one :class:`Metrics` object per daemon, with its own registry and ``/metrics`` server.

Naming follows the Prometheus conventions: the ``kraken2mqtt_`` prefix, base units (seconds, watts,
joules, ratios 0-1), ``_total`` on counters and ``_timestamp_seconds`` on Unix times. Two deliberate
deviations, because nothing else reads sensibly on a dashboard:

* prices are in the account's currency (major unit: GBP, EUR, JPY, AUD; not pence/cents) **per kWh**,
  as the tariffs quote them (``..._price_per_kwh``); a plan cost is in the same currency;
* there is no currency label: one daemon serves one account, which has one currency.

Labels are few and bounded (see :data:`REQUEST_OUTCOMES`, :data:`COMMAND_RESULTS`): ``operation`` is the
name of a GraphQL document shipped with the package, ``stream`` one of the poller's data streams,
``device`` a configured device id, ``kind`` and ``action`` a planner action kind. Every labelled family
also accepts at most :data:`MAX_LABEL_VALUES` distinct values (further ones are counted as ``other``) and
only ``[A-Za-z0-9_.:-]{1,64}``, so a bug cannot explode the series count or leak text into labels.

The ``/metrics`` endpoint is prometheus-client's own WSGI exposition (``start_http_server``) on a daemon
thread: no extra dependency, the library handles content negotiation (text 0.0.4 / OpenMetrics) and
gzip, a slow or busy event loop never delays a scrape (and a scrape never blocks the loop), and
``shutdown()`` stops it cleanly. Its ASGI app would need an ASGI server the daemon does not have.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import platform
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kraken2mqtt import __version__
from kraken2mqtt.planner.model import ActionKind, DeviceAction
from kraken2mqtt.redact import redact_text

__all__ = [
    "ACTIONS",
    "COMMAND_RESULTS",
    "MAX_LABEL_VALUES",
    "REQUEST_OUTCOMES",
    "Metrics",
    "outcome_label",
]

PREFIX: Final = "kraken2mqtt"
MAX_LABEL_VALUES: Final = 40
OTHER: Final = "other"

# ``RequestEvent.outcome`` is "ok", "partial" or an exception class name; it is folded onto this set.
REQUEST_OUTCOMES: Final = (
    "ok",  # a full answer
    "partial",  # data with errors on some root fields
    "auth",  # AuthError and subclasses: bad key/password, token expired or refused, auth backing off
    "rate_limited",  # RateLimitedError
    "transport",  # TransportError: connection, TLS, timeout
    "server",  # ServerError: HTTP 5xx
    "protocol",  # ProtocolError: an unreadable response
    "rejected",  # the API refused the request itself (validation, not found, command refused, ...)
    "error",  # anything else
)
_OUTCOME_BY_CLASS: Final = {
    "AuthError": "auth",
    "TokenExpiredError": "auth",
    "CredentialsError": "auth",
    "AuthBackoffError": "auth",
    "RateLimitedError": "rate_limited",
    "EdgeBlockedError": "rate_limited",
    "TransportError": "transport",
    "ServerError": "server",
    "ProtocolError": "protocol",
    "KrakenValidationError": "rejected",
    "NotFoundError": "rejected",
    "CommandRefusedError": "rejected",
    "DisabledFieldError": "rejected",
    "UndocumentedFieldError": "rejected",
    "UnknownEndpointError": "rejected",
    "FieldAuthorizationError": "rejected",
    "QueryTooComplexError": "rejected",
    "MissingFirstError": "rejected",
}

COMMAND_RESULTS: Final = (
    "ok",  # the device (or the Kraken API) confirmed the command
    "failed",  # it could not be sent or the device reported an error
    "timeout",  # no confirmation in time
    "rejected",  # refused before sending: unsupported action, invalid value, device unavailable
    "superseded",  # replaced by a newer command before it completed
)

API_DURATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)
PLANNER_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_JOULES_PER_KWH: Final = 3_600_000.0
_NAN: Final = math.nan


#: Every action a device can be given (``kraken2mqtt_device_action``'s ``action`` label: a state set).
ACTIONS: Final = tuple(kind.value for kind in ActionKind)


class RequestLike(Protocol):
    """What :meth:`Metrics.observe_request` reads (``kraken2mqtt.kraken.client.RequestEvent``)."""

    @property
    def operation(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def seconds(self) -> float: ...


def outcome_label(outcome: str) -> str:
    """Fold a ``RequestEvent.outcome`` onto :data:`REQUEST_OUTCOMES`."""
    if outcome in ("ok", "partial"):
        return outcome
    return _OUTCOME_BY_CLASS.get(outcome, "error")


def _number(value: float | None) -> float:
    return _NAN if value is None else float(value)


class _LabelValues:
    """Bounds one label's values: well-formed, not secret, at most ``limit`` distinct ones."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if not _LABEL_VALUE.match(value) or redact_text(value) != value:
            return OTHER
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(value)
            return value


class _DataAge(Collector):
    """``kraken2mqtt_data_age_seconds{stream}``, computed at scrape time from the last fetch times."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._fetched: dict[str, float] = {}
        self._lock = threading.Lock()

    def set(self, stream: str, timestamp: float) -> None:
        with self._lock:
            self._fetched[stream] = timestamp

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{PREFIX}_data_age_seconds",
            "Seconds since each data stream was last fetched successfully from the Kraken API.",
            labels=["stream"],
        )
        now = self._clock()
        with self._lock:
            fetched = sorted(self._fetched.items())
        for stream, at in fetched:
            family.add_metric([stream], max(0.0, now - at))
        yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(f"{PREFIX}_data_age_seconds", "", labels=["stream"])


class _ProcessCollector(ProcessCollector):
    """prometheus-client's ``process_*`` metrics, also under ``ProcSubset=pid`` (the systemd unit), which
    hides ``/proc/stat`` where the library reads the boot time; ``CLOCK_BOOTTIME`` gives it as well."""

    def _boot_time(self) -> float:
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


class Metrics:
    """All of the daemon's metrics, in a registry of their own (several may coexist, e.g. in tests).

    The setters are cheap, thread-safe and never raise on odd input (``None`` means unknown: the gauge
    reads NaN, or a labelled series is dropped); the daemon calls them from the event loop.
    """

    def __init__(
        self,
        *,
        version: str = __version__,
        clock: Callable[[], float] = time.time,
        process_metrics: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        r = self.registry
        p = PREFIX
        self._operations = _LabelValues()
        self._streams = _LabelValues()
        self._devices = _LabelValues()
        self._kinds = _LabelValues()
        self._task_names = _LabelValues()
        self._task_restarts_seen: dict[str, int] = {}
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

        info = Info(
            f"{p}_build", "Version of kraken2mqtt and of the Python running it (value 1).", registry=r
        )
        info.info({"version": version, "python_version": platform.python_version()})

        # Kraken API
        self.api_requests = Counter(
            f"{p}_api_requests_total",
            "Kraken GraphQL requests by operation and outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.api_request_duration = Histogram(
            f"{p}_api_request_duration_seconds",
            "Duration of Kraken GraphQL requests (one HTTP exchange each), all operations.",
            buckets=API_DURATION_BUCKETS,
            registry=r,
        )
        self.rate_limit_remaining = Gauge(
            f"{p}_api_rate_limit_points_remaining",
            "Rate-limit points the Kraken API says are left in the current allowance.",
            registry=r,
        )
        self.rate_limit_points = Gauge(
            f"{p}_api_rate_limit_points",
            "Rate-limit points of the Kraken API allowance.",
            registry=r,
        )
        self.rate_limit_reset = Gauge(
            f"{p}_api_rate_limit_reset_timestamp_seconds",
            "When the Kraken API rate-limit allowance is next replenished (Unix time; NaN if unknown).",
            registry=r,
        )
        self.token_expiry = Gauge(
            f"{p}_api_token_expiry_timestamp_seconds",
            "When the current Kraken access token expires (Unix time; NaN without a token).",
            registry=r,
        )
        self.data_fetched = Gauge(
            f"{p}_data_fetched_timestamp_seconds",
            "When each data stream was last fetched successfully from the Kraken API (Unix time).",
            ["stream"],
            registry=r,
        )
        self._data_age = _DataAge(clock)
        r.register(self._data_age)

        # MQTT and commands
        self.mqtt_connected = Gauge(
            f"{p}_mqtt_connected", "1 while connected to the MQTT broker, else 0.", registry=r
        )
        self.commands = Counter(
            f"{p}_commands_total",
            "Device commands by action kind and result.",
            ["kind", "result"],
            registry=r,
        )
        self.commands_pending = Gauge(
            f"{p}_commands_pending", "Device commands sent and not yet confirmed.", registry=r
        )

        # The daemon's own tasks (tasks.Supervisor: mqtt, poller, commands, reconcile, metrics, forecast...)
        self.task_up = Gauge(
            f"{p}_task_up",
            "1 while the daemon's task is running, 0 while it is being restarted, failed or stopped.",
            ["task"],
            registry=r,
        )
        self.task_restarts = Counter(
            f"{p}_task_restarts_total",
            "Restarts of the daemon's task after it failed or ended unexpectedly.",
            ["task"],
            registry=r,
        )

        # Tariff, dispatches, devices
        self.import_price = Gauge(
            f"{p}_import_price_per_kwh",
            "Current import unit rate, in the account's currency per kWh (NaN if unknown).",
            registry=r,
        )
        self.export_price = Gauge(
            f"{p}_export_price_per_kwh",
            "Current export unit rate, in the account's currency per kWh (NaN without an export tariff).",
            registry=r,
        )
        self.dispatch_active = Gauge(
            f"{p}_dispatch_active",
            "1 while a Kraken (smart-charge) dispatch is in progress, else 0.",
            registry=r,
        )
        self.planned_energy = Gauge(
            f"{p}_planned_energy_joules",
            "Energy the current plan schedules for each device (1 kWh = 3.6e6 J).",
            ["device"],
            registry=r,
        )
        self.dropped_selections = Gauge(
            f"{p}_kraken_dropped_selections",
            "Optional document selections the server rejected and the daemon no longer sends (value 1).",
            ["document", "selection"],
            registry=r,
        )
        self.device_soc = Gauge(
            f"{p}_device_state_of_charge_ratio",
            "Device state of charge, 0 to 1.",
            ["device"],
            registry=r,
        )
        self.device_power = Gauge(
            f"{p}_device_power_watts",
            "Device power; positive when drawing from the home, negative when supplying it.",
            ["device"],
            registry=r,
        )
        self.device_messages = Counter(
            f"{p}_device_messages_total",
            "MQTT messages sent to local devices, by kind: change, keepalive (an identical value repeated: "
            "refresh or dead-man) or release (handing the device back to its own logic).",
            ["device", "kind"],
            registry=r,
        )
        self.device_action = Gauge(
            f"{p}_device_action",
            "The action each device is given now (a state set: 1 for that action, 0 for the others), as "
            "the driver, Home Assistant and `kraken2mqtt status` have it.",
            ["device", "action"],
            registry=r,
        )
        self.device_action_power = Gauge(
            f"{p}_device_action_power_watts",
            "The power the action now asks of each device (0 for an action without a power).",
            ["device"],
            registry=r,
        )
        self.device_errors = Counter(
            f"{p}_device_errors_total",
            "Errors reported by local devices (or a write they never confirmed).",
            ["device"],
            registry=r,
        )
        self.device_manual_overrides = Counter(
            f"{p}_device_manual_overrides_total",
            "Changes a person made on a local device, respected for the device's manual hold time.",
            ["device"],
            registry=r,
        )
        self.device_persistent_writes = Counter(
            f"{p}_device_persistent_writes_total",
            "Writes to settings a local device stores in flash/EEPROM.",
            ["device"],
            registry=r,
        )

        # Planner
        self.planner_duration = Histogram(
            f"{p}_planner_run_duration_seconds",
            "Time taken to compute a plan.",
            buckets=PLANNER_DURATION_BUCKETS,
            registry=r,
        )
        self.plan_cost = Gauge(
            f"{p}_plan_cost",
            "Expected cost of the current plan's energy, in the account's currency (NaN if unknown).",
            registry=r,
        )
        self.plan_timestamp = Gauge(
            f"{p}_plan_timestamp_seconds", "When the current plan was computed (Unix time).", registry=r
        )

        for unknown in (self.rate_limit_remaining, self.rate_limit_points, self.rate_limit_reset):
            unknown.set(_NAN)
        for unknown in (self.token_expiry, self.import_price, self.export_price, self.plan_cost):
            unknown.set(_NAN)
        if process_metrics:
            # process_cpu_seconds_total, process_resident_memory_bytes, ... (standard names, no prefix).
            _ProcessCollector(registry=r)

    # -- Kraken API ---------------------------------------------------------------------------------------

    def observe_request(self, event: RequestLike) -> None:
        """One GraphQL exchange; usable as ``KrakenClient(on_request=metrics.observe_request)``."""
        self.api_requests.labels(self._operations(event.operation), outcome_label(event.outcome)).inc()
        self.api_request_duration.observe(max(0.0, event.seconds))

    def set_rate_limit(
        self, remaining: float | None, limit: float | None = None, resets_at: float | None = None
    ) -> None:
        """The server's rate-limit allowance (``None``: unknown)."""
        self.rate_limit_remaining.set(_number(remaining))
        self.rate_limit_points.set(_number(limit))
        self.rate_limit_reset.set(_number(resets_at))

    def set_token_expiry(self, expires_at: float | None) -> None:
        """Unix time the access token expires (``None``: no token)."""
        self.token_expiry.set(_number(expires_at))

    def mark_fetched(self, stream: str, at: float | None = None) -> None:
        """Data ``stream`` was fetched successfully at Unix time ``at`` (default: now)."""
        label = self._streams(stream)
        when = self._clock() if at is None else float(at)
        self.data_fetched.labels(label).set(when)
        self._data_age.set(label, when)

    # -- MQTT and commands ------------------------------------------------------------------------------

    def set_mqtt_connected(self, connected: bool) -> None:
        self.mqtt_connected.set(1 if connected else 0)

    def command(self, kind: str, result: str) -> None:
        """One finished device command: action ``kind`` (e.g. ``charge``), ``result`` from
        :data:`COMMAND_RESULTS` (anything else counts as ``failed``)."""
        self.commands.labels(self._kinds(kind), result if result in COMMAND_RESULTS else "failed").inc()

    def set_pending_commands(self, count: int) -> None:
        self.commands_pending.set(max(0, count))

    def observe_tasks(self, report: Iterable[Mapping[str, Any]]) -> None:
        """The task supervisor's :meth:`~kraken2mqtt.tasks.Supervisor.report`: ``task_up`` per task and
        ``task_restarts_total`` advanced by the restarts since the last call."""
        for task in report:
            label = self._task_names(str(task.get("name", "")))
            self.task_up.labels(label).set(1 if task.get("state") == "running" else 0)
            restarts = int(task.get("restarts") or 0)
            new = restarts - self._task_restarts_seen.get(label, 0)
            series = self.task_restarts.labels(label)  # present from the start, at 0
            if new > 0:
                series.inc(new)
                self._task_restarts_seen[label] = restarts

    # -- tariff, dispatches, devices ----------------------------------------------------------------------

    def set_prices(self, import_per_kwh: float | None, export_per_kwh: float | None = None) -> None:
        """Current unit rates in currency per kWh (e.g. 0.245 for 24.5 p/kWh); ``None``: unknown."""
        self.import_price.set(_number(import_per_kwh))
        self.export_price.set(_number(export_per_kwh))

    def set_dropped(self, dropped: Mapping[str, str]) -> None:
        """Snapshot ``dropped`` keys (``Document/Fragment`` or ``Document``) as one series each."""
        for key in dropped:
            document, _, selection = key.partition("/")
            self.dropped_selections.labels(self._operations(document), selection or "*").set(1)

    def set_dispatch_active(self, active: bool) -> None:
        self.dispatch_active.set(1 if active else 0)

    def set_planned_energy(self, device: str, kwh: float | None) -> None:
        """Energy the current plan schedules for ``device`` (``None`` drops the series)."""
        label = self._devices(device)
        if kwh is None:
            self._drop(self.planned_energy, label)
        else:
            self.planned_energy.labels(label).set(kwh * _JOULES_PER_KWH)

    def set_device(
        self, device: str, soc_ratio: float | None = None, power_watts: float | None = None
    ) -> None:
        """A device's state of charge (0-1) and power (W); ``None`` drops that series."""
        label = self._devices(device)
        for gauge, value in ((self.device_soc, soc_ratio), (self.device_power, power_watts)):
            if value is None:
                self._drop(gauge, label)
            else:
                gauge.labels(label).set(value)

    def set_actions(self, actions: Mapping[str, DeviceAction]) -> None:
        """Each device's action now (``devices.reconcile.wanted_actions``, holds applied, as the driver got
        it): 1 on that action's series, 0 on the device's other :data:`ACTIONS`."""
        for device, action in actions.items():
            label = self._devices(device)
            now = action.kind.value
            for kind in ACTIONS:
                self.device_action.labels(label, kind).set(1 if kind == now else 0)
            self.device_action_power.labels(label).set(max(0.0, action.power_kw) * 1000)

    def device_message(self, device: str, kind: str, count: int = 1, persistent: int = 0) -> None:
        """``count`` messages of ``kind`` (change | keepalive | release) sent to ``device``."""
        label = self._devices(device)
        if count > 0:
            self.device_messages.labels(label, self._kinds(kind)).inc(count)
        if persistent > 0:
            self.device_persistent_writes.labels(label).inc(persistent)

    def device_error(self, device: str) -> None:
        self.device_errors.labels(self._devices(device)).inc()

    def device_manual_override(self, device: str) -> None:
        self.device_manual_overrides.labels(self._devices(device)).inc()

    def forget_device(self, device: str) -> None:
        """Drop every series of a device that is gone."""
        label = self._devices(device)
        for gauge in (self.planned_energy, self.device_soc, self.device_power, self.device_action_power):
            self._drop(gauge, label)
        for kind in ACTIONS:
            with contextlib.suppress(KeyError):
                self.device_action.remove(label, kind)

    @staticmethod
    def _drop(gauge: Gauge, label: str) -> None:
        with contextlib.suppress(KeyError):
            gauge.remove(label)

    # -- planner -----------------------------------------------------------------------------------------

    def observe_plan(self, seconds: float, cost: float | None, *, at: float | None = None) -> None:
        """One planner run: its duration and the plan's expected cost (currency; ``None``: unknown)."""
        self.planner_duration.observe(max(0.0, seconds))
        self.plan_cost.set(_number(cost))
        self.plan_timestamp.set(self._clock() if at is None else at)

    # -- exposition ----------------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition (format 0.0.4), as ``/metrics`` serves it by default."""
        return generate_latest(self.registry)

    def names(self) -> set[str]:
        """Every sample name the registry exposes now (with ``_total``/``_bucket``/... suffixes)."""
        return {s.name for family in self.registry.collect() for s in family.samples}

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` the server listens on, or ``None``."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    async def start_server(self, host: str = "127.0.0.1", port: int = 9842) -> tuple[str, int]:
        """Serve ``/metrics`` on ``host:port`` (port 0: any free port) from a daemon thread; return the
        bound address. Raises ``OSError`` if the address is unusable (e.g. port in use)."""
        if self._server is not None:
            raise RuntimeError("the metrics server is already running")
        server, thread = await asyncio.to_thread(start_http_server, port, host, self.registry)
        self._server, self._thread = server, thread
        address = self.address
        assert address is not None
        return address

    async def stop_server(self) -> None:
        """Stop serving (waits for the server thread; a no-op when not running)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        if thread is not None:
            await asyncio.to_thread(thread.join, 5.0)
