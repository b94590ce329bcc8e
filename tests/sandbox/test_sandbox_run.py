"""``kraken2mqtt sandbox`` at high speed against a real broker: one full simulated night."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import httpx
import pytest

from kraken2mqtt.sandbox.run import run_sandbox, sandbox_settings
from kraken2mqtt.sandbox.simulation import Simulation
from kraken2mqtt.settings import load_settings
from tests.brokers import Broker, free_port
from tests.timing import slowness

# ≈37 s real. At ×3000 a starved machine (4 suites on 2 cores) once lagged hours of simulated time; a
# slower one (a Pi, qemu-user) gets a speed-up divided by how much slower it is, so each of the daemon's
# steps costs as much simulated time as here.
SPEED = 1500.0 / slowness()
START = datetime(2026, 1, 12, 16, 30, tzinfo=UTC)  # a winter Monday, before the evening plug-in
NIGHT_SECONDS = (15.5 * 3600) / SPEED  # until 08:00 the next morning


@pytest.mark.slow
async def test_a_simulated_night(broker: Broker) -> None:
    metrics_port = free_port()
    settings = load_settings(
        None,
        mqtt={
            "host": broker.host,
            "port": broker.port,
            "base_topic": "k2msandbox",
            "discovery_prefix": "k2msandbox-ha",
            "client_id": "k2msandbox",
        },
        metrics={"port": metrics_port},
    )
    sim = Simulation.create(speed=SPEED, start=START, seed=3)
    out = io.StringIO()
    scraped: list[str] = []

    async def scrape() -> None:
        await asyncio.sleep(NIGHT_SECONDS / 2)
        async with httpx.AsyncClient() as http:
            scraped.append((await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text)

    scraper = asyncio.create_task(scrape())
    code = await run_sandbox(settings, sim=sim, duration=NIGHT_SECONDS, out=out)
    await scraper
    text = out.getvalue()
    assert code == 0, text[-2000:]

    # The EV plugged in, was planned, charged in cheap slots and reached its target by morning.
    assert "EV plugged in" in text
    assert "sandbox_ev: charge" in text
    assert "target 80 % reached" in text, [line for line in text.splitlines() if "EV" in line]
    # The battery was cycled and the house kept warm.
    totals = sim.world.totals
    assert totals.battery_in_kwh > 2 and totals.battery_out_kwh > 2, totals
    assert totals.indoor_min_c >= 18.5 and totals.indoor_max_c <= 22.5, totals

    # Metrics were served and are valid exposition.
    assert scraped and "kraken2mqtt_import_price_per_kwh" in scraped[0]
    assert "sk_test" not in scraped[0]
    if shutil.which("promtool"):
        check = await asyncio.to_thread(_promtool, scraped[0])
        assert check.returncode == 0, check.stdout + check.stderr

    # Discovery stays retained on the broker for Home Assistant.
    configs: dict[str, dict[str, object]] = {}
    async with aiomqtt.Client(broker.host, broker.port, identifier="k2msandbox-check") as ha:
        await ha.subscribe("k2msandbox-ha/device/+/config", qos=1)
        async with asyncio.timeout(5):
            async for message in ha.messages:
                configs[message.topic.value] = json.loads(bytes(message.payload))
                if len(configs) >= 8:
                    break
    assert "k2msandbox-ha/device/kraken2mqtt_sandbox_ev/config" in configs
    assert "k2msandbox-ha/device/kraken2mqtt_account/config" in configs


def _promtool(exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, text=True, capture_output=True, check=False
    )


async def test_the_sandbox_survives_broker_restarts() -> None:
    """Kill and restart the broker five times: each time the daemon is back online with its discovery
    republished within 5 s (the broker keeps nothing: persistence off), the run goes on (it used to exit
    0 two seconds after the first restart), and the terminal says what happened."""
    import time

    from tests.brokers import start_broker

    private = start_broker()
    base, prefix = "k2mrestart", "k2mrestart-ha"
    settings = load_settings(
        None,
        mqtt={"host": private.host, "port": private.port, "base_topic": base, "discovery_prefix": prefix},
        metrics={"enabled": False},
    )
    sim = Simulation.create(speed=60.0, start=START, seed=1)
    devices_back, kraken_back, ha_back = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    class Terminal(io.StringIO):
        def write(self, text: str) -> int:
            for line, event in (
                ("world: simulated devices: back", devices_back),
                ("Kraken: back", kraken_back),
                ("MQTT: Home Assistant is back", ha_back),
            ):
                if line in text:
                    loop.call_soon_threadsafe(event.set)
            return super().write(text)

    out = Terminal()
    stop = asyncio.Event()
    run = asyncio.create_task(run_sandbox(settings, sim=sim, out=out, stop=stop))

    async def back_online(within: float) -> float:
        """Seconds until a fresh client sees ``online`` and a republished discovery config."""
        started = time.monotonic()
        async with asyncio.timeout(within):
            while True:
                try:
                    async with aiomqtt.Client(private.host, private.port, identifier="k2m-ha-watch") as ha:
                        await ha.subscribe(f"{base}/status", qos=1)
                        await ha.subscribe(f"{prefix}/device/+/config", qos=1)
                        online = configs = False
                        async for message in ha.messages:
                            if message.topic.value == f"{base}/status":
                                online = bytes(message.payload) == b"online"
                            else:
                                configs = True
                            if online and configs:
                                return time.monotonic() - started
                except aiomqtt.MqttError:
                    await asyncio.sleep(0.05)

    try:
        first = await back_online(30.0)  # the first start: a fake server, a first poll, discovery
        assert first < 30
        for n in range(5):
            await asyncio.to_thread(private.restart)
            took = await back_online(5.0)
            assert took < 5.0, (n, took)
            assert not run.done(), out.getvalue()[-2000:]
        # The simulated devices take up to aiomqtt's 10 s to notice, then retry every 2 s.
        await asyncio.wait_for(devices_back.wait(), 20)
        # The fake Kraken's CDN blocks us once: a line, a backoff, and "back".
        sim.server.faults.inject("edge_block")
        await asyncio.wait_for(kraken_back.wait(), 20)
        # Home Assistant restarts (its birth message): a line, and discovery again.
        async with aiomqtt.Client(private.host, private.port, identifier="k2m-ha-birth") as ha:
            await ha.publish(f"{prefix}/status", "online", qos=1)
        await asyncio.wait_for(ha_back.wait(), 10)
    finally:
        stop.set()
        code = await asyncio.wait_for(run, 30)
        private.stop()
    text = out.getvalue()
    assert code == 0, text[-2000:]
    assert text.count("MQTT: broker gone, reconnecting in") >= 5, text[-3000:]
    assert text.count("MQTT: back: connected to") >= 5
    assert "world: simulated devices: broker gone, reconnecting in 2 s" in text, text
    assert "Kraken: blocked by the API's CDN (edge rate limit), backing off" in text


def test_the_sandbox_measures_its_sun_on_givtcps_pv_power(tmp_path: Path) -> None:
    sim = Simulation.create(speed=60.0, start=START, seed=3)
    sim.start()
    try:
        settings = sandbox_settings(load_settings(None), sim, tmp_path, "127.0.0.1", 1883)
        assert settings.forecast.solar_topic == "GivEnergy/SA0000SIM1/Power/Power/PV_Power"
        own = load_settings(None, forecast={"solar_topic": "home/pv"})
        assert sandbox_settings(own, sim, tmp_path, "127.0.0.1", 1883).forecast.solar_topic == "home/pv"
    finally:
        sim.stop()
