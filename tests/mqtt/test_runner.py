"""The command runner on a manual clock with a scripted executor: retries, expiry, give-up, results."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.controls import Command, Control
from kraken2mqtt.kraken.mutations import Outcome
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.mqtt.command_runner import CommandRunner
from kraken2mqtt.store.command_queue import CommandQueue

BOOST = Command("ev", Control.BOOST, True)


class Script:
    """Answers with the scripted outcomes (the last one repeats); an Exception entry is raised."""

    def __init__(self, *outcomes: Outcome | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[int] = []

    async def execute(self, command: Command, *, attempt: int) -> Outcome:
        self.calls.append(attempt)
        item = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(item, Exception):
            raise item
        return item


class Sink:
    def __init__(self) -> None:
        self.results: asyncio.Queue[CommandResult] = asyncio.Queue()

    async def __call__(self, device: str, result: CommandResult) -> None:
        await self.results.put(result)

    async def final(self) -> CommandResult:
        while True:
            result = await asyncio.wait_for(self.results.get(), 5)
            if result.status != "accepted":
                return result


@contextlib.asynccontextmanager
async def running(runner: CommandRunner) -> AsyncIterator[None]:
    task = asyncio.create_task(runner.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def queue(tmp_path: Path) -> CommandQueue:
    return CommandQueue(tmp_path / "c.db")


async def test_retries_with_growing_backoff_then_done(queue: CommandQueue) -> None:
    clock, sink = ManualClock(), Sink()
    script = Script(Outcome("retry", "down"), Outcome("retry", "down"), RuntimeError("bug"), Outcome("done"))
    runner = CommandRunner(queue, script, sink, clock=clock, retry_base=10.0, retry_cap=1000.0)
    async with running(runner):
        await runner.submit(BOOST)
        result = await sink.final()
    assert result.status == "done" and script.calls == [1, 2, 3, 4]
    waits = [s for s in clock.slept if s > 0.01]
    assert len(waits) == 3 and 5 <= waits[0] <= 10.01 and 10 <= waits[1] <= 20.01 and 20 <= waits[2] <= 40.01


async def test_server_retry_after_is_respected(queue: CommandQueue) -> None:
    clock, sink = ManualClock(), Sink()
    runner = CommandRunner(
        queue, Script(Outcome("retry", "rate limited", retry_after=600.0), Outcome("done")), sink, clock=clock
    )
    async with running(runner):
        await runner.submit(BOOST)
        assert (await sink.final()).status == "done"
    assert max(clock.slept) >= 600.0


async def test_expired_commands_are_refused(queue: CommandQueue) -> None:
    clock, sink = ManualClock(), Sink()
    runner = CommandRunner(queue, Script(Outcome("retry", "down")), sink, clock=clock, ttl=3600.0)
    async with running(runner):
        await runner.submit(BOOST)
        result = await sink.final()
    assert (result.status, result.reason) == ("refused", "expired")
    assert 3600 <= sum(clock.slept) <= 3601


async def test_gives_up_after_max_attempts(queue: CommandQueue) -> None:
    sink = Sink()
    runner = CommandRunner(queue, Script(Outcome("retry", "down")), sink, clock=ManualClock(), max_attempts=3)
    async with running(runner):
        await runner.submit(BOOST)
        result = await sink.final()
    assert (result.status, result.reason) == ("refused", "gave up after 3 attempts: down")


async def test_refused_and_invalid_results_carry_reasons(queue: CommandQueue) -> None:
    sink = Sink()
    script = Script(Outcome("refused", "KT-CT-4357: no", ("BC_DEVICE_SUSPENDED",)), Outcome("invalid", "bad"))
    runner = CommandRunner(queue, script, sink, clock=ManualClock())
    async with running(runner):
        first = await runner.submit(BOOST)
        refused = await sink.final()
        await runner.submit(Command("ev", Control.TARGET_SOC, 90))
        invalid = await sink.final()
    assert (refused.command_id, refused.status, refused.reasons) == (
        first,
        "refused",
        ("BC_DEVICE_SUSPENDED",),
    )
    assert (invalid.status, invalid.reason, invalid.value) == ("invalid", "bad", 90)
    assert queue.pending() == []


class Slow(Script):
    """Takes its time over the mutation, like Kraken on a bad day."""

    def __init__(self, started: asyncio.Event) -> None:
        super().__init__(Outcome("done"))
        self.started = started

    async def execute(self, command: Command, *, attempt: int) -> Outcome:
        self.started.set()
        await asyncio.sleep(0.05)
        return await super().execute(command, attempt=attempt)


async def test_stop_finishes_the_command_under_way(queue: CommandQueue) -> None:
    started = asyncio.Event()
    sink = Sink()
    runner = CommandRunner(queue, Slow(started), sink, clock=ManualClock())
    task = asyncio.create_task(runner.run())
    await runner.submit(BOOST)
    await asyncio.wait_for(started.wait(), 5)
    runner.stop()  # SIGTERM arrives while the mutation is on its way
    await asyncio.wait_for(task, 5)
    assert (await sink.final()).status == "done"
    assert queue.pending() == []


async def test_a_command_that_cannot_be_stored_is_refused_not_dropped(tmp_path: Path) -> None:
    queue = CommandQueue(tmp_path / "q.db")
    sink = Sink()
    runner = CommandRunner(queue, Script(Outcome("done")), sink, clock=ManualClock())
    queue.database.close()  # as a disk that fails: every statement raises sqlite3.ProgrammingError
    assert await runner.submit(BOOST) is None
    result = await sink.final()
    assert result.status == "refused"
    assert result.reason is not None and result.reason.startswith("could not be stored")
