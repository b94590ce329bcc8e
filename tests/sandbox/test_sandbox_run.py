"""``kraken2mqtt sandbox`` at high speed against a real broker: one full simulated night."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime

import aiomqtt
import httpx
import pytest

from kraken2mqtt.sandbox.run import run_sandbox
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
