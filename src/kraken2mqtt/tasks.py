"""Long-running tasks: one supervisor for all of them, and stopping tasks for certain.

:class:`Supervisor` runs every long-running part of the daemon (poller, reconcile loop, MQTT supervisor,
command runner, metrics server; in the sandbox also the simulated world and devices) by name. It notices a
task that raises or ends when it should not, logs it once with the reason, and restarts it after a backoff
where that is safe; a task that keeps failing (``give_up_after`` times in a row without a stable run), or
one that must not be restarted, stops the process: :meth:`Supervisor.run` returns the failure and the
caller exits non-zero, so systemd restarts the service. :meth:`Supervisor.healthy` (the watchdog's
predicate) is False while any critical task is down for good or reports itself unhealthy. Every change of a
task's state calls the :attr:`Supervisor.watchers` (the daemon persists :meth:`Supervisor.report` for
``kraken2mqtt status`` and sets the per-task metrics).

:func:`first_completed` replaces hand-written ``asyncio.wait(..., FIRST_COMPLETED)`` blocks: it waits for
the first of some awaitables and cancels the others for certain.

Cancelling a task and awaiting it is not enough on Python 3.11: ``asyncio.wait_for`` (in this code or in a
library) swallows a cancellation that arrives just as the awaited work finishes, and the task then runs on —
a shutdown that awaits it hangs for ever. :func:`cancel_and_wait` cancels again until the task is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

#: Seconds between repeated cancellations of a task that did not stop.
NUDGE_SECONDS = 0.5


async def cancel_and_wait(*tasks: asyncio.Future[Any], nudge: float = NUDGE_SECONDS) -> None:
    """Cancel ``tasks`` and return once every one is done (cancelled, finished or failed).

    A task still running ``nudge`` seconds after a cancellation is cancelled again. Results and
    exceptions of the tasks are consumed and dropped (a failure should be logged where it happens).
    Cancelling the caller cancels the wait, not the guarantee: the tasks have been asked to stop.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=nudge)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # mark it retrieved: no "exception was never retrieved" at exit


async def first_completed(*awaitables: Awaitable[Any]) -> list[int]:
    """Run ``awaitables`` together until the first one finishes; cancel the others (for certain).

    Returns the indexes of those that finished (usually one). If one of them raised, its exception is
    raised here (the first in argument order)."""
    futures = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(*futures)
    done = [i for i, f in enumerate(futures) if f.done() and not f.cancelled()]
    for i in done:
        exc = futures[i].exception()
        if exc is not None:
            raise exc
    return done


class Delays(Protocol):
    """What a task's restart policy needs: :class:`~kraken2mqtt.backoff.Backoff` or :class:`FixedDelay`."""

    def next_delay(self) -> float: ...
    def reset(self) -> None: ...


@dataclass
class FixedDelay:
    """Always the same delay (the sandbox's devices reconnect every 2 s)."""

    seconds: float

    def next_delay(self) -> float:
        return self.seconds

    def reset(self) -> None:
        return None


class Default:
    """The type of :data:`DEFAULT`: "use the supervisor's setting"."""


DEFAULT = Default()


class TaskFailed(RuntimeError):
    """A supervised task failed in a way the supervisor does not repair: the process must exit non-zero."""


@dataclass
class TaskState:
    """What the supervisor knows about one task (for ``status``, logs and the watchdog)."""

    name: str
    state: str = "pending"  # pending | running | restarting | done | failed
    restarts: int = 0
    failures_in_a_row: int = 0
    last_error: str | None = None


@dataclass
class _Spec:
    name: str
    factory: Callable[[], Awaitable[None]]
    restart: bool
    may_end: bool
    critical: bool
    healthy: Callable[[], bool] | None
    delays: Delays
    give_up_after: int | None
    real_time: bool
    quiet: tuple[type[BaseException], ...]
    state: TaskState = field(init=False)

    def __post_init__(self) -> None:
        self.state = TaskState(self.name)


Listener = Callable[[str, str, BaseException | None, float | None], None]
"""``(task name, what happened: "failed" | "ended" | "restarting" | "gave_up", error, delay)``."""


