"""The whole daemon: fake Kraken over HTTP, a real broker, a local device, Home Assistant's side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx
import pytest
from pydantic import SecretStr

from kraken2mqtt.clock import ManualClock, SystemClock
from kraken2mqtt.daemon import Daemon, KrakenTarget
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.planner.model import PlanInputs, Tariff
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.settings import Settings, load_settings
from tests.brokers import Broker, free_port

KEY = "sk_test_fake_api_key"


def settings_for(tmp_path: Path, broker: Broker, base: str) -> Settings:
    return load_settings(
        None,
        state_dir=tmp_path / "state",
        mqtt={
            "host": broker.host,
            "port": broker.port,
            "base_topic": base,
            "client_id": base,
            "discovery_prefix": f"{base}-ha",
        },
        metrics={"port": free_port()},
        planner={"reconcile_seconds": 5},
        devices=[
            {
                "id": "ev",
                "kind": "ev",
                "adapter": "openevse",
                "topic": f"{base}-evse",
                "plan": {"capacity_kwh": 60, "max_kw": 7.2},
            },
        ],
    )


@pytest.fixture
async def running(
    tmp_path: Path, broker: Broker, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Daemon, FakeKraken, Settings]]:
    base = f"k2m{abs(hash(request.node.name)) % 100000}"
    settings = settings_for(tmp_path, broker, base)
    with FakeKraken(api_key=KEY) as fake:
        target = KrakenTarget(fake.url, Credentials(api_key=SecretStr(KEY)), "octopus-gb")
        daemon = Daemon(settings, clock=SystemClock(), target=target)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            yield daemon, fake, settings
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def _collect(client: aiomqtt.Client, want: int, within: float = 10) -> dict[str, bytes]:
    seen: dict[str, bytes] = {}
    async with asyncio.timeout(within):
        async for message in client.messages:
            seen[message.topic.value] = bytes(message.payload)
            if len(seen) >= want:
                return seen
    return seen


async def test_discovery_state_command_and_metrics(
    running: tuple[Daemon, FakeKraken, Settings], broker: Broker
) -> None:
    daemon, fake, settings = running
    base, prefix = settings.mqtt.base_topic, settings.mqtt.discovery_prefix
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"{base}-ha") as ha:
        await ha.subscribe(f"{prefix}/device/+/config", qos=1)
        await ha.subscribe(f"{base}/status", qos=1)
        await ha.subscribe(f"{base}/account/state", qos=1)
        # account + EV, inverter, heat pump of the demo + the local EV, plus status and account state
        seen = await _collect(ha, 5 + 2, within=20)
        assert seen[f"{base}/status"] == b"online"
        account = json.loads(seen[f"{prefix}/device/kraken2mqtt_account/config"])
        assert account["cmps"]["import_price"]["unit_of_measurement"] == "GBP/kWh"
        assert json.loads(seen[f"{base}/account/state"])["import_price"] > 0

        # A Home Assistant command becomes the documented mutation, and a result comes back.
        ev = next(d for d in fake.account.devices if "Vehicle" in type(d).__name__ or d.kind == "vehicle")
        key = ev.id.lower()
        await ha.subscribe(f"{base}/{key}/result", qos=1)
        await ha.publish(f"{base}/{key}/smart_control/set", "OFF", qos=1)
        statuses = []
        async with asyncio.timeout(10):
            async for message in ha.messages:
                if message.topic.value == f"{base}/{key}/result":
                    statuses.append(json.loads(bytes(message.payload))["status"])
                    if statuses[-1] in {"done", "refused", "invalid"}:
                        break
        assert statuses == ["accepted", "done"]
        assert ("updateDeviceSmartControl", {"deviceId": ev.id, "action": "SUSPEND"}) in [
            (name, dict(inp)) for name, inp in fake.mutations
        ]

    # The local device got a command through its adapter (OpenEVSE claim), level-triggered.
    assert daemon.driver.last_actions["ev"].kind.value in {"stop", "charge", "follow_kraken"}
    await daemon.reconcile()  # one whole pass: the driver, `status` and the metrics have the same action
    shown = {row["device"]: row["action"] for row in daemon.driver.status()}
    host, port = daemon.metrics.address or ("", 0)
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{host}:{port}/metrics")).text
    assert f'kraken2mqtt_device_action{{action="{shown["ev"]}",device="ev"}} 1.0' in text
    assert daemon.driver.actions_now["ev"].kind.value == shown["ev"]
    assert "kraken2mqtt_mqtt_connected 1.0" in text
    assert 'kraken2mqtt_api_requests_total{operation="ObtainKrakenToken",outcome="ok"}' in text
    assert KEY not in text


async def test_local_device_receives_its_command_over_mqtt(
    running: tuple[Daemon, FakeKraken, Settings], broker: Broker
) -> None:
    daemon, _fake, settings = running
    evse = f"{settings.mqtt.base_topic}-evse"
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"{evse}-sim") as dev:
        await dev.subscribe(f"{evse}/claim/set", qos=1)
        await dev.publish(f"{evse}/vehicle", "1", qos=1)  # the car is plugged in
        daemon._wake.set()
        async with asyncio.timeout(15):
            async for message in dev.messages:
                claim = bytes(message.payload)
                break
    assert claim in {b'{"state":"disabled"}', b"release"} or b'"state":"active"' in claim


async def test_home_assistant_birth_gets_discovery_again(
    running: tuple[Daemon, FakeKraken, Settings], broker: Broker
) -> None:
    _daemon, _fake, settings = running
    base, prefix = settings.mqtt.base_topic, settings.mqtt.discovery_prefix
    config = f"{prefix}/device/kraken2mqtt_account/config"
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"{base}-ha") as ha:
        await ha.subscribe(config, qos=1)
        first = await _collect(ha, 1, within=20)
        assert config in first
        # Home Assistant restarts: it announces itself; the daemon republishes (after a short random delay).
        await ha.publish(f"{prefix}/status", "online", qos=1)
        async with asyncio.timeout(10):
            async for message in ha.messages:
                if message.topic.value == config and not message.retain:
                    break


async def test_every_part_is_supervised_and_a_failing_part_is_restarted(
    tmp_path: Path, broker: Broker
) -> None:
    settings = settings_for(tmp_path, broker, "k2msupervised")
    with FakeKraken(api_key=KEY) as fake:
        target = KrakenTarget(fake.url, Credentials(api_key=SecretStr(KEY)), "octopus-gb")
        daemon = Daemon(settings, clock=SystemClock(), target=target)
        real_run = daemon.poller.run
        calls = 0
        second = asyncio.Event()

        async def buggy(stop: asyncio.Event | None = None) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("a bug")
            second.set()
            await real_run(stop)

        daemon.poller.run = buggy  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await asyncio.wait_for(daemon.mqtt.wait_connected(), 10)
            status = daemon.tasks.status()
            assert {"mqtt", "poller", "commands", "reconcile", "metrics", "ready"} <= set(status)
            await asyncio.wait_for(second.wait(), 10)
            poller = daemon.tasks.status()["poller"]
            assert poller.restarts == 1 and poller.last_error == "RuntimeError: a bug"
            assert daemon.healthy() and daemon.tasks.status()["reconcile"].state == "running"
            # The reconcile loop stops turning: the watchdog stops pinging.
            daemon.last_pass = daemon.clock.monotonic() - 10_000
            assert not daemon.healthy()
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        assert daemon.tasks.status()["poller"].state == "done"


async def test_the_measured_sun_of_the_last_days_feeds_the_plan_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    """No forecast service: the panels' own measured sun is the persistence forecast and the
    grid-charge guard's optimistic sun, kept in the state store across a restart."""
    settings = load_settings(
        None,
        state_dir=tmp_path / "state",
        planner={"timezone": "UTC"},
        forecast={"solar_topic": "house/pv", "solar_unit": "kW"},
    )
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    clock = ManualClock(t0)
    target = KrakenTarget("http://127.0.0.1:9", Credentials(api_key=SecretStr(KEY)), "octopus-gb")
    daemon = Daemon(settings, clock=clock, target=target)
    assert daemon.sun_meter is not None
    for _ in range(2 * 24 * 12):  # two days, a sample every 5 minutes: 3 kW from 10:00 to 14:00
        hour = clock.now().hour
        daemon.sun_meter.sample(b"3" if 10 <= hour < 14 else b"0")
        clock.advance(300)
    now = clock.now() + timedelta(hours=6)  # 06:00 on the third day
    inputs = PlanInputs(now=now, tariff=Tariff(()), devices=())
    planned = daemon._with_forecasts(inputs, now)
    assert sum(s.kwh for s in planned.solar) > 10  # 0.9 x 12 kWh today, and tomorrow's share
    assert max(s.kwh for s in planned.solar_high) > 1.4  # 1.5 kWh per sunny half hour
    await daemon.close()

    again = Daemon(settings, clock=clock, target=target)
    assert again._with_forecasts(inputs, now).solar_high == planned.solar_high
    await again.close()
    off = settings.model_copy(
        update={"forecast": settings.forecast.model_copy(update={"measured_sun_forecast": False})}
    )
    third = Daemon(off, clock=clock, target=target)
    only_guard = third._with_forecasts(inputs, now)
    assert only_guard.solar == () and only_guard.solar_high == planned.solar_high
    await third.close()
