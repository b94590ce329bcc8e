"""Latency of the command path: an HA command message -> the mutation arriving at the fake Kraken.

    .venv/bin/python -m benchmarks.commands [--commands 300] [--warmup 10]

Everything real except Kraken: a private Mosquitto (``tests.brokers``), the MQTT supervisor, the command
service, the SQLite command queue (WAL, in a temporary directory), the runner and the Kraken client over
HTTP to the fake Kraken server. An "HA" client publishes one command (QoS 1) at a time, rotating through
smart control off/on, boost on/off and target SoC; the clock starts just before its ``publish`` and stops
when the fake server's resolver applies the mutation (server thread, ``time.perf_counter``). The ``done``
result on ``<base>/<device>/result`` is awaited before the next command and timed too. The first
``--warmup`` commands (token mint, connection set-up) are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
from pydantic import SecretStr
from tests.brokers import Broker, free_port, mosquitto_exe, start_broker

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import SystemClock
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.kraken.mutations import CommandContext, KrakenCommandExecutor, Target, TargetKind
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.mqtt.command_runner import CommandRunner, CommandService
from kraken2mqtt.mqtt.connection import SOCKET_OPTIONS
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.settings import MqttSettings
from kraken2mqtt.store.command_queue import CommandQueue, PlannerOverrides

API_KEY = "sk_test_fake_api_key"
EV = "00000000-0000-4000-8000-00000000e001"
ROTATION = [
    ("smart_control", b"OFF"),
    ("smart_control", b"ON"),
    ("boost", b"ON"),
    ("boost", b"OFF"),
    ("target_soc", b"90"),
    ("target_soc", b"80"),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name}: n={len(ms)} p50={statistics.median(ms):.1f} ms p90={percentile(ms, 90):.1f} ms "
        f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms"
    )


def mosquitto(*, nodelay: bool) -> Broker:
    """A private Mosquitto; ``set_tcp_nodelay`` (default false in Mosquitto) as asked."""
    if not mosquitto_exe():
        return start_broker()
    port = free_port()
    conf = Path(tempfile.mkdtemp(prefix="k2m-bench-mosq-")) / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type none\n"
        f"set_tcp_nodelay {'true' if nodelay else 'false'}\n"
    )
    broker = Broker("127.0.0.1", port, "mosquitto", _conf=conf)
    broker.start()
    return broker


async def main(
    commands: int, warmup: int, *, ha_nodelay: bool = True, broker_nodelay: bool = True, gap: float = 0.0
) -> None:
    broker = mosquitto(nodelay=broker_nodelay)
    state = Path(tempfile.mkdtemp(prefix="k2m-bench-commands-"))
    clock = SystemClock()
    arrivals: asyncio.Queue[float] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    with FakeKraken(api_key=API_KEY) as fake:
        applied = fake.resolvers._applied

        def timed(name: str, args: dict[str, Any]) -> None:
            stamp = time.perf_counter()
            applied(name, args)
            loop.call_soon_threadsafe(arrivals.put_nowait, stamp)

        fake.resolvers._applied = timed  # type: ignore[method-assign]

        settings = MqttSettings(
            host=broker.host,
            port=broker.port,
            client_id="k2m-bench",
            base_topic="k2m-bench",
            keepalive_seconds=30,
        )
        targets = {
            "account": Target("account", TargetKind.ACCOUNT),
            EV: Target(EV, TargetKind.SMARTFLEX, EV, is_ev=True, target_soc=80, ready_by="07:00"),
        }
        context = CommandContext("octopus-gb", "A-SANDBOX1", targets)
        client = KrakenClient(
            fake.url,
            Credentials(api_key=SecretStr(API_KEY)),
            deployment="octopus-gb",
            clock=clock,
            budget=RequestBudget(clock, points_per_hour=100_000, burst=10_000),
            timeout=5.0,
        )
        supervisor = MqttSupervisor(settings, reconnect_backoff=Backoff(0.1, 1.0))
        queue = CommandQueue(state / "commands.db")
        service: CommandService | None = None

        async def publish(device: str, result: CommandResult) -> None:
            assert service is not None
            await service.publish_result(device, result)

        runner = CommandRunner(queue, KrakenCommandExecutor(client, lambda: context), publish, clock=clock)
        service = CommandService(
            supervisor, runner, context=lambda: context, overrides=PlannerOverrides(queue)
        )
        service.install()
        tasks = [asyncio.create_task(supervisor.run()), asyncio.create_task(runner.run())]
        await asyncio.wait_for(supervisor.wait_connected(), 10)

        to_mutation: list[float] = []
        to_result: list[float] = []
        ha_options = SOCKET_OPTIONS if ha_nodelay else ()
        async with aiomqtt.Client(
            broker.host, broker.port, identifier=f"ha-{uuid.uuid4().hex[:6]}", socket_options=ha_options
        ) as ha:
            await ha.subscribe(f"{settings.base_topic}/{EV}/result", qos=1)
            messages = ha.messages
            for i in range(warmup + commands):
                control, payload = ROTATION[i % len(ROTATION)]
                started = time.perf_counter()
                await ha.publish(f"{settings.base_topic}/{EV}/{control}/set", payload, qos=1)
                arrived = await asyncio.wait_for(arrivals.get(), 10)
                async for message in messages:
                    assert isinstance(message.payload, bytes)
                    if json.loads(message.payload)["status"] != "accepted":
                        break
                done = time.perf_counter()
                if i >= warmup:
                    to_mutation.append(arrived - started)
                    to_result.append(done - started)
                if gap:
                    await asyncio.sleep(gap)  # commands from a person come seconds apart

        await supervisor.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
        queue.close()
    broker.stop()
    print(
        f"broker: {broker.kind}; {commands} commands after {warmup} warm-up; "
        f"TCP_NODELAY: HA client {_on(ha_nodelay)}, broker {_on(broker_nodelay)}; "
        f"gap between commands {gap:g} s"
    )
    print(describe("HA publish -> mutation at the fake Kraken", to_mutation))
    print(describe("HA publish -> 'done' result received by HA", to_result))
    p99 = percentile([s * 1000 for s in to_mutation], 99)
    print(f"target p99 <= 100 ms: {'met' if p99 <= 100 else 'MISSED'}")


def _on(flag: bool) -> str:
    return "on" if flag else "off"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--ha-nodelay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="set TCP_NODELAY on the HA client's socket (as the daemon does); off shows Nagle's cost",
    )
    parser.add_argument(
        "--broker-nodelay",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Mosquitto's set_tcp_nodelay (its default is off)",
    )
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between commands")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.commands,
            args.warmup,
            ha_nodelay=args.ha_nodelay,
            broker_nodelay=args.broker_nodelay,
            gap=args.gap,
        )
    )
