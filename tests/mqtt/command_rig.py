"""Helpers for the command-path tests: a "daemon" (supervisor + service + runner on the real broker,
Kraken client on the fake server) and an "HA" MQTT client that publishes commands and collects results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import Clock, ManualClock
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.kraken.mutations import (
    LEGACY_HEAT_PUMP_KEY,
    CommandContext,
    KrakenCommandExecutor,
    Outcome,
    Target,
    TargetKind,
)
from kraken2mqtt.mqtt.command_runner import CommandRunner, CommandService
from kraken2mqtt.mqtt.connection import SOCKET_OPTIONS
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.settings import MqttSettings
from kraken2mqtt.store.command_queue import CommandQueue, PendingCommand, PlannerOverrides
from tests.brokers import Broker

EV = "00000000-0000-4000-8000-00000000e001"
INVERTER = "00000000-0000-4000-8000-00000000b001"
LEGACY_EV = "legacy-ev"
LOCAL = "relay1"


def demo_context(deployment: str = "octopus-gb") -> CommandContext:
    """Targets matching the fake's demo account (as context_from_snapshot would build them)."""
    targets = [
        Target("account", TargetKind.ACCOUNT),
        Target(EV, TargetKind.SMARTFLEX, EV, is_ev=True, target_soc=80, ready_by="07:00"),
        Target(INVERTER, TargetKind.SMARTFLEX, INVERTER),
        Target(LEGACY_EV, TargetKind.LEGACY_EV, "kf-ev-1", is_ev=True),
        Target(LEGACY_HEAT_PUMP_KEY, TargetKind.LEGACY_HEAT_PUMP),
        Target(LOCAL, TargetKind.LOCAL),
    ]
    return CommandContext(deployment, "A-SANDBOX1", {t.key: t for t in targets})


def mqtt_settings(broker: Broker, **overrides: Any) -> MqttSettings:
    uid = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "client_id": f"k2m-{uid}",
        "base_topic": f"k2m-{uid}",
        "discovery_prefix": f"ha-{uid}",
        "keepalive_seconds": 10,
    }
    values.update(overrides)
    return MqttSettings(**values)


class HaClient:
    """Home Assistant's side: publishes commands, collects what arrives on its subscriptions."""

    def __init__(self, broker: Broker, base: str) -> None:
        self.base = base
        self.client = aiomqtt.Client(
            broker.host, broker.port, identifier=f"ha-{uuid.uuid4().hex[:8]}", socket_options=SOCKET_OPTIONS
        )
        self.messages: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HaClient:
        await self.client.__aenter__()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        async for message in self.client.messages:
            await self.messages.put(message)

    async def subscribe(self, topic: str) -> None:
        await self.client.subscribe(topic, qos=1)

    async def send(self, suffix: str, payload: str | bytes, *, retain: bool = False) -> None:
        await self.client.publish(f"{self.base}/{suffix}", payload, qos=1, retain=retain)

    async def next(self, wait: float = 5.0) -> aiomqtt.Message:
        return await asyncio.wait_for(self.messages.get(), wait)

    async def result(self, *, wait: float = 5.0, skip: tuple[str, ...] = ("accepted",)) -> dict[str, Any]:
        """The next result payload whose status is not in ``skip``."""
        while True:
            message = await self.next(wait)
            if not message.topic.value.endswith("/result"):
                continue
            assert isinstance(message.payload, bytes)
            body: dict[str, Any] = json.loads(message.payload)
            body["_topic"] = message.topic.value
            if body["status"] not in skip:
                return body


@dataclass
class Daemon:
    """One "daemon process": its own supervisor, queue, runner and Kraken client."""

    settings: MqttSettings
    supervisor: MqttSupervisor
    queue: CommandQueue
    runner: CommandRunner
    service: CommandService
    overrides: PlannerOverrides
    refreshes: list[int] = field(default_factory=list)
    attempts: list[tuple[PendingCommand, Outcome]] = field(default_factory=list)
    attempted: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self.supervisor.run()), asyncio.create_task(self.runner.run())]
        await asyncio.wait_for(self.supervisor.wait_connected(), 5)

    async def stop(self) -> None:
        runner = self.tasks[1]
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await asyncio.wait_for(self.supervisor.stop(), 5)
        await self.tasks[0]
        self.queue.close()


DaemonFactory = Callable[..., Awaitable[Daemon]]


def build_daemon(
    settings: MqttSettings,
    client: KrakenClient,
    db: Path,
    *,
    context: Callable[[], CommandContext] = demo_context,
    runner_clock: Clock | None = None,
    retry_base: float = 0.5,
    retry_cap: float = 5.0,
) -> Daemon:
    supervisor = MqttSupervisor(
        settings, reconnect_backoff=Backoff(base=0.05, cap=0.2), birth_delay=(0.0, 0.0)
    )
    queue = CommandQueue(db)
    overrides = PlannerOverrides(queue)
    executor = KrakenCommandExecutor(client, context)
    holder: list[Daemon] = []

    def on_attempt(pending: PendingCommand, outcome: Outcome) -> None:
        holder[0].attempts.append((pending, outcome))
        holder[0].attempted.set()

    async def publish(device: str, result: Any) -> None:
        await service.publish_result(device, result)

    runner = CommandRunner(
        queue,
        executor,
        publish,
        clock=runner_clock or ManualClock(),
        retry_base=retry_base,
        retry_cap=retry_cap,
        on_attempt=on_attempt,
    )

    async def refresh() -> None:
        holder[0].refreshes.append(1)

    service = CommandService(supervisor, runner, context=context, overrides=overrides, on_refresh=refresh)
    service.install()
    daemon = Daemon(settings, supervisor, queue, runner, service, overrides)
    holder.append(daemon)
    return daemon
