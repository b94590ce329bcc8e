"""Entry points behind the CLI: ``run`` and ``status`` (``check-config`` is in :mod:`checks`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import structlog

from kraken2mqtt.clock import Clock, SystemClock
from kraken2mqtt.clock_sanity import ClockCheck, same_kind
from kraken2mqtt.daemon import Daemon, describe
from kraken2mqtt.forecast import sun_meter
from kraken2mqtt.forecast.model import SolarForecast, WeatherForecast
from kraken2mqtt.forecast.sun_history import DAYS, SunHistory
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.kraken.signals import of as signals_of
from kraken2mqtt.settings import Settings
from kraken2mqtt.state import DAEMON_STATE_KEY, decode_daemon_state
from kraken2mqtt.store.command_queue import CommandQueue
from kraken2mqtt.store.sqlite import SqliteForecastStore, SqliteTokenStore, StateStore
from kraken2mqtt.tasks import TaskFailed

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class FirstLook:
    """What one authenticated pass finds: the login's accounts and the rate-limit allowance."""

    accounts: list[str] = field(default_factory=list)
    rate_limit: dict[str, Any] | None = None


async def first_look(client: KrakenClient) -> FirstLook:
    found = FirstLook()
    viewer = (await client.execute("Viewer")).data.get("viewer") or {}
    found.accounts = [str(a.get("number")) for a in viewer.get("accounts") or [] if isinstance(a, dict)]
    allowance = await client.rate_limit()
    if allowance is not None:
        found.rate_limit = {"limit": allowance.limit, "remaining": allowance.remaining}
    return found


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM (systemd) and SIGINT (Ctrl-C) end the daemon gracefully."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_daemon(
    settings: Settings,
    *,
    once: bool = False,
    out: TextIO,
    clock: Clock | None = None,
    clock_check: ClockCheck | None = None,
) -> int:
    """``run`` (and ``run --once``). Both wait for the clock first (:mod:`kraken2mqtt.clock_sanity`)."""
    clock = clock or SystemClock()
    clock_check = clock_check or ClockCheck()
    if not settings.kraken.has_credentials:
        print(
            "kraken2mqtt: no Kraken credentials: set kraken.api_key (or email and password) in the config, "
            "KRAKEN2MQTT_KRAKEN__API_KEY, or the systemd credential kraken_api_key",
            file=out,
        )
        return 2
    if once:
        daemon = Daemon(settings, clock=clock, clock_check=clock_check)
        said: list[str] = []

        def say(text: str) -> None:  # the words `run` gives systemd's status, each once on the terminal
            if not said or same_kind(said[-1]) != same_kind(text):
                said.append(text)
                print(f"kraken2mqtt: {text}", file=out, flush=True)

        daemon.clock_gate.on_wait = say
        try:
            await daemon.clock_gate.wait()  # no Kraken call before the clock is right
            snapshot = await daemon.poll_once()
        finally:
            await daemon.clock_gate.close()
            await daemon.close()
        print(describe(snapshot, daemon.poller.signals()), file=out)
        return 0 if snapshot.account_number else 1
    stop = asyncio.Event()
    stop_on_signals(stop)
    daemon = Daemon(settings, clock=clock, out=out if out.isatty() else None, clock_check=clock_check)
    log.info("daemon.start", deployment=settings.kraken.deployment)
    try:
        await daemon.run(stop)
    except TaskFailed as exc:  # a part failed for good: exit non-zero so that systemd restarts us
        log.critical("daemon.failed", error=str(exc))
        print(f"kraken2mqtt: {exc}", file=out)
        return 1
    log.info("daemon.stopped")
    return 0


def _measured_sun_status(raw: dict[str, Any], now: datetime) -> str:
    try:
        history = SunHistory.from_json(raw, str(raw.get("tz")))
    except (KeyError, TypeError, ValueError):
        return "unreadable"
    today = history.day_kwh(now)
    days = len(history.past_days(now))
    shown = f"{today:.1f} kWh today" if today is not None else "nothing today"
    return f"{shown}; {days} complete day(s) of the last {DAYS} for the forecast and the grid-charge guard"


def forecast_status(store: SqliteForecastStore, now: datetime) -> dict[str, str]:
    """One line per stored forecast: when it was fetched and what it says (kraken2mqtt.forecast)."""
    out: dict[str, str] = {}
    raw = store.load_forecast("solar")
    if raw is not None:
        try:
            solar = SolarForecast.from_json(raw)
            day = solar.energy_between(now, now + timedelta(hours=24))
            fetched = f"{solar.fetched_at:%Y-%m-%d %H:%M} UTC"
            out["solar"] = f"{day:.1f} kWh in the next 24 h ({solar.source}, fetched {fetched})"
        except (KeyError, TypeError, ValueError):
            out["solar"] = "unreadable"
    raw = store.load_forecast("weather")
    if raw is not None:
        try:
            weather = WeatherForecast.from_json(raw)
            temp = weather.celsius_at(now.replace(minute=0, second=0, microsecond=0))
            shown = f"{temp:.1f} °C now" if temp is not None else "no value for now"
            out["weather"] = f"{shown} (fetched {weather.fetched_at:%Y-%m-%d %H:%M} UTC)"
        except (KeyError, TypeError, ValueError):
            out["weather"] = "unreadable"
    raw = store.load_forecast(sun_meter.KEY)
    if raw is not None:
        out["measured sun"] = _measured_sun_status(raw, now)
    if store.load_forecast("load_profile") is not None:
        out["house load"] = "learning from the load sensor (forecast.load_topic)"
    return out


