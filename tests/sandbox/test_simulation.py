"""The assembled simulation at high speed against a real broker: events, device state, Kraken state."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import aiomqtt
import httpx

from kraken2mqtt.sandbox.simulation import SANDBOX_API_KEY, Simulation
from kraken2mqtt.sandbox.world import WorldEvent
from tests.brokers import Broker

START = datetime(2026, 1, 15, 17, 50, tzinfo=UTC)


async def test_simulation_runs_fast_and_shows_up_everywhere(broker: Broker) -> None:
    sim = Simulation.create(speed=600, start=START, seed=1)
    events: list[WorldEvent] = []
    lines: list[str] = []
    planned, status = asyncio.Event(), asyncio.Event()

    def on_event(e: WorldEvent) -> None:
        events.append(e)
        if "dispatch planned" in e.text:
            planned.set()

    def on_status(line: str) -> None:
        lines.append(line)
        status.set()

    url = sim.start()
    task = asyncio.create_task(
        sim.run(broker.host, broker.port, on_event, on_status=on_status, status_every_seconds=600)
    )
    try:
        async with aiomqtt.Client(broker.host, broker.port, identifier="simulation-test") as client:
            await client.subscribe("openevse-sim/vehicle")
            await client.subscribe("GivEnergy/SA0000SIM1/Power/Power/SOC")
            got: dict[str, str] = {}

            async def collect() -> None:
                async for m in client.messages:
                    got[m.topic.value] = bytes(m.payload).decode()
                    if got.get("openevse-sim/vehicle") == "1" and len(got) == 2:
                        return

            await asyncio.wait_for(collect(), 10)
        await asyncio.wait_for(planned.wait(), 10)
        async with httpx.AsyncClient(timeout=5) as http:
            mint = "mutation($k: String) { obtainKrakenToken(input: {APIKey: $k}) { token } }"
            login = {"query": mint, "variables": {"k": SANDBOX_API_KEY}}
            token = (await http.post(url, json=login)).json()["data"]["obtainKrakenToken"]["token"]
            query = {"query": '{ plannedDispatches(accountNumber: "A-SANDBOX1") { start delta } }'}
            out = (await http.post(url, json=query, headers={"Authorization": token})).json()
        assert out["data"]["plannedDispatches"]
        await asyncio.wait_for(status.wait(), 10)
        assert "Agile" in lines[0]
        assert sim.world.now > START
        assert {e["id"] for e in sim.device_entries()} >= {"sandbox_ev", "sandbox_battery"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sim.stop()
