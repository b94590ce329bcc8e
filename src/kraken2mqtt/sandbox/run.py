"""``kraken2mqtt sandbox``: the whole daemon against a simulated world.

A fake Kraken server plays a living GB account (Agile prices replayed from history, an EV that plugs in
each evening, Intelligent-Octopus-like dispatches, a battery, a heat pump, a prepay meter); simulated
MQTT devices answer the daemon's commands; time can run faster than real time. No credentials needed.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr, ValidationError

from kraken2mqtt.app import stop_on_signals
from kraken2mqtt.daemon import Daemon, KrakenTarget, describe
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.deployments import BACKEND, MAIN
from kraken2mqtt.sandbox.broker import BrokerUnavailable, ensure_broker
from kraken2mqtt.sandbox.sim_devices import SimGivTcp
from kraken2mqtt.sandbox.sim_weather import KWP, LATITUDE, LONGITUDE
from kraken2mqtt.sandbox.simulation import SANDBOX_API_KEY, Simulation
from kraken2mqtt.sandbox.world import WorldEvent
from kraken2mqtt.settings import ConfigError, Settings, describe_validation_error
from kraken2mqtt.tasks import TaskFailed

#: How the planner models the simulated devices (their physics live in sandbox/physics.py).
PLANS: dict[str, dict[str, Any]] = {
    "sandbox_ev": {
        "capacity_kwh": 60,
        "max_kw": 7.0,
        "efficiency": 0.9,
        "target_soc_pct": 80,
        "ready_by": "07:00",
    },
    "sandbox_battery": {
        "capacity_kwh": 9.5,
        "max_charge_kw": 3.6,
        "max_discharge_kw": 3.6,
        "reserve_soc_pct": 4,
    },
    "sandbox_heat_pump": {
        "heat_loss_kw_per_k": 0.18,
        "thermal_mass_kwh_per_k": 8.0,
        "max_kw": 2.5,
        "comfort_min_c": 19,
        "comfort_max_c": 22,
    },
    "sandbox_immersion": {
        "capacity_kwh": 11,
        "heater_kw": 3.0,
        "needs": [{"at": "07:00", "kwh": 3}, {"at": "19:00", "kwh": 3}],
    },
}


def sandbox_settings(settings: Settings, sim: Simulation, state_dir: Path, host: str, port: int) -> Settings:
    """The user's settings, pointed at the simulated world (its devices added to theirs)."""
    entries = [
        {**entry, "plan": PLANS[entry["id"]]} if entry["id"] in PLANS else entry
        for entry in sim.device_entries()
    ]
    data = settings.model_dump()
    data["state_dir"] = state_dir
    data["mqtt"]["host"], data["mqtt"]["port"] = host, port
    data["devices"] = [d.model_dump() for d in settings.devices] + entries
    if not (settings.forecast.solar or settings.forecast.weather):
        # The simulated house has a 4 kWp flat roof under a simulated sky, forecast by a fake Open-Meteo.
        data["forecast"] = {
            **data["forecast"],
            "solar": True,
            "weather": True,
            "latitude": LATITUDE,
            "longitude": LONGITUDE,
            "planes": [{"name": "roof", "tilt_deg": 0, "azimuth_deg": 0, "kwp": KWP, "losses_pct": 14}],
            "open_meteo_url": sim.weather.url,
        }
    if settings.forecast.solar_topic is None:
        # GivTCP's PV_Power: the measured sun scales today's forecast and keeps room for the sunniest days.
        pv = next((d.pv_topic for d in sim.devices if isinstance(d, SimGivTcp)), None)
        data["forecast"] = {**data["forecast"], "solar_topic": pv}
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


async def run_sandbox(
    settings: Settings,
    *,
    once: bool = False,
    speed: float = 60.0,
    seed: int = 0,
    prices: Path | None = None,
    duration: float | None = None,
    sim: Simulation | None = None,
    out: TextIO,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until Ctrl-C (or ``duration`` real seconds, or ``stop`` is set). ``sim`` replaces the default
    simulation (tests). Returns 1 when a part of the daemon failed for good (systemd would restart it)."""
    sim = sim or Simulation.create(speed=speed, seed=seed, prices_csv=prices)
    speed = sim.clock.speed
    url = sim.start()
    target = KrakenTarget(
        url,
        Credentials(api_key=SecretStr(SANDBOX_API_KEY)),
        "octopus-gb",
        endpoints={MAIN: url, BACKEND: sim.server.backend_url},  # GB's two endpoints, one fake server
    )
    say = _printer(out)
    say(f"sandbox: simulated Kraken account {sim.account.number} at {url}, time ×{speed:g}")
    say(f"sandbox: a {KWP:g} kWp roof under a simulated sky; a fake Open-Meteo at {sim.weather.url}")
    try:
        with tempfile.TemporaryDirectory(prefix="kraken2mqtt-sandbox-") as state:
            if once:
                daemon = Daemon(
                    settings.model_copy(update={"state_dir": Path(state)}), clock=sim.clock, target=target
                )
                try:
                    snapshot = await daemon.poll_once()
                    say(describe(snapshot, daemon.poller.signals()))
                finally:
                    await daemon.close()
                return 0
            try:
                host, port, embedded = ensure_broker(
                    settings.mqtt.host, settings.mqtt.port, start_if_unreachable=True
                )
            except BrokerUnavailable as exc:
                say(f"sandbox: {exc}")
                return 1
            try:
                say(
                    f"sandbox: MQTT broker {host}:{port}"
                    + (f" (embedded {embedded.description})" if embedded else "")
                    + f"; Home Assistant discovery under {settings.mqtt.discovery_prefix}/"
                )
                run_settings = sandbox_settings(settings, sim, Path(state), host, port)
                daemon = Daemon(run_settings, clock=sim.clock, target=target, out=out)
                stop = stop or asyncio.Event()
                stop_on_signals(stop)
                # The world and its devices run under the daemon's supervisor: a lost broker costs the
                # devices a reconnect, never the run.
                sim.add_tasks(
                    daemon.tasks,
                    host,
                    port,
                    lambda e: say(f"world: {e}"),
                    on_status=lambda s: say(f"world: {s}"),
                    say=lambda s: say(f"world: {s}"),
                )
                if duration is not None:
                    asyncio.get_running_loop().call_later(duration, stop.set)
                try:
                    await daemon.run(stop)
                except TaskFailed as exc:
                    say(f"sandbox: {exc}")
                    return 1
            finally:
                if embedded is not None:
                    embedded.stop()
    finally:
        sim.stop()
    return 0


def _printer(out: TextIO) -> Any:
    def say(text: str | WorldEvent) -> None:
        print(text, file=out, flush=True)

    return say