class Supervisor:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        stable_after: float = 300.0,
        give_up_after: int = 10,
        on_event: Listener | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._stable_after = stable_after
        self._give_up_after = give_up_after
        self._specs: dict[str, _Spec] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failed = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._closing = False
        self.failure: str | None = None
        self.listeners: list[Listener] = [on_event] if on_event is not None else []
        #: Called (no arguments) after any task's state or restart count changed.
        self.watchers: list[Callable[[], None]] = []

    # -- configuration --------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        restart: bool = True,
        may_end: bool = False,
        critical: bool = True,
        healthy: Callable[[], bool] | None = None,
        backoff: Delays | None = None,
        give_up_after: int | Default | None = DEFAULT,
        real_time: bool = False,
        quiet: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Register a task by name. ``factory()`` makes a fresh coroutine for each (re)start.

        ``restart``: restart it after ``backoff`` when it raises (or ends while ``may_end`` is False);
        otherwise its failure stops the process. ``may_end``: ending normally is its job (a one-shot).
        ``critical=False``: its troubles never make the daemon unhealthy nor stop it (the metrics
        server). ``healthy``: its own health, for the watchdog. ``give_up_after``: failures in a row
        before it counts as failed for good (None: never; default: the supervisor's). ``real_time``: restart
        delays in real seconds rather than on the supervisor's (maybe simulated) clock. ``quiet``:
        exceptions logged without a traceback (an expected loss, said elsewhere). Tasks added while
        running start at once.
        """
        if name in self._specs:
            raise ValueError(f"a task named {name!r} is already supervised")
        spec = _Spec(
            name,
            factory,
            restart,
            may_end,
            critical,
            healthy,
            backoff if backoff is not None else Backoff(base=1.0, cap=60.0),
            self._give_up_after if isinstance(give_up_after, Default) else give_up_after,
            real_time,
            quiet,
        )
        self._specs[name] = spec
        if self._tasks:
            self._start(spec)

    # -- state ----------------------------------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def task(self, name: str) -> asyncio.Task[None]:
        return self._tasks[name]

    def status(self) -> dict[str, TaskState]:
        return {name: spec.state for name, spec in self._specs.items()}

    def report(self) -> list[dict[str, Any]]:
        """Every task's state, JSON-ready: name, state, restarts, critical, last_error."""
        return [
            {
                "name": name,
                "state": spec.state.state,
                "restarts": spec.state.restarts,
                "critical": spec.critical,
                "last_error": spec.state.last_error,
            }
            for name, spec in self._specs.items()
        ]

    def healthy(self) -> bool:
        """Every critical task is running (or being restarted) and says it is healthy."""
        if self.failure is not None:
            return False
        for spec in self._specs.values():
            if not spec.critical:
                continue
            if spec.state.state == "failed":
                return False
            if spec.state.state == "running" and spec.healthy is not None and not _safe(spec.healthy):
                return False
        return True

    # -- running --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every registered task (each under its guard)."""
        for spec in self._specs.values():
            if spec.name not in self._tasks:
                self._start(spec)

    async def run(self, stop: asyncio.Event) -> str | None:
        """Start the tasks; return when ``stop`` is set (None) or when a task failed for good (why).
        The tasks keep running: stop them with :meth:`cancel` in the order the caller needs."""
        self._stop = stop
        self.start()
        if self.failure is None:
            await first_completed(stop.wait(), self._failed.wait())
        self._closing = True
        return self.failure

    @property
    def closing(self) -> bool:
        """Stop was asked: tasks that end now are done, not failed, and nothing is restarted."""
        return self._closing or (self._stop is not None and self._stop.is_set())

    async def cancel(self, *names: str) -> None:
        """Stop the named tasks (for certain); without names, every task."""
        chosen = names or tuple(self._tasks)
        await cancel_and_wait(*(self._tasks[n] for n in chosen if n in self._tasks))

    async def wait(self, name: str, *, within: float) -> bool:
        """Wait up to ``within`` seconds for a task to end by itself; True if it did."""
        task = self._tasks.get(name)
        if task is None:
            return True
        done, _ = await asyncio.wait({task}, timeout=within)
        return bool(done)

    def _start(self, spec: _Spec) -> None:
        self._tasks[spec.name] = asyncio.get_running_loop().create_task(self._guard(spec), name=spec.name)

    async def _guard(self, spec: _Spec) -> None:
        st = spec.state
        while True:
            started = self._clock.monotonic()
            st.state = "running"
            self._changed()
            error: BaseException | None
            try:
                await spec.factory()
            except asyncio.CancelledError:
                st.state = "done"
                self._changed()
                raise
            except Exception as exc:
                error = exc
                if self.closing:
                    st.state = "done"
                    self._changed()
                    log.info("task.failed_while_stopping", task=spec.name, error=str(exc))
                    return
                if isinstance(exc, spec.quiet):
                    log.info("task.failed", task=spec.name, error=f"{type(exc).__name__}: {exc}")
                else:
                    log.error(
                        "task.failed", task=spec.name, error=f"{type(exc).__name__}: {exc}", exc_info=exc
                    )
                self._emit(spec.name, "failed", exc, None)
            else:
                if spec.may_end or self.closing:
                    st.state = "done"
                    self._changed()
                    return
                error = None
                log.error("task.ended", task=spec.name, detail="a long-running task returned")
                self._emit(spec.name, "ended", None, None)
            st.last_error = f"{type(error).__name__}: {error}" if error is not None else "ended"
            if self._clock.monotonic() - started >= self._stable_after:
                spec.delays.reset()
                st.failures_in_a_row = 0
            st.failures_in_a_row += 1
            limit = spec.give_up_after
            if not spec.restart or (limit is not None and st.failures_in_a_row > limit):
                st.state = "failed"
                self._changed()
                self._emit(spec.name, "gave_up", error, None)
                if spec.critical:
                    self.failure = f"task {spec.name} failed: {st.last_error}"
                    log.critical("task.gave_up", task=spec.name, error=st.last_error)
                    self._failed.set()
                else:
                    log.error("task.gave_up", task=spec.name, error=st.last_error, critical=False)
                return
            delay = spec.delays.next_delay()
            st.state = "restarting"
            st.restarts += 1
            self._changed()
            log.warning("task.restart", task=spec.name, retry_in=round(delay, 2), restarts=st.restarts)
            self._emit(spec.name, "restarting", error, delay)
            if spec.real_time:
                await asyncio.sleep(delay)
            else:
                await self._clock.sleep(delay)

    def _changed(self) -> None:
        for watcher in list(self.watchers):
            try:
                watcher()
            except Exception:  # a report must never stop a task
                log.exception("task.watcher_failed")

    def _emit(self, name: str, what: str, error: BaseException | None, delay: float | None) -> None:
        for listener in list(self.listeners):
            try:
                listener(name, what, error, delay)
            except Exception:
                log.exception("task.listener_failed", task=name)


def _safe(predicate: Callable[[], bool]) -> bool:
    try:
        return bool(predicate())
    except Exception:
        log.exception("task.health_check_failed")
        return False
