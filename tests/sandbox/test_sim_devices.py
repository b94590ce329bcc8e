"""Simulated local devices answer the commands our real adapters send, and report state the adapters read."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import pytest
from pydantic import TypeAdapter

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.devices.base import Adapter, LocalKind, ReportedState
from kraken2mqtt.devices.config import DeviceList, EbusdConfig, GivTcpConfig, OpenEVSEConfig, TasmotaConfig
from kraken2mqtt.devices.givtcp import GivTcpAdapter
from kraken2mqtt.devices.heat_pump import EbusdAdapter
from kraken2mqtt.devices.openevse import OpenEVSEAdapter
from kraken2mqtt.devices.registry import build_adapter
from kraken2mqtt.devices.relay import TasmotaAdapter
from kraken2mqtt.planner.model import ActionKind, DeviceAction
from kraken2mqtt.sandbox.sim_account import SimAccount
from kraken2mqtt.sandbox.sim_clock import ScaledClock
from kraken2mqtt.sandbox.sim_devices import (
    Out,
    SimEbusd,
    SimEspAltherma,
    SimGivTcp,
    SimMqttDevice,
    SimOpenEVSE,
    SimTasmota,
    device_entries,
    run_devices,
    sandbox_devices,
)
from kraken2mqtt.sandbox.world import SimWorld
from tests.brokers import Broker

EVENING = datetime(2026, 1, 15, 19, 30, tzinfo=UTC)  # the EV is home (seed 1), no dispatch yet


@pytest.fixture
def world() -> SimWorld:
    return SimWorld(SimAccount.demo(EVENING), ManualClock(EVENING), rng_seed=1)


def mode(world: SimWorld) -> str:
    return world.battery.mode  # (read afresh: mypy would narrow the attribute across calls)


def exchange(adapter: Adapter[Any], device: SimMqttDevice, action: DeviceAction | None) -> ReportedState:
    """One reconcile round on the wire: the adapter's commands into the device, its answers back."""
    now = device.world.now
    outs = device.announce() + device.tick(now, full=True)
    if action is not None:
        msgs = adapter.commands(action, adapter.reported, now)
        adapter.record_sent(msgs, now)
        for m in msgs:
            assert isinstance(m.payload, str) and not m.retain
            outs += device.handle(m.topic, m.payload)
    for o in outs + device.tick(now, full=True):
        adapter.on_message(o.topic, o.payload.encode(), now)
    return adapter.reported


def test_openevse_claims_drive_the_ev(world: SimWorld) -> None:
    ev = SimOpenEVSE(world)
    adapter = OpenEVSEAdapter(
        OpenEVSEConfig(id="ev", kind=LocalKind.EV, adapter="openevse", topic=ev.base, announce_id="sim1")
    )
    state = exchange(adapter, ev, None)
    assert state.plugged_in is True and state.online is True and state.charging is False
    assert state.soc_pct == round(world.ev.soc_pct)
    state = exchange(adapter, ev, DeviceAction(ActionKind.CHARGE, power_kw=3.7))
    assert json.loads(state.raw["openevse-sim/claim"]) == {
        "state": "active",
        "charge_current": 16,
        "auto_release": True,
    }
    assert state.charging is True and state.power_kw == pytest.approx(3.68)
    assert state.raw["openevse-sim/amp"] == "16000"
    assert adapter.commands(DeviceAction(ActionKind.CHARGE, power_kw=3.7), state, world.now) == []  # matches
    soc = world.ev.soc_pct
    world.advance(world.now + timedelta(hours=1))
    assert world.ev.soc_pct == pytest.approx(soc + 3.68 * 0.9 / 60 * 100, abs=0.1)
    state = exchange(adapter, ev, DeviceAction(ActionKind.STOP))
    assert state.charging is False and state.raw["openevse-sim/status"] == "disabled"
    assert world.ev.local_limit_kw == 0.0
    state = exchange(adapter, ev, DeviceAction(ActionKind.FOLLOW_KRAKEN))
    assert json.loads(state.raw["openevse-sim/claim"]) == {"state": "null"}
    assert world.ev.local_limit_kw is None


def test_openevse_partial_claims_and_junk(world: SimWorld) -> None:
    ev = SimOpenEVSE(world)
    ev.handle("openevse-sim/claim/set", '{"state":"active","charge_current":10}')
    ev.handle("openevse-sim/claim/set", '{"max_current":6}')
    assert ev.claim_limit_kw() == pytest.approx(6 * 0.23)
    ev.handle("openevse-sim/claim/set", '{"max_current":"clear"}')
    assert ev.claim_limit_kw() == pytest.approx(10 * 0.23)
    assert ev.handle("openevse-sim/claim/set", "not json") == []
    assert ev.handle("openevse-sim/claim/set", "[1]") == []
    assert ev.handle("elsewhere", "release") == []


