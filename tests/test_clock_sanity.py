"""A clock that is not set yet (a Pi without a real-time clock after a power cut) holds the daemon back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr

from kraken2mqtt import clock_sanity
from kraken2mqtt.clock import SystemClock
from kraken2mqtt.clock_sanity import (
    LAST_SEEN_KEY,
    NOT_BEFORE,
    TOLERANCE,
    UNSYNCED_GRACE,
    ClockCheck,
    ClockGate,
    assess,
    last_seen,
    timesync_state,
)
from kraken2mqtt.daemon import Daemon, KrakenTarget
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.state import DAEMON_STATE_KEY, decode_daemon_state
from kraken2mqtt.store.sqlite import StateStore
from tests.brokers import Broker
from tests.test_daemon import KEY, settings_for
from tests.timing import scaled

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def test_not_before_is_in_the_past() -> None:
    """Else every daemon would wait for a clock that can never be right."""
    assert datetime.now(UTC) > NOT_BEFORE


@pytest.mark.parametrize(
    ("now", "synced", "seen", "waited", "why"),
    [
        (NOW, True, NOW + timedelta(days=9), timedelta(0), None),  # timesyncd says so: trusted
        (NOW, None, None, timedelta(0), None),  # no timesyncd (chrony, ntpd): sane is enough
        (NOW, None, NOW - timedelta(days=1), timedelta(0), None),
        (NOW, None, NOW + TOLERANCE / 2, timedelta(0), None),  # NTP stepped back a little
        (datetime(1970, 1, 1, tzinfo=UTC), None, None, timedelta(0), "before this version was written"),
        (NOW, None, NOW + timedelta(hours=1), timedelta(0), "before the last time this daemon saw"),
        (NOW, False, None, timedelta(0), "systemd-timesyncd has not synchronised"),
        (NOW, False, None, UNSYNCED_GRACE, None),  # it runs but the network is away: go on
        (NOW, False, NOW + timedelta(hours=1), UNSYNCED_GRACE * 9, "before the last time"),
    ],
)
def test_assess(
    now: datetime, synced: bool | None, seen: datetime | None, waited: timedelta, why: str | None
) -> None:
    verdict = assess(now, synchronized=synced, last_seen=seen, waited=waited)
    if why is None:
        assert verdict is None
    else:
        assert verdict is not None and why in verdict


def test_timesync_state(tmp_path: Path) -> None:
    flag = tmp_path / "timesync" / "synchronized"
    assert timesync_state(flag) is None  # timesyncd not in use
    flag.parent.mkdir()
    assert timesync_state(flag) is False  # running, not yet synchronised
    flag.touch()
    assert timesync_state(flag) is True


def test_last_seen_from_the_state_file(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        assert last_seen(store) is None
        before = time.time()
        store.set("kraken.tokens", "{}")
        seen = last_seen(store)
        assert seen is not None and before - 1 <= seen.timestamp() <= time.time() + 1
        store.set(LAST_SEEN_KEY, "2031-05-01T00:00:00+00:00")
        assert last_seen(store) == datetime(2031, 5, 1, tzinfo=UTC)


class SteppedClock(SystemClock):
    """The real clock, off by ``offset`` until NTP (the test) steps it."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