def print_status(settings: Settings, *, as_json: bool = False, out: TextIO) -> int:
    """What the daemon knows, from its state file (works whether or not the daemon is running)."""
    status: dict[str, Any] = {
        "state_dir": str(settings.state_dir),
        "deployment": settings.kraken.deployment,
        "endpoint": settings.kraken.endpoint_url,
        "token_expires_at": None,
        "pending_commands": [],
        "tasks": [],
        "waiting_for_clock": None,
        "daemon_state_at": None,
    }
    snapshot = None
    now = datetime.now(UTC)
    if (settings.state_dir / "kraken2mqtt.db").exists():
        store = StateStore(settings.state_dir)
        queue = CommandQueue(store.database)  # one connection to the one file
        try:
            tokens = SqliteTokenStore(store).load()
            if tokens is not None:
                status["token_expires_at"] = datetime.fromtimestamp(tokens.expires_at, UTC).isoformat(
                    timespec="seconds"
                )
            snapshot = store.load_snapshot(settings.kraken.deployment, settings.kraken.account_number)
            daemon_state = decode_daemon_state(store.get(DAEMON_STATE_KEY))  # saved by the running daemon
            status["tasks"] = daemon_state.get("tasks", [])
            status["waiting_for_clock"] = daemon_state.get("waiting_for_clock")
            status["daemon_state_at"] = daemon_state.get("updated_at")
            devices = store.get("devices.status")  # devices/driver.py: per device, today's commands
            status["devices"] = json.loads(devices) if devices else []
            status["forecast"] = forecast_status(SqliteForecastStore(store), now)
            status["pending_commands"] = [
                {
                    "device": p.command.device,
                    "control": p.command.control.value,
                    "value": p.command.value,
                    "attempts": p.attempts,
                    "last_error": p.last_error,
                }
                for p in queue.pending()
            ]
        finally:
            queue.close()
            store.close()
    if snapshot is not None:
        status["account"] = snapshot.account_number
        status["data_age_seconds"] = {
            s.value: (round(a) if (a := snapshot.age(s, now)) is not None else None) for s in snapshot.status
        }
        status["stream_errors"] = {s.value: st.error for s, st in snapshot.status.items() if st.error}
        status["not_sent"] = dict(snapshot.dropped)  # optional selections the server rejected
    if as_json:
        print(json.dumps(status, indent=2), file=out)
        return 0
    print(f"{status['deployment']} at {status['endpoint']}; state in {status['state_dir']}", file=out)
    print(f"token valid until {status['token_expires_at'] or '(no token)'}", file=out)
    if snapshot is None:
        print("no data yet: the daemon has not polled (kraken2mqtt run)", file=out)
    else:
        print(describe(snapshot, signals_of(snapshot, now)), file=out)
        ages = ", ".join(f"{k} {v}s" for k, v in status["data_age_seconds"].items() if v is not None)
        print(f"  data ages: {ages}", file=out)
        for stream, error in status["stream_errors"].items():
            print(f"  {stream} stale: {error}", file=out)
        for selection, why in status["not_sent"].items():
            print(f"  not sent any more: {selection} (the server rejected it: {why})", file=out)
    if status.get("waiting_for_clock"):
        print(f"  waiting for the clock: {status['waiting_for_clock']}", file=out)
    if status.get("tasks"):
        print(f"  tasks (at {status['daemon_state_at']}): {_tasks_line(status['tasks'])}", file=out)
    for d in status.get("devices", []):
        sent = d["sent_today"]
        action = f"{d['action']} ({d['reason']}); " if d.get("action") else ""
        print(
            f"  device {d['device']}: {action}{d['control']}; sent {d['day']}: {sent['change']} change, "
            f"{sent['keepalive']} keepalive, {sent['release']} release; {d['persistent_today']} persistent"
            + (f"; last result: {d['result']}" if d.get("result") else ""),
            file=out,
        )
    for name, f in status.get("forecast", {}).items():
        print(f"  forecast {name}: {f}", file=out)
    for p in status["pending_commands"]:
        print(f"  pending: {p['device']} {p['control']}={p['value']} ({p['attempts']} attempts)", file=out)
    return 0


def _tasks_line(tasks: list[dict[str, Any]]) -> str:
    """``mqtt running, poller restarting (3 restarts; last: TimeoutError: ...)``."""
    parts = []
    for task in tasks:
        text = f"{task.get('name')} {task.get('state')}"
        restarts = int(task.get("restarts") or 0)
        if restarts or task.get("state") in {"restarting", "failed"}:
            text += f" ({restarts} restart{'' if restarts == 1 else 's'}"
            if task.get("last_error"):
                text += f"; last: {str(task['last_error'])[:120]}"
            text += ")"
        parts.append(text)
    return ", ".join(parts)