def test_openevse_shows_kraken_dispatch_charging(world: SimWorld) -> None:
    ev = SimOpenEVSE(world)
    first = world.account.planned_dispatches[0]
    world.advance(first.start + timedelta(minutes=1))
    state = {o.topic: o.payload for o in ev.tick(world.now, full=True)}
    assert state["openevse-sim/power"] == "7000" and state["openevse-sim/state"] == "3"


def test_givtcp_runs_the_battery(world: SimWorld) -> None:
    dev = SimGivTcp(world)
    adapter = GivTcpAdapter(
        GivTcpConfig(id="bat", kind=LocalKind.BATTERY, adapter="givtcp", serial=dev.serial, timer_minutes=30)
    )
    world.battery.soc_pct = 30.0
    state = exchange(adapter, dev, DeviceAction(ActionKind.CHARGE, power_kw=2.5))
    assert mode(world) == "charge" and world.battery.charge_rate_kw == 2.5
    assert state.raw["GivEnergy/SA0000SIM1/Control/Force_Charge"] == "Running"
    world.advance(world.now + timedelta(minutes=10))
    state = exchange(adapter, dev, None)
    assert state.charging is True and state.power_kw == pytest.approx(2.5)
    assert state.soc_pct is not None and state.soc_pct > 30
    world.advance(world.now + timedelta(minutes=25))  # the 30 min run ended: GivTCP reverted to Eco
    state = exchange(adapter, dev, None)
    assert state.raw["GivEnergy/SA0000SIM1/Control/Force_Charge"] == "Normal" and mode(world) == "eco"
    state = exchange(adapter, dev, DeviceAction(ActionKind.HOLD))
    assert (
        mode(world) == "pause" and state.raw["GivEnergy/SA0000SIM1/Control/Temp_Pause_Discharge"] == "Running"
    )
    state = exchange(adapter, dev, DeviceAction(ActionKind.DISCHARGE, power_kw=3.0))
    assert mode(world) == "export" and world.battery.discharge_rate_kw == 3.0
    world.advance(world.now + timedelta(minutes=5))
    state = exchange(adapter, dev, None)
    assert state.power_kw == pytest.approx(-3.0) and state.charging is False
    exchange(adapter, dev, DeviceAction(ActionKind.FOLLOW_KRAKEN))
    assert mode(world) == "eco"
    assert dev.handle("GivEnergy/control/SA0000SIM1/forceCharge", "soon") == []
    assert dev.handle("GivEnergy/control/OTHER/forceCharge", "5") == []


def test_tasmota_switches_the_immersion_with_pulse_time(world: SimWorld) -> None:
    dev = SimTasmota(world)
    adapter = TasmotaAdapter(
        TasmotaConfig(
            id="imm", kind=LocalKind.HOT_WATER, adapter="tasmota", topic=dev.topic, pulse_time_seconds=600
        )
    )
    for m in adapter.startup_messages():  # the POWER query
        for o in dev.handle(m.topic, str(m.payload)):
            adapter.on_message(o.topic, o.payload.encode(), world.now)
    assert adapter.reported.relay_on is False
    state = exchange(adapter, dev, DeviceAction(ActionKind.ON))
    assert state.relay_on is True and state.online is True and world.hot_water.relay_on
    assert dev.pulse_s == 600
    world.advance(world.now + timedelta(minutes=5))
    sensor = json.loads(next(o.payload for o in dev.tick(world.now, full=True) if o.topic.endswith("SENSOR")))
    assert sensor["ENERGY"]["Power"] == 3000
    world.advance(world.now + timedelta(minutes=5))
    outs = dev.tick(world.now)  # the dead-man timer ran out
    assert not world.hot_water.relay_on and ("stat/tasmota_immersion/POWER", "OFF") in [
        (o.topic, o.payload) for o in outs
    ]
    state = exchange(adapter, dev, DeviceAction(ActionKind.OFF))
    assert state.relay_on is False
    dev.handle("cmnd/tasmota_immersion/POWER", "TOGGLE")
    assert world.hot_water.relay_on
    assert dev.handle("cmnd/tasmota_immersion/POWER", "maybe") == []


