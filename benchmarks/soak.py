"""Soak: the daemon for a long while under everything at once (a benchmark, not part of CI).

    .venv/bin/python -m benchmarks.soak [--minutes 60] [--seed 1]

A private Mosquitto (persistence on) and the fake Kraken; every few seconds one of: a broker restart, a
burst of Kraken faults (every kind), Home Assistant commands. Prints what was injected, the commands sent /
answered ``done`` / lost, the daemon's RSS and open file descriptors at the start and the end (a leak shows
as growth), and the Kraken requests per hour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import aiomqtt
from tests.reliability.rig import Outputs, daemon_settings, fake_kraken, mosquitto, target_for

from kraken2mqtt.clock import SystemClock
from kraken2mqtt.daemon import Daemon

KINDS = ["http_500", "http_503", "http_429", "timeout", "slow", "reset", "invalid_json", "wrong_shape",
         "rate_limited", "expired_token", "brownout"]  # fmt: skip


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def soak(minutes: float, seed: int) -> None:
    rng = random.Random(seed)
    injected: Counter[str] = Counter()
    sent: dict[int, float] = {}
    done: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp, mosquitto() as broker:
        settings = daemon_settings(Path(tmp), broker, kraken={"timeout_seconds": 2, "requests_per_hour": 600})
        base = settings.mqtt.base_topic
        with fake_kraken(Outputs()) as fk:
            daemon = Daemon(settings, clock=SystemClock(), target=target_for(fk))
            stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(stop))
            await asyncio.sleep(3)
            rss0, fds0 = _rss_kb(), len(os.listdir("/proc/self/fd"))
            started = time.monotonic()
            amount = 500
            while time.monotonic() - started < minutes * 60:
                what = rng.choice(["restart", "faults", "commands", "commands"])
                if what == "restart":
                    await asyncio.to_thread(broker.restart)
                    injected["mosquitto restart"] += 1
                elif what == "faults":
                    for _ in range(rng.randint(1, 5)):
                        kind = rng.choice(KINDS)
                        if kind in {"timeout", "slow"}:
                            fk.faults.inject(kind, delay=rng.uniform(0.1, 3))
                        else:
                            fk.faults.inject(kind)
                        injected[f"kraken {kind}"] += 1
                    await daemon.poller.refresh()
                else:
                    try:
                        async with aiomqtt.Client(
                            broker.host, broker.port, identifier=uuid.uuid4().hex[:10]
                        ) as ha:
                            await ha.subscribe(f"{base}/account/result", qos=1)
                            amount += 100
                            sent[amount] = time.monotonic()
                            await ha.publish(f"{base}/top_up_amount/set", str(amount), qos=1)
                            async with asyncio.timeout(5):
                                async for m in ha.messages:
                                    body = json.loads(bytes(m.payload))
                                    if body["status"] in {"done", "refused"}:
                                        done.add(int(body["value"]))
                                        if int(body["value"]) == amount:
                                            break
                    except (aiomqtt.MqttError, TimeoutError):
                        pass
                await asyncio.sleep(rng.uniform(0.5, 3))
            await asyncio.sleep(10)  # let the last commands finish
            rows = daemon.queue.pending()
            elapsed_h = (time.monotonic() - started) / 3600
            print(f"soak: {minutes} min, seed {seed}")
            for kind, n in sorted(injected.items()):
                print(f"  {kind:28} {n:6}")
            print(f"  commands sent {len(sent)}, answered (seen) {len(done)}, still pending {len(rows)}")
            rate = sum(fk.stats.requests.values()) / elapsed_h
            print(f"  Kraken requests {rate:.0f}/h, mints {dict(fk.stats.mints)}")
            print(f"  RSS {rss0} -> {_rss_kb()} kB, open fds {fds0} -> {len(os.listdir('/proc/self/fd'))}")
            print(f"  daemon task alive: {not task.done()}")
            stop.set()
            await asyncio.wait_for(task, 30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    asyncio.run(soak(args.minutes, args.seed))


if __name__ == "__main__":
    main()
