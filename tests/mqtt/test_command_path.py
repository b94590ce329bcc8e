"""HA command -> MQTT (real broker) -> parse -> queue -> Kraken mutation (fake server over HTTP) -> result."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kraken2mqtt.clock import SystemClock
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.brokers import Broker
from tests.mqtt.command_rig import EV, INVERTER, LEGACY_EV, Daemon, HaClient, build_daemon, mqtt_settings

Rig = tuple[Daemon, HaClient, FakeKraken]


@pytest.fixture
async def rig(
    broker: Broker, fake: FakeKraken, make_client: Callable[..., KrakenClient], tmp_path: Path
) -> AsyncIterator[Rig]:
    settings = mqtt_settings(broker)
    daemon = build_daemon(settings, make_client(), tmp_path / "commands.db")
    await daemon.start()
    async with HaClient(broker, settings.base_topic) as ha:
        await ha.subscribe(f"{settings.base_topic}/+/result")
        yield daemon, ha, fake
    await daemon.stop()


DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def week(time: str, soc: float) -> list[dict[str, Any]]:
    return [{"dayOfWeek": d, "time": time, "max": soc} for d in DAYS]


def _no_boost(fk: FakeKraken) -> None:
    fk.account.devices[0].boosting = True  # so that "cancel" has something to cancel on the legacy API


def _suspended(fk: FakeKraken) -> None:
    fk.account.devices[0].suspended = True


CONTROLS: list[tuple[str, bytes, str, dict[str, Any], Callable[[FakeKraken], None] | None]] = [
    # (topic suffix, payload, mutation, input, set-up)
    (f"{EV}/boost/set", b"ON", "updateBoostCharge", {"deviceId": EV, "action": "BOOST"}, None),
    (f"{EV}/boost/set", b"OFF", "updateBoostCharge", {"deviceId": EV, "action": "CANCEL"}, None),
    (
        f"{EV}/smart_control/set",
        b"OFF",
        "updateDeviceSmartControl",
        {"deviceId": EV, "action": "SUSPEND"},
        None,
    ),
    (
        f"{INVERTER}/smart_control/set",
        b"ON",
        "updateDeviceSmartControl",
        {"deviceId": INVERTER, "action": "UNSUSPEND"},
        None,
    ),
    (
        f"{EV}/target_soc/set",
        b"90",
        "setDevicePreferences",
        {"deviceId": EV, "mode": "CHARGE", "unit": "PERCENTAGE", "schedules": week("07:00", 90.0)},
        None,
    ),
    (
        f"{EV}/ready_by/set",
        b"06:30",
        "setDevicePreferences",
        {"deviceId": EV, "mode": "CHARGE", "unit": "PERCENTAGE", "schedules": week("06:30", 80.0)},
        None,
    ),
    (f"{LEGACY_EV}/boost/set", b"ON", "triggerBoostCharge", {"accountNumber": "A-SANDBOX1"}, None),
    (f"{LEGACY_EV}/boost/set", b"OFF", "deleteBoostCharge", {"accountNumber": "A-SANDBOX1"}, _no_boost),
    (f"{LEGACY_EV}/smart_control/set", b"OFF", "suspendControl", {"accountNumber": "A-SANDBOX1"}, None),
    (f"{LEGACY_EV}/smart_control/set", b"ON", "resumeControl", {"accountNumber": "A-SANDBOX1"}, _suspended),
    (
        f"{LEGACY_EV}/target_soc/set",
        b"70",
        "setVehicleChargePreferences",
        {"accountNumber": "A-SANDBOX1", "weekdayTargetSoc": 70, "weekendTargetSoc": 70},
        None,
    ),
    (
        f"{LEGACY_EV}/ready_by/set",
        b"08:00",
        "setVehicleChargePreferences",
        {"accountNumber": "A-SANDBOX1", "weekdayTargetTime": "08:00", "weekendTargetTime": "08:00"},
        None,
    ),
    (
        "heat_pump/zone_mode/set",
        b"OFF",
        "setClimateControlState",
        {"accountNumber": "A-SANDBOX1", "enable": False},
        None,
    ),
    (
        "heat_pump/setpoint/set",
        b"21.5",
        "setRoomTemperature",
        {"accountNumber": "A-SANDBOX1", "temperature": "21.5"},
        None,
    ),
    (
        "heat_pump/hot_water_boost/set",
        b"ON",
        "setHotWaterState",
        {"accountNumber": "A-SANDBOX1", "enable": True},
        None,
    ),
    (
        "top_up_amount/set",
        b"2500",
        "updateAutoTopUpAmount",
        {"accountNumber": "A-SANDBOX1", "amount": 2500, "ledgerNumber": "L-SANDBOX1"},
        None,
    ),
]


@pytest.mark.parametrize(("suffix", "payload", "mutation", "expected", "setup"), CONTROLS)
async def test_each_control_sends_the_right_mutation_and_answers(
    rig: Rig,
    suffix: str,
    payload: bytes,
    mutation: str,
    expected: dict[str, Any],
    setup: Callable[[FakeKraken], None] | None,
) -> None:
    daemon, ha, fk = rig
    if setup is not None:
        setup(fk)
    await ha.send(suffix, payload)
    accepted = await ha.result(skip=())
    assert accepted["status"] == "accepted"
    done = await ha.result()
    assert done["status"] == "done", done
    assert done["command_id"] == accepted["command_id"]
    device = suffix.split("/")[0] if suffix.count("/") == 2 else "account"
    assert done["_topic"] == f"{daemon.settings.base_topic}/{device}/result"
    assert fk.mutations == [(mutation, expected)]


async def test_planner_mode_is_stored_locally(rig: Rig) -> None:
    daemon, ha, fk = rig
    await ha.send("relay1/planner_mode/set", b"force_on")
    result = await ha.result(skip=())
    assert (result["status"], result["value"]) == ("done", "force_on")
    assert daemon.overrides.get("relay1") == "force_on"
    assert fk.mutations == []


async def test_a_planner_mode_that_cannot_be_stored_is_refused(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection holds the state file's write lock longer than the (here shortened) busy wait:
    the mode is answered ``refused``, not ``done``, and the planner keeps the stored one."""
    daemon, ha, _ = rig
    monkeypatch.setattr("kraken2mqtt.store.database.BUSY_TIMEOUT_MS", 100)
    other = sqlite3.connect(daemon.queue.database.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        await ha.send("relay1/planner_mode/set", b"off")
        result = await ha.result(skip=())
    finally:
        other.close()
    assert result["status"] == "refused" and result["reason"].startswith("could not be stored")
    assert daemon.overrides.get("relay1") == "auto"


async def test_refresh_button_calls_the_refresh_hook(rig: Rig) -> None:
    daemon, ha, _ = rig
    await ha.send("refresh/set", b"PRESS")
    result = await ha.result(skip=())
    assert result["status"] == "done" and result["_topic"].endswith("/account/result")
    assert daemon.refreshes == [1]


async def test_boost_refusal_carries_the_kraken_reasons(rig: Rig) -> None:
    _, ha, fk = rig
    fk.account.devices[0].suspended = True
    fk.account.devices[0].sim_plugged_in = False
    await ha.send(f"{EV}/boost/set", b"ON")
    result = await ha.result()
    assert result["status"] == "refused"
    assert result["reason"].startswith("KT-CT-4357")
    assert result["reasons"] == ["BC_DEVICE_SUSPENDED", "BC_DEVICE_DISCONNECTED"]
    assert fk.mutations == []


async def test_kraken_validation_error_is_invalid_with_the_kraken_reason(rig: Rig) -> None:
    _, ha, _ = rig
    await ha.send(f"{EV}/ready_by/set", b"12:00")  # demo preferenceSetting: 04:00..11:00
    result = await ha.result()
    assert result["status"] == "invalid"
    assert "KT-CT-4321" in result["reason"] and "11:00" in result["reason"]


async def test_unknown_device_and_unsupported_control_are_invalid(rig: Rig) -> None:
    _, ha, fk = rig
    await ha.send("no-such-device/boost/set", b"ON")
    result = await ha.result(skip=())
    assert result["status"] == "invalid" and "unknown device" in result["reason"]
    await ha.send(f"{INVERTER}/boost/set", b"ON")
    result = await ha.result(skip=())
    assert result["status"] == "invalid" and "no control 'boost'" in result["reason"]
    assert fk.mutations == []


MALFORMED = [
    (f"{EV}/target_soc/set", b"x" * 5000),
    (f"{EV}/target_soc/set", b"\xff\xfe"),
    (f"{EV}/target_soc/set", b"eighty"),
    (f"{EV}/target_soc/set", b"101"),
    (f"{EV}/target_soc/set", b"NaN"),
    (f"{EV}/boost/set", b"[1, 2]"),
    (f"{EV}/boost/set", b"{broken"),
    (f"{EV}/ready_by/set", b"99:99"),
    ("relay1/planner_mode/set", b"turbo"),
    (f"{EV}/warp_drive/set", b"ON"),
    ("top_up_amount/set", b"-5"),
]


async def test_malformed_payloads_get_invalid_results_and_the_loop_survives(rig: Rig) -> None:
    _, ha, fk = rig
    for suffix, payload in MALFORMED:
        await ha.send(suffix, payload)
        result = await ha.result(skip=())
        assert result["status"] == "invalid", (suffix, payload, result)
        assert result["reason"]
    await ha.send(f"{EV}/boost/set", b"ON")
    assert (await ha.result())["status"] == "done"
    assert [m for m, _ in fk.mutations] == ["updateBoostCharge"]


async def _first_retained(ha: HaClient, topic: str) -> str:
    """What a fresh subscriber gets first on ``topic``: its retained payload, else our marker."""
    await ha.subscribe(topic)
    await ha.send(topic.split("/", 1)[1], b"marker-not-retained")
    while True:
        message = await ha.next()
        if message.topic.value == topic:
            assert isinstance(message.payload, bytes)
            return message.payload.decode()


async def test_retained_command_is_not_replayed(
    broker: Broker, fake: FakeKraken, make_client: Callable[..., KrakenClient], tmp_path: Path
) -> None:
    settings = mqtt_settings(broker)
    base = settings.base_topic
    async with HaClient(broker, base) as ha:
        await ha.send(f"{EV}/boost/set", b"ON", retain=True)  # e.g. an HA entity misconfigured with retain
        await ha.subscribe(f"{base}/+/result")
        for _ in range(2):  # two daemon lifetimes: neither replays it
            daemon = build_daemon(settings, make_client(), tmp_path / "c.db")
            await daemon.start()
            await ha.send(f"{EV}/smart_control/set", b"OFF")
            result = await ha.result(skip=())
            assert (result["control"], result["status"]) == ("smart_control", "accepted")
            assert (await ha.result())["status"] == "done"
            await daemon.stop()
        # The retained message was cleared: a new subscriber finds nothing retained there.
        async with HaClient(broker, base) as fresh:
            assert await _first_retained(fresh, f"{base}/{EV}/boost/set") == "marker-not-retained"
    assert [m for m, _ in fake.mutations] == ["updateDeviceSmartControl", "updateDeviceSmartControl"]


async def test_outage_is_retried_with_backoff_and_the_mutation_arrives_once(rig: Rig) -> None:
    daemon, ha, fk = rig
    fk.faults.inject("http_503", times=7)  # token mint and mutation both fail for a while
    await ha.send(f"{EV}/boost/set", b"ON")
    result = await ha.result()
    assert result["status"] == "done"
    statuses = [o.status for _, o in daemon.attempts]
    assert statuses[-1] == "done" and set(statuses[:-1]) == {"retry"} and len(statuses) >= 3
    assert fk.mutations == [("updateBoostCharge", {"deviceId": EV, "action": "BOOST"})]


async def test_pending_command_survives_a_daemon_restart(
    broker: Broker, fake: FakeKraken, make_client: Callable[..., KrakenClient], tmp_path: Path
) -> None:
    settings = mqtt_settings(broker)
    db = tmp_path / "state" / "commands.db"
    # First life: Kraken is down; the runner's next retry is a minute away (real clock) when we "crash".
    first = build_daemon(
        settings, make_client(), db, runner_clock=SystemClock(), retry_base=120.0, retry_cap=300.0
    )
    await first.start()
    fake.faults.inject("http_503", times=3)
    async with HaClient(broker, settings.base_topic) as ha:
        await ha.subscribe(f"{settings.base_topic}/+/result")
        await ha.send(f"{EV}/target_soc/set", b"90")
        assert (await ha.result(skip=()))["status"] == "accepted"
        await asyncio.wait_for(first.attempted.wait(), 5)
        assert [o.status for _, o in first.attempts] == ["retry"]
        await first.stop()
        assert fake.mutations == []
        # Second life on the same database: the command is resumed and applied exactly once.
        second = build_daemon(settings, make_client(), db)
        await second.start()
        result = await ha.result()
        assert result["status"] == "done" and result["control"] == "target_soc"
        await second.stop()
    assert fake.mutations == [
        (
            "setDevicePreferences",
            {"deviceId": EV, "mode": "CHARGE", "unit": "PERCENTAGE", "schedules": week("07:00", 90.0)},
        )
    ]


async def test_superseded_command_is_answered(
    broker: Broker, fake: FakeKraken, make_client: Callable[..., KrakenClient], tmp_path: Path
) -> None:
    settings = mqtt_settings(broker)
    daemon = build_daemon(
        settings,
        make_client(),
        tmp_path / "c.db",
        runner_clock=SystemClock(),
        retry_base=120.0,
        retry_cap=300.0,
    )
    await daemon.start()
    fake.faults.inject("http_503", times=3)
    async with HaClient(broker, settings.base_topic) as ha:
        await ha.subscribe(f"{settings.base_topic}/+/result")
        await ha.send(f"{EV}/target_soc/set", b"60")
        await ha.result(skip=())
        await asyncio.wait_for(daemon.attempted.wait(), 5)  # failed once, waiting for its retry
        await ha.send(f"{EV}/target_soc/set", b"70")
        first, second = [await ha.result(skip=()) for _ in range(2)]
    assert (first["status"], first["reason"], first["value"]) == ("refused", "superseded", 60)
    assert (second["status"], second["value"]) == ("accepted", 70)
    assert json.loads(daemon.queue.pending()[0].command.to_json())["value"] == 70
    await daemon.stop()