def test_ebusd_sets_the_heat_pump(world: SimWorld) -> None:
    dev = SimEbusd(world)
    adapter = EbusdAdapter(
        EbusdConfig(
            id="hp",
            kind=LocalKind.HEAT_PUMP,
            adapter="ebusd",
            circuit=dev.circuit,
            setpoint=dev.setpoint,
            temperature_circuit=dev.circuit,
            temperature=dev.temperature,
        )
    )
    for m in adapter.startup_messages():
        for o in dev.handle(m.topic, str(m.payload)):
            adapter.on_message(o.topic, o.payload.encode(), world.now)
    assert adapter.reported.setpoint_c == world.heat_pump.setpoint_c
    assert adapter.reported.temperature_c == round(world.heat_pump.indoor_c, 1)
    state = exchange(adapter, dev, DeviceAction(ActionKind.HEAT, setpoint_c=22.0))
    assert world.heat_pump.setpoint_c == 22.0 and state.setpoint_c == 22.0 and state.online is True
    legacy = world.account.legacy_heat_pump
    assert legacy is not None and legacy.target_climate_c == 22.0  # Kraken sees the new setpoint
    events = world.advance(world.now + timedelta(minutes=1))
    assert world.heat_pump.setpoint_c == 22.0  # not mistaken for a Kraken command
    assert [e.text for e in events if e.kind == "heat_pump"] == ["heat pump setpoint 22.0 °C (ebusd)"]


def test_sandbox_devices_have_distinct_subscriptions(world: SimWorld) -> None:
    devices = sandbox_devices(world)
    subs = [s for d in devices for s in d.subscriptions()]
    assert len(subs) == len(set(subs)) and {d.name for d in devices} == {
        "openevse",
        "givtcp",
        "tasmota",
        "ebusd",
    }


