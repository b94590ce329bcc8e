"""The MQTT connection supervisor: one long-lived connection, reconnected forever.

On every (re)connect it publishes ``<base>/status`` = ``online`` (retained; the last will says
``offline``), subscribes to every registered topic filter and to ``<discovery_prefix>/status``, flushes the
results queued while offline, and runs the ``on_connected`` hooks (where discovery and state are
republished). When Home Assistant announces ``online`` on ``<discovery_prefix>/status`` the hooks run again
after a small random delay, so a fleet of integrations does not answer HA's restart all at once.

Connection failures are retried with jittered exponential backoff, without end; so is a session that fails
for another reason (the client factory raising because a CA file is missing, a bug): that is logged with
the reason and, after ``unhealthy_after`` such failures in a row, :meth:`MqttSupervisor.healthy` turns
False so the watchdog stops pinging. A handler that raises is logged and the loop goes on.
``on_event`` gets one line per change a person cares about ("broker gone, reconnecting in 2 s", "back").
:meth:`MqttSupervisor.stop` publishes ``offline`` (retained) and disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
import structlog

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import Clock, SystemClock
from kraken2mqtt.mqtt.connection import Deliveries, make_client, status_topic
from kraken2mqtt.settings import MqttSettings
from kraken2mqtt.tasks import cancel_and_wait, first_completed

log = structlog.get_logger(__name__)

Hook = Callable[[], Awaitable[None]]
Handler = Callable[[aiomqtt.Message], Awaitable[None]]
Payload = str | bytes


@dataclass(frozen=True, slots=True)
class _Subscription:
    topic_filter: str
    handler: Handler
    qos: int


class MqttSupervisor:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        clock: Clock | None = None,
        reconnect_backoff: Backoff | None = None,
        birth_delay: tuple[float, float] = (1.0, 5.0),
        rng: random.Random | None = None,
        client_factory: Callable[[MqttSettings], aiomqtt.Client] | None = None,
        outbox_size: int = 200,
        handler_timeout: float = 30.0,
        on_event: Callable[[str], None] | None = None,
        unhealthy_after: int = 3,
    ) -> None:
        self.settings = settings
        self.status_topic = status_topic(settings)
        self.birth_topic = f"{settings.discovery_prefix}/status"
        #: Run (in order) after every connect and after every Home Assistant birth message.
        self.on_connected: list[Hook] = []
        self.connections = 0  # successful connects so far
        self._clock = clock or SystemClock()
        self._backoff = reconnect_backoff or Backoff(base=1.0, cap=60.0)
        self._birth_delay = birth_delay
        self._rng = rng or random.Random()
        self._factory = client_factory or make_client
        self._subs: list[_Subscription] = []
        self._client: aiomqtt.Client | None = None
        self._deliveries: Deliveries | None = None
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._handler_timeout = handler_timeout
        self._outbox: deque[tuple[str, Payload, int]] = deque(maxlen=outbox_size)
        self._hooks_task: asyncio.Task[None] | None = None
        self._running = False
        self._on_event = on_event
        self._unhealthy_after = unhealthy_after
        self.local_failures = 0  # sessions in a row that failed with something other than MqttError
        self.last_error: str | None = None
        self._was_connected = False

    # -- configuration --------------------------------------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 1) -> None:
        """Route messages matching ``topic_filter`` to ``handler`` (subscribed again on every connect)."""
        self._subs.append(_Subscription(topic_filter, handler, qos))
        client = self._client
        if client is not None and self._connected.is_set():
            task = asyncio.get_running_loop().create_task(self._subscribe_now(client, topic_filter, qos))
            task.add_done_callback(_log_failure)

    # -- state ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def healthy(self) -> bool:
        """False while sessions keep failing for a local reason (not the broker being away): a missing CA
        file, a bad client setting, a bug. A broker that is down is not our fault and keeps us healthy."""
        return self.local_failures < self._unhealthy_after

    def _say(self, text: str) -> None:
        if self._on_event is not None:
            try:
                self._on_event(text)
            except Exception:
                log.exception("mqtt.event_listener_failed")

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def wait_disconnected(self) -> None:
        await self._disconnected.wait()

    # -- publishing -----------------------------------------------------------------------------------

    async def publish(
        self, topic: str, payload: Payload, *, qos: int = 1, retain: bool = False, queue: bool = False
    ) -> bool:
        """Publish now; False when not connected (then, with ``queue``, it is sent after the next
        connect; only for non-retained messages such as command results)."""
        client = self._client
        if client is not None and self._connected.is_set():
            try:
                if await self._publish_until_dropped(client, topic, payload, qos=qos, retain=retain):
                    return True
                log.info("mqtt.publish_failed", topic=topic, error="disconnected while publishing")
            except aiomqtt.MqttError as exc:
                log.info("mqtt.publish_failed", topic=topic, error=str(exc))
        if queue and not retain:
            self._outbox.append((topic, payload, qos))
        return False

    async def _publish_until_dropped(
        self, client: aiomqtt.Client, topic: str, payload: Payload, *, qos: int, retain: bool
    ) -> bool:
        """Publish, but give up as soon as the connection drops: aiomqtt would otherwise wait its whole
        timeout for a PUBACK that can never come, holding up the caller (the reconcile pass, hence the
        republish of discovery and state after a broker restart) for that long."""
        done = await first_completed(
            client.publish(topic, payload, qos=qos, retain=retain), self._disconnected.wait()
        )  # raises the MqttError of a failed publish
        return 0 in done

    # -- lifecycle ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and serve until :meth:`stop`; reconnects forever."""
        self._running = True
        self._stopping.clear()
        self._stopped.clear()
        try:
            while not self._stopping.is_set():
                try:
                    await self._session()
                except Exception as exc:  # not the broker: a local fault; never end for good
                    self.local_failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.error(
                        "mqtt.session_failed", error=self.last_error, n=self.local_failures, exc_info=exc
                    )
                if self._stopping.is_set():
                    break
                delay = self._backoff.next_delay()
                log.info("mqtt.reconnect_in", seconds=round(delay, 2))
                reason = "broker gone" if self._was_connected else "broker unreachable"
                if self.local_failures:
                    reason = f"cannot connect ({self.last_error})"
                self._say(f"{reason}, reconnecting in {delay:.0f} s")
                self._was_connected = False
                await self._sleep_unless_stopping(delay)
        finally:
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Publish ``offline`` (retained), disconnect and let :meth:`run` return."""
        self._stopping.set()
        if self._running:
            await self._stopped.wait()

    # -- internals ------------------------------------------------------------------------------------

    def redelivered(self, message: aiomqtt.Message) -> bool:
        """The broker sent ``message`` before and got no acknowledgement (we were killed or cut off while
        handling it): it may have been handled in part."""
        deliveries = self._deliveries
        return deliveries is not None and deliveries.redelivered(message)

    async def _session(self) -> None:
        client = self._factory(self.settings)
        deliveries = self._deliveries = Deliveries(client)  # before connecting: queued messages come first
        try:
            async with client:
                self._client = client
                await client.publish(self.status_topic, "online", qos=1, retain=True)
                await client.subscribe(self.birth_topic, qos=1)
                for topic_filter, qos in self._filters():
                    await client.subscribe(topic_filter, qos=qos)
                self._backoff.reset()
                self.local_failures = 0
                self.connections += 1
                self._disconnected.clear()
                self._connected.set()
                log.info(
                    "mqtt.connected", host=self.settings.host, port=self.settings.port, n=self.connections
                )
                await self._flush_outbox(client)
                self._start_hooks(delay=0.0, reason="connect")
                self._was_connected = True
                self._say(
                    f"back: connected to {self.settings.host}:{self.settings.port}"
                    if self.connections > 1
                    else f"connected to {self.settings.host}:{self.settings.port}"
                )
                await self._serve(client, deliveries)
                if self._stopping.is_set():
                    self._connected.clear()
                    with contextlib.suppress(aiomqtt.MqttError):
                        await client.publish(self.status_topic, "offline", qos=1, retain=True)
        except aiomqtt.MqttError as exc:
            self.last_error = str(exc)
            log.warning("mqtt.disconnected", error=str(exc))
        finally:
            self._connected.clear()
            self._disconnected.set()
            self._client = None
            self._deliveries = None
            await self._cancel_hooks()

    async def _serve(self, client: aiomqtt.Client, deliveries: Deliveries) -> None:
        """Dispatch messages until the connection drops (raises MqttError) or stop is asked."""
        # raises the MqttError of a drop
        await first_completed(self._read(client, deliveries), self._stopping.wait())

    async def _read(self, client: aiomqtt.Client, deliveries: Deliveries) -> None:
        async for message in client.messages:
            await self.dispatch(message)
            deliveries.ack(message)  # only now: a message cancelled under its handler comes again

    async def dispatch(self, message: aiomqtt.Message) -> None:
        """Route one message; a failing (or hanging: ``handler_timeout``) handler is logged, never raised."""
        topic = message.topic
        log.debug("mqtt.message", topic=topic.value[:200], mid=message.mid, dup=self.redelivered(message))
        if topic.matches(self.birth_topic):
            self._on_birth(message)
            return
        called: list[Handler] = []
        for sub in self._subs:
            if sub.handler in called or not topic.matches(sub.topic_filter):
                continue
            called.append(sub.handler)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation of
                # this task (shutdown) when the handler finishes at the same moment.
                async with asyncio.timeout(self._handler_timeout):
                    await sub.handler(message)
            except Exception:
                log.exception("mqtt.handler_failed", topic=topic.value[:200])

    def _on_birth(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else str(payload)
        if message.retain or text.strip().lower() != "online":
            return  # a retained birth is old news: the connect already ran the hooks
        self._say("Home Assistant is back: republishing discovery and state")
        lo, hi = self._birth_delay
        self._start_hooks(delay=self._rng.uniform(lo, hi), reason="ha_birth")

    def _start_hooks(self, *, delay: float, reason: str) -> None:
        if self._hooks_task is not None and not self._hooks_task.done():
            self._hooks_task.cancel()
        self._hooks_task = asyncio.get_running_loop().create_task(self._run_hooks(delay, reason))

    async def _run_hooks(self, delay: float, reason: str) -> None:
        if delay > 0:
            await self._clock.sleep(delay)
        for hook in list(self.on_connected):
            if not self._connected.is_set():
                return
            try:
                await hook()
            except Exception:
                log.exception(
                    "mqtt.hook_failed", hook=getattr(hook, "__qualname__", repr(hook)), reason=reason
                )

    async def _cancel_hooks(self) -> None:
        task, self._hooks_task = self._hooks_task, None
        if task is not None:
            await cancel_and_wait(task)

    def _filters(self) -> list[tuple[str, int]]:
        seen: dict[str, int] = {}
        for sub in self._subs:
            seen[sub.topic_filter] = max(seen.get(sub.topic_filter, 0), sub.qos)
        return list(seen.items())

    async def _subscribe_now(self, client: aiomqtt.Client, topic_filter: str, qos: int) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await client.subscribe(topic_filter, qos=qos)

    async def _flush_outbox(self, client: aiomqtt.Client) -> None:
        while self._outbox:
            topic, payload, qos = self._outbox[0]
            await client.publish(topic, payload, qos=qos)
            self._outbox.popleft()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        await first_completed(self._clock.sleep(seconds), self._stopping.wait())


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("mqtt.task_failed", error=str(task.exception()))
