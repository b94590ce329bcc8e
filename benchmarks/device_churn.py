"""Device churn: what the daemon sends to the sandbox's simulated devices over 1.4 simulated days.

    .venv/bin/python -m benchmarks.device_churn [--speed 1440] [--days 1.4] [--seed 0] [--start ISO]

Runs ``kraken2mqtt sandbox`` (the whole daemon, the fake Kraken server, a private Mosquitto and the
simulated OpenEVSE, GivTCP, Tasmota and ebusd devices) and records every command the devices receive,
stamped with simulated time. Prints, per day (issue 12's "done when" figures):

* writes per command topic, and the most identical re-sends on one topic;
* heat-pump setpoint writes and A-B-A flip-backs within 20 minutes;
* each battery control (GivTCP command topic): writes and A-B-A flip-backs within 20 minutes;
* whether the charger's claim was released when the run ended (the daemon stops as with SIGTERM).

CPU heavy (the daemon replans every pass at ×1440): run it once, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from kraken2mqtt.logs import configure_logging
from kraken2mqtt.sandbox.broker import start_embedded_broker
from kraken2mqtt.sandbox.run import run_sandbox
from kraken2mqtt.sandbox.simulation import Simulation
from kraken2mqtt.settings import load_settings

Record = tuple[datetime, str, str]  # simulated time, topic, payload
FLIP_WINDOW = timedelta(minutes=20)


COMMAND_TOPICS = (
    "openevse-sim/claim/set",
    "GivEnergy/control/#",
    "cmnd/#",
    "ebusd/+/+/set",
    "ebusd/+/+/get",
    "kraken2mqtt/status",
)


async def record(host: str, port: int, sim: Simulation, log: list[Record], ready: asyncio.Event) -> None:
    """Every command to the devices as a separate client sees it on the broker (until cancelled, so the
    release the daemon publishes when it stops is seen too)."""
    async with aiomqtt.Client(host, port, identifier="k2m-churn-recorder") as client:
        for topic in COMMAND_TOPICS:
            await client.subscribe(topic, qos=1)
        ready.set()
        async for message in client.messages:
            payload = message.payload
            text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload or "")
            log.append((sim.clock.now(), message.topic.value, text))


def flip_backs(writes: list[Record]) -> int:
    """A-B-A on one topic with the A's at most 20 minutes apart."""
    n = 0
    for i in range(2, len(writes)):
        (t0, _, a), (_, _, b), (t2, _, c) = writes[i - 2], writes[i - 1], writes[i]
        if a == c and a != b and t2 - t0 <= FLIP_WINDOW:
            n += 1
    return n


def identical_resends(writes: list[Record]) -> int:
    return sum(1 for i in range(1, len(writes)) if writes[i][2] == writes[i - 1][2])


def report(log: list[Record], days: float) -> None:
    by_topic: dict[str, list[Record]] = defaultdict(list)
    for r in log:
        by_topic[r[1]].append(r)
    status = by_topic.pop("kraken2mqtt/status", [])
    offline_at = next(
        (i for i, r in enumerate(log) if r[1] == "kraken2mqtt/status" and r[2] == "offline"), None
    )
    release_at = max((i for i, r in enumerate(log) if r[2] == "release"), default=None)
    in_order = offline_at is not None and release_at is not None and release_at < offline_at
    log = [r for r in log if r[1] != "kraken2mqtt/status"]
    queries = {t for t in by_topic if t.endswith("/get") or by_topic[t][-1][2] == ""}
    print(f"\n{len(log)} messages to devices in {days:g} simulated days ({len(log) / days:.0f}/day)")
    print(f"{'topic':58} {'writes/day':>10} {'identical/day':>13} {'A-B-A/20min':>11}")
    for topic in sorted(by_topic):
        w = by_topic[topic]
        print(
            f"{topic:58} {len(w) / days:10.1f} {identical_resends(w) / days:13.1f} {flip_backs(w):11d}"
            + ("  (queries)" if topic in queries else "")
        )
    hp = by_topic.get("ebusd/700/z1DayTemp/set", [])
    print(
        f"\nheat-pump setpoint: {len(hp) / days:.1f} writes/day (goal ≤ 12), "
        f"{flip_backs(hp)} A-B-A flips (goal 0)"
    )
    print("  " + ", ".join(f"{t:%a %H:%M} {v}" for t, _, v in hp))
    battery = {t: w for t, w in by_topic.items() if t.startswith("GivEnergy/control/")}
    for topic, w in sorted(battery.items()):
        name = topic.rsplit("/", 1)[1]
        print(
            f"battery {name}: {len(w) / days:.1f} writes/day (goal ≤ 48), "
            f"{flip_backs(w)} A-B-A flips (goal 0)"
        )
    worst = max(
        ((identical_resends(w) / days, t) for t, w in by_topic.items() if t not in queries),
        default=(0.0, "-"),
    )
    print(f"most identical re-sends on one command topic: {worst[0]:.1f}/day on {worst[1]} (goal ≤ 24)")
    claim = by_topic.get("openevse-sim/claim/set", [])
    last = claim[-1][2] if claim else None
    print(f"charger claim at the end: last claim/set {last!r} -> released: {last == 'release' or not claim}")
    print(f"charger claims: {dict(Counter(r[2] for r in claim))}")
    print(f"charger released before 'offline' was published: {in_order} ({len(status)} status messages)")


async def main(speed: float, days: float, seed: int, start: datetime) -> None:
    configure_logging("warning", "console")
    broker = start_embedded_broker()
    log: list[Record] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                None,
                state_dir=Path(tmp),
                mqtt={"host": broker.host, "port": broker.port, "client_id": "k2m-churn"},
                metrics={"enabled": False},
                logging={"level": "warning"},
            )
            sim = Simulation.create(speed=speed, seed=seed, start=start)
            ready = asyncio.Event()
            recorder = asyncio.create_task(record(broker.host, broker.port, sim, log, ready))
            await ready.wait()
            out = io.StringIO()
            seconds = days * 86_400 / speed
            print(
                f"sandbox ×{speed:g} from {start:%Y-%m-%d %H:%M} UTC for {days:g} days ({seconds:.0f} s real)"
            )
            await run_sandbox(settings, sim=sim, duration=seconds, out=out)
            real_days = (sim.clock.now() - start).total_seconds() / 86_400
            await asyncio.sleep(0.5)  # the last messages reach the recorder
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await recorder
    finally:
        broker.stop()
    report(log, real_days)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=1440.0)
    parser.add_argument("--days", type=float, default=1.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default="2026-01-12T16:30:00+00:00")
    args = parser.parse_args()
    asyncio.run(main(args.speed, args.days, args.seed, datetime.fromisoformat(args.start).astimezone(UTC)))
