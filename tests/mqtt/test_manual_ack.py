"""A command is acknowledged to the broker only once it is stored (real Mosquitto, persistent session): a
daemon cut off while handling a command gets it again, flagged DUP, on its next connect, and the command is
done exactly once, whether or not it had reached SQLite before the cut."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kraken2mqtt.controls import Command
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.brokers import Broker, mosquitto_exe
from tests.mqtt.command_rig import Daemon, HaClient, build_daemon, mqtt_settings
from tests.reliability.rig import until
from tests.timing import scaled

pytestmark = pytest.mark.skipif(mosquitto_exe() is None, reason="needs Mosquitto (persistent sessions)")

Submit = Callable[..., Awaitable[str | None]]


async def _cut_off(daemon: Daemon) -> None:
    """End the daemon's MQTT session under its handler (no acknowledgement goes out), as a crash would."""
    for task in daemon.tasks:
        task.cancel()
    for task in daemon.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    daemon.queue.close()


async def _acknowledged(daemon: Daemon, n: int) -> None:
    """Until ``n`` messages are acknowledged and paho has written the PUBACKs out (its output queue is empty):
    seeing a handler's answer does not mean its acknowledgement has left yet."""
    deliveries = daemon.supervisor._deliveries
    assert deliveries is not None
    paho = deliveries._paho
    await _until(lambda: deliveries.acked >= n and not getattr(paho, "_out_packet", None))


def _rows(db: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [(str(r[0]), str(r[1])) for r in c.execute("SELECT state, command FROM pending_command")]


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    await until(condition, scaled(within), "the condition")


@pytest.mark.parametrize("stored_before_the_cut", [False, True])
async def test_a_command_cut_off_in_its_handler_comes_again_and_is_done_once(
    broker: Broker,
    fake: FakeKraken,
    make_client: Callable[..., KrakenClient],
    tmp_path: Path,
    stored_before_the_cut: bool,
) -> None:
    settings = mqtt_settings(broker)
    db = tmp_path / "commands.db"
    first = build_daemon(settings, make_client(), db)
    entered = asyncio.Event()
    real_submit: Submit = first.runner.submit

    async def stuck(command: Command, *, delivery: str | None = None) -> str | None:
        if stored_before_the_cut:
            await real_submit(command, delivery=delivery)  # in SQLite, then stuck before the handler returns
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    first.runner.submit = stuck  # type: ignore[method-assign]
    await first.start()
    try:
        async with HaClient(broker, settings.base_topic) as ha:
            await ha.send("top_up_amount/set", b"2700")
            await asyncio.wait_for(entered.wait(), scaled(10))
    finally:
        await _cut_off(first)
    assert fake.mutations == []
    assert len(_rows(db)) == (1 if stored_before_the_cut else 0)

    second = build_daemon(settings, make_client(), db)  # same client id: the broker's session is kept
    redelivered: list[bool] = []
    handle = second.service.handle

    async def watch(message: object) -> None:
        redelivered.append(second.supervisor.redelivered(message))  # type: ignore[arg-type]
        await handle(message)  # type: ignore[arg-type]

    second.supervisor._subs = [  # route through the watcher (the same filters)
        type(s)(s.topic_filter, watch, s.qos) for s in second.supervisor._subs
    ]
    await second.start()
    try:
        await _until(lambda: any(state == "done" for state, _ in _rows(db)))
        await _until(lambda: bool(redelivered))
    finally:
        await second.stop()
    assert redelivered == [True], "the broker sent the unacknowledged command again, flagged DUP"
    assert [name for name, _ in fake.mutations] == ["updateAutoTopUpAmount"], "done exactly once"
    assert [state for state, _ in _rows(db)] == ["done"]

    third = build_daemon(settings, make_client(), db)  # acknowledged now: nothing comes a third time
    await third.start()
    try:
        async with HaClient(broker, settings.base_topic) as ha:  # a fresh command flushes the session
            await ha.send("top_up_amount/set", b"2800")
            await _until(lambda: len(_rows(db)) == 2 and all(s == "done" for s, _ in _rows(db)))
    finally:
        await third.stop()
    assert [inp["amount"] for _, inp in fake.mutations] == [2700, 2800]


async def test_every_handled_message_is_acknowledged(
    broker: Broker, fake: FakeKraken, make_client: Callable[..., KrakenClient], tmp_path: Path
) -> None:
    """Invalid commands and ignored retained ones are acknowledged too (answered, nothing to store)."""
    settings = mqtt_settings(broker)
    db = tmp_path / "commands.db"
    daemon = build_daemon(settings, make_client(), db)
    await daemon.start()
    try:
        async with HaClient(broker, settings.base_topic) as ha:
            await ha.subscribe(f"{settings.base_topic}/+/result")
            await ha.send("top_up_amount/set", b"-5")
            assert (await ha.result())["status"] == "invalid"
            await _acknowledged(daemon, 1)
    finally:
        await _cut_off(daemon)  # no clean stop: what is not acknowledged would come again
    again = build_daemon(settings, make_client(), db)
    seen: list[bytes] = []
    handle = again.service.handle

    async def watch(message: object) -> None:
        seen.append(bytes(getattr(message, "payload", b"")))
        await handle(message)  # type: ignore[arg-type]

    again.supervisor._subs = [type(s)(s.topic_filter, watch, s.qos) for s in again.supervisor._subs]
    await again.start()
    try:
        async with HaClient(broker, settings.base_topic) as ha:
            await ha.send("top_up_amount/set", b"2900")  # a marker: once it is here, the session is flushed
            await _until(lambda: [s for s, _ in _rows(db)] == ["done"])
    finally:
        await again.stop()
    assert seen == [b"2900"]
    assert [inp["amount"] for _, inp in fake.mutations] == [2900]