async def _until(condition: Callable[[], bool], within: float = 20.0) -> None:
    """Poll a condition on the daemon's own state (it has no event for these)."""
    async with asyncio.timeout(scaled(within)):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_a_gate_without_a_check_is_open(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        gate = ClockGate(None, SystemClock(), store)
        assert gate.is_open and await gate.then(asyncio.sleep(0, result=7)) == 7


async def test_a_stopped_gate_drops_the_work(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        check = ClockCheck(flag=tmp_path / "none" / "synchronized", recheck_seconds=0.02)
        gate = ClockGate(check, SteppedClock(timedelta(days=-20000)), store)
        stop = asyncio.Event()
        work = asyncio.sleep(0, result=7)
        pending = asyncio.create_task(gate.then(work, stop))
        await _until(lambda: gate.waiting_for is not None)
        stop.set()
        assert await pending is None
        await gate.close()


async def test_the_daemon_waits_for_the_clock(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a power cut fake-hwclock set the clock an hour behind what the daemon last saw: no Kraken call,
    no plan, no device command until NTP sets it; the daemon says why it waits, then starts by itself."""
    settings = settings_for(tmp_path, broker, "k2mclock")
    with StateStore(settings.state_dir) as store:
        store.set(LAST_SEEN_KEY, datetime.now(UTC).isoformat())
    clock = SteppedClock(timedelta(hours=-1))
    statuses: list[str] = []
    check = ClockCheck(flag=tmp_path / "no-timesyncd" / "synchronized", recheck_seconds=0.05)
    with FakeKraken(api_key=KEY) as fake:
        target = KrakenTarget(fake.url, Credentials(api_key=SecretStr(KEY)), "octopus-gb")
        daemon = Daemon(settings, clock=clock, target=target, clock_check=check)
        monkeypatch.setattr(daemon.clock_gate, "_tell", lambda text: statuses.append(text))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await _until(lambda: daemon.mqtt.connected and daemon.clock_gate.waiting_for is not None)
            await _until(lambda: daemon.clock_gate.checks >= 5)  # a few rechecks: still nothing
            assert "before the last time this daemon saw" in (daemon.clock_gate.waiting_for or "")
            assert statuses and statuses[0].startswith("waiting for the clock: the clock says")
            assert sum(fake.stats.requests.values()) == 0 and not fake.stats.mints
            assert daemon.plan is None and daemon.last_pass is None and not daemon.driver.last_actions
            saved = decode_daemon_state(daemon.store.get(DAEMON_STATE_KEY))  # for `status` and HA
            assert "before the last time this daemon saw" in saved["waiting_for_clock"]
            assert {t["name"]: t["state"] for t in saved["tasks"]}["mqtt"] == "running"
            assert 'kraken2mqtt_task_up{task="mqtt"} 1.0' in daemon.metrics.render().decode()
            # Home Assistant's "Waiting for the clock" entity says so, on its own retained topic
            shown = await _until_retained(
                broker, daemon.ha.topics.clock, lambda p: p["waiting_for_clock"] == "ON"
            )
            assert "before the last time" in shown["waiting_for_clock_attributes"]["reason"]

            clock.offset = timedelta(0)  # NTP has set the clock
            await _until(lambda: daemon.last_pass is not None and fake.stats.mints["api_key"] == 1)
            assert daemon.clock_gate.is_open and daemon.clock_gate.waiting_for is None
            assert statuses[-1].startswith("the clock is set")
            assert decode_daemon_state(daemon.store.get(DAEMON_STATE_KEY))["waiting_for_clock"] is None
            await _until_retained(broker, daemon.ha.topics.clock, lambda p: p["waiting_for_clock"] == "OFF")
        finally:
            stop.set()
            await asyncio.wait_for(task, scaled(20))
    with StateStore(settings.state_dir) as store:  # the time seen is marked for the next boot
        mark = store.get(LAST_SEEN_KEY)
        assert mark is not None and datetime.fromisoformat(mark) > datetime.now(UTC) - timedelta(minutes=1)


async def _until_retained(broker: Broker, topic: str, ok: Callable[[Any], bool]) -> Any:
    """The retained JSON on ``topic`` once ``ok`` says it is the one awaited."""
    deadline = time.monotonic() + scaled(20)
    while True:
        async with aiomqtt.Client(broker.host, broker.port, identifier=f"k2m-clock-{time.time_ns()}") as c:
            await c.subscribe(topic, qos=1)
            try:
                async with asyncio.timeout(scaled(2)):
                    async for message in c.messages:
                        payload = json.loads(bytes(message.payload))
                        if ok(payload):
                            return payload
                        break
            except TimeoutError:
                pass
        assert time.monotonic() < deadline, f"{topic}: not as awaited"
        await asyncio.sleep(0.1)


def test_module_constants_are_sane() -> None:
    assert clock_sanity.TOLERANCE < clock_sanity.MARK_EVERY < timedelta(hours=1)


async def test_run_once_waits_for_the_clock_like_run(tmp_path: Path) -> None:
    """``run --once`` makes no Kraken call either while the clock is behind what the daemon last saw, and
    says so with the words ``run`` gives systemd's status (once, not at every recheck)."""
    import io

    from kraken2mqtt.app import run_daemon
    from kraken2mqtt.settings import load_settings

    with FakeKraken(api_key=KEY) as fake:
        settings = load_settings(
            None, state_dir=tmp_path / "state", kraken={"endpoint": fake.url, "api_key": KEY}
        )
        with StateStore(settings.state_dir) as store:
            store.set(LAST_SEEN_KEY, datetime.now(UTC).isoformat())
        clock = SteppedClock(timedelta(hours=-1))
        check = ClockCheck(flag=tmp_path / "no-timesyncd" / "synchronized", recheck_seconds=0.02)
        out = io.StringIO()
        task = asyncio.create_task(run_daemon(settings, once=True, out=out, clock=clock, clock_check=check))
        try:
            await _until(lambda: "waiting for the clock" in out.getvalue())
            await asyncio.sleep(0.2)  # several rechecks
            assert sum(fake.stats.requests.values()) == 0 and not fake.stats.mints
            assert out.getvalue().count("waiting for the clock") == 1, out.getvalue()
            assert (
                out.getvalue().startswith("kraken2mqtt: waiting for the clock: the clock says ")
                and "before the last time this daemon saw" in out.getvalue()
            )
            clock.offset = timedelta(0)  # NTP has set the clock
            assert await asyncio.wait_for(task, scaled(20)) == 0
        finally:
            task.cancel()
        assert fake.account.number in out.getvalue()
        assert "the clock is set" in out.getvalue()
        assert fake.stats.mints["api_key"] == 1
