"""cancel_and_wait: a task that swallows its cancellation is cancelled again until it stops."""

from __future__ import annotations

import asyncio

import pytest

from kraken2mqtt.tasks import cancel_and_wait


async def test_cancels_and_waits_for_ordinary_tasks() -> None:
    sleeper = asyncio.ensure_future(asyncio.sleep(3600))
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    done.set_result("x")
    await asyncio.sleep(0)
    await cancel_and_wait(sleeper, done)
    assert sleeper.cancelled()
    assert done.result() == "x"
    await cancel_and_wait()  # nothing to do


async def test_a_task_that_swallows_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed == 3:
                    raise

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, nudge=0.001), 5)
    assert task.cancelled() and swallowed == 3


async def test_failures_are_consumed_not_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.ensure_future(broken())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert isinstance(task.exception(), RuntimeError)


async def test_cancelling_the_caller_cancels_the_wait() -> None:
    stubborn_now = True

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not stubborn_now:
                    raise

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(cancel_and_wait(task, nudge=3600))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not task.done()  # asked to stop, but it does not listen (yet)
    stubborn_now = False
    await cancel_and_wait(task)
    assert task.cancelled()
