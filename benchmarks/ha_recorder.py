"""Home Assistant recorder load: the states rows each entity would write, from the sandbox's MQTT messages.

    .venv/bin/python -m benchmarks.ha_recorder [--hours 2] [--speed 120] [--seed 3] [--start ISO] [--dump F]

Runs ``kraken2mqtt sandbox`` (the whole daemon, the fake Kraken, the simulated devices) against a private
broker with a subscriber on ``#``, then reads the captured messages the way Home Assistant's MQTT
integration does (:mod:`tests.mqtt.ha_model`): device-based discovery configs (abbreviations expanded),
each component's state topic and value templates, JSON attributes topics, availability (mode ``all``),
entities disabled by default left out (the recorder does not record them). The recorder writes a row to
``states`` whenever an entity's state or attributes change; this counts those per entity per simulated
hour and prints the worst entities, the largest attributes and the largest payload.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
from tests.brokers import start_broker
from tests.mqtt.ha_model import Message, replay

from kraken2mqtt.logs import configure_logging
from kraken2mqtt.sandbox.run import run_sandbox
from kraken2mqtt.sandbox.simulation import Simulation
from kraken2mqtt.settings import load_settings


async def capture(hours: float, speed: float, seed: int, start: datetime) -> list[Message]:
    broker = start_broker()
    messages: list[Message] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                None,
                mqtt={"host": broker.host, "port": broker.port, "client_id": "k2m-recorder-bench"},
                metrics={"enabled": False},
                state_dir=Path(tmp),
            )
            ready = asyncio.Event()
            t0 = time.monotonic()

            async def listen() -> None:
                async with aiomqtt.Client(broker.host, broker.port, identifier="k2m-recorder-ha") as ha:
                    await ha.subscribe("#", qos=1)
                    ready.set()
                    async for m in ha.messages:
                        payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
                        sim_t = (time.monotonic() - t0) * speed
                        messages.append(Message(sim_t, m.topic.value, bytes(payload), bool(m.retain)))

            listener = asyncio.create_task(listen())
            await ready.wait()
            t0 = time.monotonic()
            sim = Simulation.create(speed=speed, start=start, seed=seed)
            await run_sandbox(settings, sim=sim, duration=hours * 3600 / speed, out=io.StringIO())
            await asyncio.sleep(0.5)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    finally:
        broker.stop()
    return messages


def report(messages: list[Message], hours: float) -> None:
    result = replay(messages)
    per_hour: dict[str, Counter[int]] = {}
    for t, entity_id in result.rows:
        per_hour.setdefault(entity_id, Counter())[int(t // 3600)] += 1
    worst = sorted(((max(c.values()), e) for e, c in per_hour.items()), reverse=True)
    total = sum(sum(c.values()) for c in per_hour.values())
    n = len(result.entities)
    print(f"{len(messages)} MQTT messages over {hours:g} simulated h; {n} recorded entities "
          f"({result.disabled} disabled by default, not recorded)")  # fmt: skip
    top = worst[0][0] if worst else 0
    print(f"states rows: {total} in total, {total / hours:.0f}/h; worst entity {top} rows in one hour "
          f"(target < 60)")  # fmt: skip
    for count, entity_id in worst[:12]:
        print(f"  {count:5d}/h  {entity_id}")
    if result.largest_attributes:
        size, entity_id = result.largest_attributes
        print(f"largest attributes: {size} bytes ({entity_id}); HA's recorder limit is 16384")
    size, topic = max((len(m.payload), m.topic) for m in messages)
    print(f"largest payload: {size} bytes ({topic})")
    for warning in result.warnings[:10]:
        print(f"warning: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--speed", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--start", default="2026-01-12T16:30:00+00:00")
    parser.add_argument("--dump", type=Path, help="write the captured messages as JSON lines")
    args = parser.parse_args()
    configure_logging("warning", stream=io.StringIO())
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).astimezone(UTC)
    messages = asyncio.run(capture(args.hours, args.speed, args.seed, start))
    if args.dump:
        with args.dump.open("w") as fh:
            for m in messages:
                text = m.payload.decode("utf-8", "replace")
                fh.write(json.dumps({"t": m.t, "topic": m.topic, "payload": text, "retain": m.retain}) + "\n")
    report(messages, args.hours)


if __name__ == "__main__":
    main()
