"""The connection supervisor against a real broker: online/offline, hooks, HA birth, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.settings import MqttSettings
from tests.brokers import Broker, start_broker
from tests.mqtt.command_rig import EV, HaClient, build_daemon, mqtt_settings


class Hooks:
    def __init__(self) -> None:
        self.calls = 0
        self._changed = asyncio.Condition()

    async def __call__(self) -> None:
        async with self._changed:
            self.calls += 1
            self._changed.notify_all()

    async def wait_for(self, n: int, wait: float = 10.0) -> None:
        async def reached() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.calls >= n)

        await asyncio.wait_for(reached(), wait)


@contextlib.asynccontextmanager
async def running(supervisor: MqttSupervisor) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(supervisor.wait_connected(), 5)
        yield task
    finally:
        await asyncio.wait_for(supervisor.stop(), 5)
        await task


def supervisor_for(settings: MqttSettings) -> MqttSupervisor:
    return MqttSupervisor(settings, reconnect_backoff=Backoff(base=0.05, cap=0.2), birth_delay=(0.0, 0.01))


async def retained(broker: Broker, topic: str) -> str:
    """The retained payload of ``topic`` as a new subscriber sees it ("" when none: marker trick)."""
    async with HaClient(broker, "") as ha:
        await ha.subscribe(topic)
        await ha.client.publish(topic + "/marker", b"x")
        await ha.subscribe(topic + "/marker")
        await ha.client.publish(topic + "/marker", b"x")
        message = await ha.next()
        if message.topic.value == topic:
            assert isinstance(message.payload, bytes)
            return message.payload.decode()
        return ""


async def test_online_on_connect_offline_on_stop(broker: Broker) -> None:
    settings = mqtt_settings(broker)
    supervisor = supervisor_for(settings)
    hooks = Hooks()
    supervisor.on_connected.append(hooks)
    async with running(supervisor):
        await hooks.wait_for(1)
        assert await retained(broker, f"{settings.base_topic}/status") == "online"
        assert await supervisor.publish(f"{settings.base_topic}/x", "1", retain=True)
    assert not supervisor.connected
    assert await retained(broker, f"{settings.base_topic}/status") == "offline"
    assert not await supervisor.publish(f"{settings.base_topic}/x", "2")


async def test_ha_birth_reruns_the_hooks_but_a_retained_birth_does_not(broker: Broker) -> None:
    settings = mqtt_settings(broker)
    supervisor = supervisor_for(settings)
    hooks = Hooks()
    supervisor.on_connected.append(hooks)
    async with running(supervisor), HaClient(broker, settings.base_topic) as ha:
        await hooks.wait_for(1)
        await ha.client.publish(f"{settings.discovery_prefix}/status", "offline", qos=1)
        await ha.client.publish(f"{settings.discovery_prefix}/status", "online", qos=1)
        await hooks.wait_for(2)
        assert hooks.calls == 2
    # A retained "online" is delivered at subscribe time on the next connect: the connect hook covers it.
    # (A new client id: the first supervisor's persistent session would otherwise queue that publish as a
    # live, non-retained birth that happened while it was away — which rightly re-runs the hooks.)
    async with HaClient(broker, settings.base_topic) as ha:
        await ha.client.publish(f"{settings.discovery_prefix}/status", "online", qos=1, retain=True)
    settings = settings.model_copy(update={"client_id": settings.client_id + "-next"})
    second = supervisor_for(settings)
    hooks2 = Hooks()
    second.on_connected.append(hooks2)
    marker: asyncio.Event = asyncio.Event()

    async def on_marker(message: aiomqtt.Message) -> None:
        marker.set()

    second.subscribe(f"{settings.base_topic}/marker", on_marker)
    async with running(second):
        await second.publish(f"{settings.base_topic}/marker", "x")
        await asyncio.wait_for(marker.wait(), 5)
        await hooks2.wait_for(1)
        assert hooks2.calls == 1
        await second.publish(f"{settings.discovery_prefix}/status", "", retain=True)


async def test_a_stop_is_not_lost_when_a_handler_finishes_at_that_moment() -> None:
    """Python 3.11's wait_for swallowed a cancellation that arrived as the handler returned: the reader
    then waited for a next message, and the shutdown hung (seen once in the sandbox night)."""
    supervisor = MqttSupervisor(MqttSettings(base_topic="k2m-cancel"))
    reader: asyncio.Task[None] | None = None

    async def handler(message: aiomqtt.Message) -> None:
        assert reader is not None
        reader.cancel()  # the shutdown arrives while the handler finishes

    supervisor.subscribe("k2m-cancel/in", handler)

    async def read() -> None:
        await supervisor.dispatch(aiomqtt.Message("k2m-cancel/in", b"x", 0, False, 1, None))
        await asyncio.Event().wait()  # a quiet broker: no next message would ever come to end this

    reader = asyncio.create_task(read())
    done, _ = await asyncio.wait({reader}, timeout=5)
    assert reader in done and reader.cancelled()


async def test_a_failing_handler_or_hook_does_not_stop_the_loop(broker: Broker) -> None:
    settings = mqtt_settings(broker)
    supervisor = supervisor_for(settings)
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def broken_hook() -> None:
        raise RuntimeError("hook bug")

    hooks = Hooks()
    supervisor.on_connected += [broken_hook, hooks]

    async def handler(message: aiomqtt.Message) -> None:
        assert isinstance(message.payload, bytes)
        if message.payload == b"boom":
            raise ValueError("handler bug")
        await seen.put(message.payload.decode())

    supervisor.subscribe(f"{settings.base_topic}/in/#", handler)
    async with running(supervisor):
        await hooks.wait_for(1)
        await supervisor.publish(f"{settings.base_topic}/in/a", "boom")
        await supervisor.publish(f"{settings.base_topic}/in/a", "fine")
        assert await asyncio.wait_for(seen.get(), 5) == "fine"


@pytest.fixture
def own_broker() -> Iterator[Broker]:
    b = start_broker()
    try:
        yield b
    finally:
        b.stop()


async def test_broker_restart_reconnects_republishes_and_resubscribes(
    own_broker: Broker, fake: FakeKraken, make_client: Callable[..., KrakenClient], tmp_path: Path
) -> None:
    settings = mqtt_settings(own_broker)
    daemon = build_daemon(settings, make_client(), tmp_path / "c.db")
    hooks = Hooks()
    daemon.supervisor.on_connected.append(hooks)
    await daemon.start()
    await hooks.wait_for(1)
    await asyncio.to_thread(own_broker.restart)  # the broker keeps no retained messages across restarts
    await hooks.wait_for(2)
    assert daemon.supervisor.connections == 2
    assert await retained(own_broker, f"{settings.base_topic}/status") == "online"
    async with HaClient(own_broker, settings.base_topic) as ha:
        await ha.subscribe(f"{settings.base_topic}/+/result")
        await ha.send(f"{EV}/boost/set", b"ON")
        assert (await ha.result())["status"] == "done"
    assert [m for m, _ in fake.mutations] == ["updateBoostCharge"]
    await daemon.stop()


async def test_results_while_disconnected_are_sent_after_reconnect(own_broker: Broker) -> None:
    settings = mqtt_settings(own_broker)
    supervisor = supervisor_for(settings)
    hooks = Hooks()
    supervisor.on_connected.append(hooks)
    got: asyncio.Queue[str] = asyncio.Queue()

    async def on_result(message: aiomqtt.Message) -> None:
        assert isinstance(message.payload, bytes)
        await got.put(message.payload.decode())

    # the supervisor's own subscription is renewed before the outbox is flushed: it sees the late result
    supervisor.subscribe(f"{settings.base_topic}/dev/result", on_result)
    async with running(supervisor):
        await hooks.wait_for(1)
        await asyncio.to_thread(own_broker.stop)
        await asyncio.wait_for(supervisor.wait_disconnected(), 10)
        assert not await supervisor.publish(f"{settings.base_topic}/dev/result", "late", queue=True)
        assert not await supervisor.publish(f"{settings.base_topic}/status2", "x", retain=True, queue=True)
        await asyncio.to_thread(own_broker.start)
        assert await asyncio.wait_for(got.get(), 10) == "late"
        await hooks.wait_for(2)
        assert supervisor.connections == 2


async def test_a_client_factory_that_raises_never_ends_the_supervisor(broker: Broker) -> None:
    """A missing CA file makes the factory raise (not MqttError): logged, retried, and unhealthy for the
    watchdog after three in a row; once the file is there, it connects."""
    from kraken2mqtt.clock import ManualClock
    from kraken2mqtt.mqtt.connection import make_client

    settings = mqtt_settings(broker)
    attempts = 0
    lines: list[str] = []
    fixed = asyncio.Event()

    def factory(s: MqttSettings) -> aiomqtt.Client:
        nonlocal attempts
        attempts += 1
        if not fixed.is_set():
            raise FileNotFoundError(2, "No such file or directory", "/etc/ssl/missing-ca.pem")
        return make_client(s)

    clock = ManualClock()
    supervisor = MqttSupervisor(
        settings,
        clock=clock,
        reconnect_backoff=Backoff(base=1.0, cap=4.0),
        birth_delay=(0.0, 0.01),
        client_factory=factory,
        on_event=lines.append,
    )
    task = asyncio.create_task(supervisor.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0)
            if attempts >= 3:
                break
        assert attempts >= 3 and not task.done()
        assert not supervisor.healthy()
        assert supervisor.last_error is not None and "missing-ca.pem" in supervisor.last_error
        assert lines[0].startswith("cannot connect (FileNotFoundError") and "reconnecting in" in lines[0]
        assert max(clock.slept) <= 4.0  # backoff on the clock, capped
        fixed.set()
        await asyncio.wait_for(supervisor.wait_connected(), 5)
        assert supervisor.healthy() and supervisor.local_failures == 0
        assert lines[-1] == f"connected to {settings.host}:{settings.port}"
    finally:
        await asyncio.wait_for(supervisor.stop(), 5)
        await task


async def test_broker_restart_lines(tmp_path: Path) -> None:
    private = start_broker()
    try:
        settings = mqtt_settings(private)
        lines: list[str] = []
        back = asyncio.Event()

        def line(text: str) -> None:
            lines.append(text)
            if text.startswith("back"):
                back.set()

        supervisor = MqttSupervisor(
            settings,
            reconnect_backoff=Backoff(base=0.05, cap=0.2),
            birth_delay=(0.0, 0.01),
            on_event=line,
        )
        async with running(supervisor):
            await asyncio.to_thread(private.restart)
            await asyncio.wait_for(back.wait(), 10)
        assert lines[0] == f"connected to {settings.host}:{settings.port}"
        assert lines[1].startswith("broker gone, reconnecting in ")
        assert lines[-1] == f"back: connected to {settings.host}:{settings.port}"
    finally:
        private.stop()
