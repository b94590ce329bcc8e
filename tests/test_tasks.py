"""cancel_and_wait: a task that swallows its cancellation is cancelled again until it stops."""

from __future__ import annotations

import asyncio

import pytest

from kraken2mqtt.tasks import cancel_and_wait
from tests.timing import scaled


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
    await asyncio.wait_for(cancel_and_wait(task, nudge=0.001), scaled(5))
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


# -- first_completed ------------------------------------------------------------------------------------


async def test_first_completed_cancels_the_rest() -> None:
    from kraken2mqtt.tasks import first_completed

    never = asyncio.Event()
    ready = asyncio.Event()
    ready.set()
    assert await first_completed(never.wait(), ready.wait()) == [1]

    async def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        await first_completed(never.wait(), boom())


# -- the supervisor ---------------------------------------------------------------------------------------


async def test_a_failing_task_is_logged_and_restarted_with_backoff() -> None:
    import structlog

    from kraken2mqtt.backoff import Backoff
    from kraken2mqtt.clock import ManualClock
    from kraken2mqtt.tasks import Supervisor

    clock = ManualClock()
    runs = 0
    events: list[tuple[str, str]] = []
    stop = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"failure {runs}")
        stop.set()
        await asyncio.Event().wait()

    sup = Supervisor(clock, on_event=lambda name, what, _e, _d: events.append((name, what)))
    sup.add("flaky", flaky, backoff=Backoff(base=2.0, cap=8.0))
    with structlog.testing.capture_logs() as logs:
        assert await sup.run(stop) is None
    assert runs == 3 and sup.healthy()
    state = sup.status()["flaky"]
    assert state.state == "running" and state.restarts == 2 and state.last_error == "RuntimeError: failure 2"
    assert events == [("flaky", "failed"), ("flaky", "restarting")] * 2
    assert [e["event"] for e in logs].count("task.failed") == 2
    assert all(1.0 <= s <= 4.0 for s in clock.slept)  # backoff on the supervisor's clock, no real sleep
    await sup.cancel()
    assert sup.task("flaky").done()


async def test_a_task_that_ends_or_cannot_restart_stops_the_process() -> None:
    from kraken2mqtt.clock import ManualClock
    from kraken2mqtt.tasks import FixedDelay, Supervisor

    clock = ManualClock()

    async def returns() -> None:
        return None

    async def forever() -> None:
        await asyncio.Event().wait()

    sup = Supervisor(clock, give_up_after=3)
    sup.add("forever", forever)
    sup.add("returns", returns, backoff=FixedDelay(2.0))
    sup.add("ready", returns, may_end=True)
    failure = await sup.run(asyncio.Event())
    assert failure == "task returns failed: ended"
    assert not sup.healthy()
    status = sup.status()
    assert status["returns"].restarts == 3 and status["returns"].state == "failed"
    assert status["ready"].state == "done" and status["forever"].state == "running"
    assert clock.slept == [2.0, 2.0, 2.0]
    await sup.cancel()

    async def raises() -> None:
        raise OSError("no CA file")

    once = Supervisor(clock)
    once.add("once", raises, restart=False)
    assert await once.run(asyncio.Event()) == "task once failed: OSError: no CA file"


async def test_health_reflects_every_critical_task() -> None:
    from kraken2mqtt.clock import ManualClock
    from kraken2mqtt.tasks import Supervisor

    fresh = True

    async def forever() -> None:
        await asyncio.Event().wait()

    async def dies() -> None:
        raise RuntimeError("metrics port in use")

    sup = Supervisor(ManualClock(), give_up_after=0)
    sup.add("loop", forever, healthy=lambda: fresh)
    sup.add("metrics", dies, critical=False)
    sup.start()
    for _ in range(5):
        await asyncio.sleep(0)
    assert sup.status()["metrics"].state == "failed"
    assert sup.healthy() and sup.failure is None  # a non-critical part fails alone
    fresh = False
    assert not sup.healthy()
    with pytest.raises(ValueError, match="already supervised"):
        sup.add("loop", forever)
    sup.add("late", forever)  # added while running: started at once
    await asyncio.sleep(0)
    assert sup.status()["late"].state == "running"
    await sup.cancel()


async def test_every_state_change_is_reported_to_the_watchers() -> None:
    """What `kraken2mqtt status` and the per-task metrics show: running, restarting (with the count and
    the last error), failed, done; a watcher that raises never stops a task."""
    from kraken2mqtt.clock import ManualClock
    from kraken2mqtt.tasks import FixedDelay, Supervisor

    seen: list[list[tuple[str, str, int]]] = []
    runs = 0
    stop = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError(f"failure {runs}")
        stop.set()
        await asyncio.Event().wait()

    async def broken() -> None:
        raise OSError("port in use")

    sup = Supervisor(ManualClock())
    sup.add("flaky", flaky, backoff=FixedDelay(1.0))
    sup.add("metrics", broken, critical=False, give_up_after=0)

    def watch() -> None:
        seen.append([(t["name"], t["state"], t["restarts"]) for t in sup.report()])

    def broken_watcher() -> None:
        raise RuntimeError("a report that fails")

    sup.watchers += [broken_watcher, watch]
    assert await sup.run(stop) is None
    flaky_states = [next(s for s in snap if s[0] == "flaky") for snap in seen]
    assert ("flaky", "restarting", 1) in flaky_states and ("flaky", "restarting", 2) in flaky_states
    assert flaky_states[-1] == ("flaky", "running", 2)
    report = {t["name"]: t for t in sup.report()}
    assert report["metrics"]["state"] == "failed" and report["metrics"]["critical"] is False
    assert report["metrics"]["last_error"] == "OSError: port in use"
    await sup.cancel()
    assert {t["state"] for t in sup.report() if t["name"] == "flaky"} == {"done"}
    assert seen[-1][0] == ("flaky", "done", 2)
