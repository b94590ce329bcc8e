"""The command path from Home Assistant to Kraken.

:class:`CommandService` receives command messages from the :class:`MqttSupervisor`, parses them
(:mod:`kraken2mqtt.mqtt.command_parse`), answers ``invalid`` at once, handles the local controls (planner
mode, refresh) itself and hands Kraken commands to the :class:`CommandRunner`.

:class:`CommandRunner` persists each accepted command (:class:`CommandQueue`), answers ``accepted``, and
works through the queue: one attempt at a time, the mutation built from the context of that moment, a
``done`` / ``refused`` / ``invalid`` result when Kraken answers, a jittered backoff when it cannot be
reached (transport, 5xx, rate limit, auth trouble). On start it resumes what a previous run left pending.

Exactly once across a crash: the supervisor acknowledges a command message only after
:meth:`CommandService.handle` returns, so a kill -9 before the command is stored makes the broker send
it again (DUP) on the next connect. A DUP message whose delivery (message id, digest of topic and
payload) is already in the queue was stored before the crash and is dropped; any other is handled as
new. A command that cannot be stored (a full disk, a locked file) is answered ``refused`` rather than
acknowledged in silence.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiomqtt
import structlog

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import Clock, SystemClock
from kraken2mqtt.controls import ACCOUNT, Command, Control, PlannerMode
from kraken2mqtt.kraken.mutations import CommandContext, Outcome, check_target
from kraken2mqtt.mqtt.command_parse import (
    CommandResult,
    Ignored,
    Invalid,
    Status,
    command_filters,
    parse,
    result_topic,
)
from kraken2mqtt.mqtt.supervisor import MqttSupervisor
from kraken2mqtt.store.command_queue import CommandQueue, PendingCommand, PlannerOverrides
from kraken2mqtt.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

ResultSink = Callable[[str, CommandResult], Awaitable[None]]
PRUNE_AFTER = 24 * 3600.0
_EPSILON = 0.001  # clocks with microsecond resolution: a row due "now" must not wait for a zero sleep


class Executor(Protocol):
    async def execute(self, command: Command, *, attempt: int) -> Outcome: ...


class CommandRunner:
    def __init__(
        self,
        queue: CommandQueue,
        executor: Executor,
        publish_result: ResultSink,
        *,
        clock: Clock | None = None,
        retry_base: float = 5.0,
        retry_cap: float = 300.0,
        rng: random.Random | None = None,
        ttl: float = 3600.0,
        max_attempts: int = 50,
        on_attempt: Callable[[PendingCommand, Outcome], None] | None = None,
    ) -> None:
        self.queue = queue
        self._executor = executor
        self._publish = publish_result
        self._clock = clock or SystemClock()
        self._retry_base, self._retry_cap = retry_base, retry_cap
        self._rng = rng or random.Random()
        self.ttl = ttl
        self._max_attempts = max_attempts
        self._on_attempt = on_attempt
        self._wake = asyncio.Event()
        self._stopping = False

    def _now(self) -> float:
        return self._clock.now().timestamp()

    async def submit(self, command: Command, *, delivery: str | None = None) -> str | None:
        """Persist a Kraken command, answer ``accepted`` and wake the worker; returns the command id (None
        when it could not be stored: then it is answered ``refused``)."""
        now = self._now()
        try:  # in a thread: the insert may wait for another connection's write lock; the loop goes on
            command_id, superseded = await asyncio.to_thread(
                self.queue.add, command, now=now, ttl=self.ttl, delivery=delivery
            )
        except sqlite3.Error as exc:
            log.error("commands.store_failed", control=command.control.value, error=str(exc)[:200])
            reason = f"could not be stored: {type(exc).__name__}"
            await self._result(uuid.uuid4().hex, command, "refused", reason=reason)
            return None
        for old in superseded:
            await self._result(old.id, old.command, "refused", reason="superseded")
        await self._result(command_id, command, "accepted")
        self._wake.set()
        return command_id

    def stored(self, delivery: str) -> bool:
        """A command brought by this MQTT delivery is in the queue (kept for :data:`PRUNE_AFTER`)."""
        return self.queue.delivered(delivery, since=self._now() - PRUNE_AFTER)

    async def run(self) -> None:
        """Work through the queue until :meth:`stop` (or cancellation: a command being sent then stays
        ``in_flight`` and is sent again on the next start)."""
        now = self._now()
        recovered = await asyncio.to_thread(self.queue.recover, now=now)
        await asyncio.to_thread(self.queue.prune, before=now - PRUNE_AFTER)
        if recovered:
            log.info("commands.resumed", pending=recovered)
        while not self._stopping:
            self._wake.clear()
            due = self.queue.due(now=self._now() + _EPSILON)
            for pending in due:
                if self._stopping:
                    return
                await self._attempt(pending)
            if due:
                continue
            next_at = self.queue.next_due_at()
            await self._idle(None if next_at is None else max(0.0, next_at - self._now()) + _EPSILON)

    def stop(self) -> None:
        """Finish the attempt under way (if any), then let :meth:`run` return (graceful shutdown)."""
        self._stopping = True
        self._wake.set()

    async def _idle(self, seconds: float | None) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        tasks: set[asyncio.Future[Any]] = {waiter}
        if seconds is not None:
            tasks.add(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(*tasks)

    async def _attempt(self, pending: PendingCommand) -> None:
        now = self._now()
        command = pending.command
        if now >= pending.expires_at:
            await asyncio.to_thread(self.queue.finish, pending.id, "refused", now=now, reason="expired")
            await self._result(pending.id, command, "refused", reason="expired")
            return
        if not await asyncio.to_thread(self.queue.claim, pending.id, now=now):
            return
        attempt = pending.attempts + 1
        try:
            outcome = await self._executor.execute(command, attempt=attempt)
        except Exception as exc:
            log.exception("commands.executor_failed", control=command.control.value)
            outcome = Outcome("retry", f"internal error {type(exc).__name__}")
        if self._on_attempt is not None:
            self._on_attempt(pending, outcome)
        now = self._now()
        if outcome.status == "retry":
            if attempt >= self._max_attempts:
                reason = f"gave up after {attempt} attempts: {outcome.reason}"
                await asyncio.to_thread(self.queue.finish, pending.id, "refused", now=now, reason=reason)
                await self._result(pending.id, command, "refused", reason=reason)
                return
            delay = Backoff(self._retry_base, self._retry_cap, self._rng, failures=attempt - 1).next_delay()
            delay = max(delay, outcome.retry_after or 0.0)
            at = min(now + delay, pending.expires_at)
            await asyncio.to_thread(
                self.queue.retry_later, pending.id, now=now, at=at, error=outcome.reason or "retry"
            )
            log.info(
                "commands.retry",
                control=command.control.value,
                attempt=attempt,
                reason=outcome.reason,
                retry_in=round(at - now, 2),
            )
            return
        await asyncio.to_thread(
            self.queue.finish,
            pending.id,
            outcome.status,
            now=now,
            reason=outcome.reason,
            reasons=outcome.reasons,
        )
        await self._result(
            pending.id, command, outcome.status, reason=outcome.reason, reasons=outcome.reasons
        )

    async def _result(
        self,
        command_id: str,
        command: Command,
        status: Status,
        *,
        reason: str | None = None,
        reasons: tuple[str, ...] = (),
    ) -> None:
        result = CommandResult(
            command_id, command.control.value, status, self._clock.now(), reason, reasons, command.value
        )
        log.info(
            "commands.result",
            device=command.device,
            control=command.control.value,
            status=status,
            reason=reason,
            reasons=list(reasons),
        )
        try:
            await self._publish(command.device, result)
        except Exception:
            log.exception("commands.result_publish_failed")


def delivery_key(message: aiomqtt.Message) -> str:
    """Names one delivery of a message: its MQTT message id (kept by the broker when it sends the message
    again) and a digest of topic and payload (message ids are reused once acknowledged)."""
    payload = message.payload
    body = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
    digest = hashlib.sha256(message.topic.value.encode() + b"\0" + bytes(body)).hexdigest()[:16]
    return f"{message.mid}:{digest}"


class CommandService:
    """Glue: MQTT command messages -> parse -> local handling or the runner; results back to MQTT."""

    def __init__(
        self,
        supervisor: MqttSupervisor,
        runner: CommandRunner,
        *,
        context: Callable[[], CommandContext],
        overrides: PlannerOverrides,
        on_refresh: Callable[[], Awaitable[None]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._mqtt = supervisor
        self._runner = runner
        self._context = context
        self._overrides = overrides
        self._on_refresh = on_refresh
        self._clock = clock or SystemClock()
        self.base_topic = supervisor.settings.base_topic
        self._background: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Subscribe the command topics (QoS 1) on the supervisor."""
        for topic_filter in command_filters(self.base_topic):
            self._mqtt.subscribe(topic_filter, self.handle, qos=1)

    async def publish_result(self, device: str, result: CommandResult) -> None:
        await self._mqtt.publish(result_topic(self.base_topic, device), result.payload(), qos=1, queue=True)

    async def handle(self, message: aiomqtt.Message) -> None:
        """One command message; returns once it is stored or answered (the supervisor acknowledges then)."""
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes | bytearray | str) else None
        parsed = parse(self.base_topic, topic, payload, retain=bool(message.retain))
        if isinstance(parsed, Ignored):
            log.info("commands.ignored", topic=topic[:200], reason=parsed.reason)
            if parsed.clear:
                await self._mqtt.publish(topic, b"", qos=1, retain=True)
            return
        if isinstance(parsed, Invalid):
            log.warning("commands.invalid", topic=topic[:200], reason=parsed.reason)
            await self._answer(parsed.device or ACCOUNT, parsed.control, "invalid", parsed.reason)
            return
        delivery = delivery_key(message) if message.qos else None
        if delivery is not None and self._mqtt.redelivered(message):
            if self._runner.stored(delivery):
                log.info("commands.redelivered", control=parsed.control.value, detail="stored; dropped")
                return
            log.info("commands.redelivered", control=parsed.control.value, detail="not stored before")
        await self.submit(parsed, delivery=delivery)

    async def submit(self, command: Command, *, delivery: str | None = None) -> None:
        target = check_target(command, self._context())
        if isinstance(target, Outcome) and target.status != "retry":
            log.warning(
                "commands.invalid", device=command.device, control=command.control.value, reason=target.reason
            )
            await self._answer(command.device, command.control.value, "invalid", target.reason, command.value)
            return
        if command.control is Control.PLANNER_MODE:
            mode: PlannerMode = command.value  # type: ignore[assignment]  # parse() checked the option
            try:  # in a thread, as the runner's writes: it may wait for another connection's lock
                await asyncio.to_thread(
                    self._overrides.set, command.device, mode, now=self._clock.now().timestamp()
                )
            except sqlite3.Error as exc:
                log.error("commands.store_failed", control=command.control.value, error=str(exc)[:200])
                reason = f"could not be stored: {type(exc).__name__}"
                await self._answer(command.device, command.control.value, "refused", reason, command.value)
                return
            await self._answer(command.device, command.control.value, "done", None, command.value)
            return
        if command.control is Control.REFRESH:
            # a poll takes seconds: answer when it is over, without holding up the message loop
            task = asyncio.get_running_loop().create_task(self._refresh(command))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        await self._runner.submit(command, delivery=delivery)

    async def _refresh(self, command: Command) -> None:
        if self._on_refresh is None:
            await self._answer(command.device, command.control.value, "refused", "refresh is not available")
            return
        try:
            await self._on_refresh()
        except Exception as exc:
            log.exception("commands.refresh_failed")
            await self._answer(
                command.device, command.control.value, "refused", f"refresh failed: {type(exc).__name__}"
            )
            return
        await self._answer(command.device, command.control.value, "done", None)

    async def _answer(
        self, device: str, control: str | None, status: Status, reason: str | None, value: object = None
    ) -> None:
        result = CommandResult(
            uuid.uuid4().hex,
            control,
            status,
            self._clock.now(),
            reason,
            (),
            value if isinstance(value, bool | int | float | str) else None,
        )
        await self.publish_result(device, result)
