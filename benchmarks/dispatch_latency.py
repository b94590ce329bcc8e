"""Latency from a new planned dispatch in Kraken to the device command on the broker.

    .venv/bin/python -m benchmarks.dispatch_latency [--rounds 50]

The whole daemon in this process (poller, planner, reconcile loop, device driver, MQTT supervisor) against
the fake Kraken server over HTTP and a private Mosquitto. The account is on an Intelligent Octopus tariff
(dispatches billed off-peak) and drives an immersion heater on a Tasmota relay with 1 kWh to deliver today.
Odd rounds add a short dispatch that has just started and poll: the current half hour becomes off-peak, so
the plan switches the relay on; even rounds wait until it has ended, list it as completed and poll: the relay
goes back off. Timed from the moment the poller signals the
changed snapshot ("after the poll that sees it") to the `cmnd/<topic>/POWER` message arriving at a
subscriber on the broker; the HTTP poll itself is reported separately.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
from pydantic import SecretStr

from kraken2mqtt.clock import SystemClock
from kraken2mqtt.daemon import Daemon, KrakenTarget
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.snapshot import Snapshot, Stream
from kraken2mqtt.sandbox.broker import free_port, start_embedded_broker
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.sim_account import SimAccount, SimDispatch, SimRate
from kraken2mqtt.settings import load_settings

KEY = "sk_test_fake_api_key"
SHORT = 2  # whole seconds a dispatch lasts, so that it can end between two rounds
RELAY = "bench_immersion"


def intelligent_account(now: datetime) -> SimAccount:
    account = SimAccount.demo(now)
    tariff = account.properties[0].meter_points[0].agreements[0].tariff
    tariff.product_code = "INTELLI-VAR-24-10-29"
    tariff.tariff_code = "E-1R-INTELLI-VAR-24-10-29-A"
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    # Dear now, cheaper later today (but never as cheap as a dispatch), cheap overnight.
    tariff.unit_rates = [
        SimRate(
            start + timedelta(minutes=30 * i),
            start + timedelta(minutes=30 * (i + 1)),
            30.0 if i < 8 else (20.0 if i < 40 else 7.0),
        )
        for i in range(96)
    ]
    account.planned_dispatches.clear()
    account.completed_dispatches.clear()
    return account


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(rounds: int) -> None:
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_embedded_broker() as broker,
        FakeKraken(intelligent_account(now), api_key=KEY) as fake,
    ):
        deadline = (now + timedelta(hours=10)).strftime("%H:%M")
        settings = load_settings(
            None,
            state_dir=Path(tmp),
            mqtt={"host": broker.host, "port": broker.port},
            metrics={"enabled": False, "port": free_port()},
            logging={"level": "warning"},
            planner={"reconcile_seconds": 600},  # only the poll may wake the loop
            kraken={"requests_per_hour": 10_000},  # many polls in a minute: not what is measured
            devices=[
                {
                    "id": RELAY,
                    "kind": "relay",
                    "adapter": "tasmota",
                    "topic": RELAY,
                    "plan": {"power_kw": 3.0, "energy_kwh": 1.0, "deadline": deadline},
                }
            ],
        )
        target = KrakenTarget(fake.url, Credentials(api_key=SecretStr(KEY)), "octopus-gb")
        daemon = Daemon(settings, clock=SystemClock(), target=target)
        signalled: list[float] = []
        original = daemon.poller.on_change

        def on_change(snapshot: Snapshot, changed: frozenset[Stream]) -> None:
            if Stream.DISPATCHES in changed:
                signalled.append(time.perf_counter())
            if original is not None:
                original(snapshot, changed)

        daemon.poller.on_change = on_change
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        latencies: list[float] = []
        polls: list[float] = []
        current = SimDispatch(now, now, 0.0)
        async with aiomqtt.Client(broker.host, broker.port, identifier="bench-relay") as relay:
            await relay.subscribe(f"cmnd/{RELAY}/#", qos=1)
            await daemon.mqtt.wait_connected()
            messages = relay.messages

            async def next_power() -> tuple[str, float]:
                async for message in messages:
                    if message.topic.value.endswith("POWER") or message.topic.value.endswith("POWER1"):
                        return bytes(message.payload).decode(), time.perf_counter()  # type: ignore[arg-type,unused-ignore]
                raise RuntimeError("broker closed")

            await asyncio.sleep(2)  # first poll, plan and initial command settle
            for i in range(rounds):
                dispatch_on = i % 2 == 0
                if dispatch_on:  # a short bump dispatch that started a moment ago
                    t = datetime.now(UTC)
                    current = SimDispatch(
                        t - timedelta(seconds=30), t + timedelta(seconds=SHORT), -0.1, "bump-charge"
                    )
                    with fake.lock:
                        fake.account.planned_dispatches[:] = [current]
                else:  # it has ended; Kraken lists it as completed
                    await asyncio.sleep(max(0.0, (current.end - datetime.now(UTC)).total_seconds()) + 0.1)
                    with fake.lock:
                        current.source, current.location = None, "AT_HOME"
                        fake.account.planned_dispatches.clear()
                        fake.account.completed_dispatches[:] = [current]
                signalled.clear()
                want = "ON" if dispatch_on else "OFF"
                waiter = asyncio.create_task(_until(next_power, want))
                began = time.perf_counter()
                await daemon.poller.refresh()
                polls.append(time.perf_counter() - began)
                arrived = await asyncio.wait_for(waiter, 10)
                if signalled:
                    latencies.append(arrived - signalled[0])
        stop.set()
        await task
    ms = [x * 1000 for x in latencies]
    print(f"rounds: {len(ms)} (relay switched on by a new dispatch, off again once it has ended)")
    print(f"poll that sees the dispatch (HTTP): p50 {statistics.median(polls) * 1000:.1f} ms")
    print(
        f"snapshot changed -> device command on the broker: p50 {statistics.median(ms):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms (target p99 <= 100 ms)"
    )


async def _until(next_power: object, want: str) -> float:
    assert callable(next_power)
    while True:
        payload, at = await next_power()
        if payload.upper() == want:
            return float(at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