async def test_openevse_over_a_real_broker(broker: Broker, world: SimWorld) -> None:
    """Publish an OpenEVSE claim to the broker; the simulated charger answers with amp/power state."""
    clock = ScaledClock(world.now, 60.0)
    task = asyncio.create_task(
        run_devices(
            [SimOpenEVSE(world)],
            broker.host,
            broker.port,
            clock=clock,
            tick_seconds=30,
            client_id="sim-dev-test",
        )
    )
    try:
        async with aiomqtt.Client(broker.host, broker.port, identifier="sim-dev-tester") as client:
            await client.subscribe("openevse-sim/#")
            got: dict[str, str] = {}

            async def until(pred: Any) -> None:
                async for message in client.messages:
                    got[message.topic.value] = bytes(message.payload).decode()
                    if pred():
                        return

            await asyncio.wait_for(until(lambda: got.get("openevse-sim/vehicle") == "1"), 10)
            await client.publish("openevse-sim/claim/set", '{"state":"active","charge_current":10}', qos=1)
            await asyncio.wait_for(
                until(
                    lambda: (
                        got.get("openevse-sim/status") == "active" and got.get("openevse-sim/power") == "2300"
                    )
                ),
                10,
            )
            assert got["openevse-sim/amp"] == "10000"
            assert json.loads(got["openevse-sim/claim"]) == {"state": "active", "charge_current": 10}
            await client.publish("openevse-sim/claim/set", "release", qos=1)
            await asyncio.wait_for(until(lambda: got.get("openevse-sim/power") == "0"), 10)
            assert json.loads(got["openevse-sim/claim"]) == {"state": "null"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_device_entries_are_valid_settings_and_match_the_topics(world: SimWorld) -> None:
    devices = sandbox_devices(world)
    configs = TypeAdapter(DeviceList).validate_python(device_entries(devices))
    now = world.now
    for dev, cfg in zip(devices, configs, strict=True):
        adapter = build_adapter(cfg)
        for o in dev.announce() + dev.tick(now, full=True):
            adapter.on_message(o.topic, o.payload.encode(), now)
        assert adapter.ignored_count == 0, adapter.last_ignored
        assert adapter.reported.updated_at == now, dev.name


# -- the simulated devices behave like the firmware (issue 12) --------------------------------------------
def _giv(sim: SimGivTcp, command: str, value: str) -> None:
    sim.handle(f"GivEnergy/control/{sim.serial}/{command}", value)


def test_sim_givtcp_rate_sent_before_force_charge_is_lost_and_written_for_good(world: SimWorld) -> None:
    # britkat1980/giv_tcp write.py 555, 1145, 1170: the bug the adapter must not trigger
    sim = SimGivTcp(world)
    person = sim.charge_rate_w
    _giv(sim, "setChargeRate", "1500")
    _giv(sim, "forceCharge", "30")
    assert sim.charge_rate_w == round(world.battery.max_charge_kw * 1000)  # our rate overwritten
    world.advance(world.now + timedelta(minutes=31))
    sim.tick(world.now)
    assert sim.charge_rate_w == 1500 != person  # the revert wrote our rate: the person's is gone


def test_sim_givtcp_second_pause_leaves_discharge_at_zero(world: SimWorld) -> None:
    sim = SimGivTcp(world)
    _giv(sim, "tempPauseDischarge", "30")
    world.advance(world.now + timedelta(minutes=1))
    sim.tick(world.now)  # a register read refreshes the cache: 0 W
    _giv(sim, "tempPauseDischarge", "30")  # no "already running" guard in GivTCP
    world.advance(world.now + timedelta(minutes=61))
    sim.tick(world.now)
    assert sim.discharge_rate_w == 0


def test_givtcp_adapter_keeps_the_persons_rates_on_the_sim(world: SimWorld) -> None:
    sim = SimGivTcp(world)
    person_charge, person_discharge = sim.charge_rate_w, sim.discharge_rate_w
    adapter = GivTcpAdapter(
        GivTcpConfig(id="bat", kind=LocalKind.BATTERY, adapter="givtcp", serial=sim.serial, timer_minutes=30)
    )
    start = world.now
    for minute in range(0, 240, 1):
        now = start + timedelta(minutes=minute)
        world.advance(now)
        action = (
            DeviceAction(ActionKind.CHARGE, 1.5)
            if minute < 70
            else DeviceAction(ActionKind.HOLD)
            if minute < 200
            else DeviceAction(ActionKind.FOLLOW_KRAKEN)
        )
        msgs = adapter.commands(action, adapter.reported, now)
        if action.kind is ActionKind.FOLLOW_KRAKEN:
            msgs = adapter.release(adapter.reported, now) if minute == 200 else []
        adapter.record_sent(msgs, now)
        outs = [o for m in msgs for o in sim.handle(m.topic, str(m.payload))] + sim.tick(now)
        for o in outs:
            adapter.on_message(o.topic, o.payload.encode(), now)
    world.advance(start + timedelta(hours=5))
    sim.tick(world.now)
    assert (sim.charge_rate_w, sim.discharge_rate_w) == (person_charge, person_discharge)


def test_sim_espaltherma_reconnect_publishes_a_fake_zero(world: SimWorld) -> None:
    sim = SimEspAltherma(world)
    assert sim.handle("espaltherma/sg/set", "1") == [Out("espaltherma/sg/state", "1")]
    assert world.heat_pump.enabled is False
    assert Out("espaltherma/sg/state", "0") in sim.announce()  # a reconnect: relays untouched
    assert sim.relays == 1 and world.heat_pump.enabled is False
    sim.boot()  # a reboot: relays inactive, not saved
    assert sim.relays == 0 and world.heat_pump.enabled is True


def test_sim_openevse_claims_are_ram_only_and_auto_released(world: SimWorld) -> None:
    ev = SimOpenEVSE(world)
    ev.handle("openevse-sim/claim/set", '{"state":"disabled","auto_release":true}')
    assert world.ev.local_limit_kw == 0.0
    ev.reboot()
    assert ev.claim == {} and world.ev.local_limit_kw is None
    ev.handle("openevse-sim/claim/set", '{"state":"disabled","auto_release":true}')
    world.ev.plugged_in = False  # the session ends
    ev.tick(world.now)
    assert ev.claim == {} and world.ev.local_limit_kw is None


def test_givtcp_publishes_the_panels_and_the_houses_own_use() -> None:
    # GivTCP's PV_Power and Load_Power (device-mqtt-apis.md §4): Load_Power is the house's use, the panels
    # included, the battery not.
    noon = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    world = SimWorld(SimAccount.demo(noon), ManualClock(noon), rng_seed=1)
    dev = SimGivTcp(world)
    world.advance(noon + timedelta(minutes=5))
    state = {o.topic: o.payload for o in dev.tick(world.now, full=True)}
    pv, load = int(state[dev.pv_topic]), int(state["GivEnergy/SA0000SIM1/Power/Power/Load_Power"])
    grid, battery = (
        int(state[f"GivEnergy/SA0000SIM1/Power/Power/{k}"]) for k in ("Grid_Power", "Battery_Power")
    )
    assert dev.pv_topic == "GivEnergy/SA0000SIM1/Power/Power/PV_Power"
    assert pv == round(world.solar_kw * 1000) and pv > 500  # a June noon under the simulated sky
    assert (
        load > 0 and abs(load - (-grid + pv + battery)) <= 2
    )  # import + sun + discharge = what the house uses
