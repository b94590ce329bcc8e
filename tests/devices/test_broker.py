"""Integration: each adapter's commands cross a real broker exactly as documented, and device state
published on the broker is read back through ``on_message``.

No sleeps: each exchange ends with a sentinel message, so "nothing else arrived" is known when it does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiomqtt
import pytest

from kraken2mqtt.devices.base import Adapter, Message, ReportedState
from tests.brokers import Broker
from tests.devices.helpers import T0, act, make

TIMEOUT = 5.0


@asynccontextmanager
async def _client(broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        hostname=broker.host, port=broker.port, identifier=f"k2m-test-{uuid.uuid4().hex[:8]}", timeout=TIMEOUT
    ) as client:
        yield client


async def _until(client: aiomqtt.Client, sentinel: str) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []
    async with asyncio.timeout(TIMEOUT):
        async for message in client.messages:
            if message.topic.value == sentinel:
                return got
            got.append(message)
    raise AssertionError("unreachable")


def _text(payload: Any) -> str:
    return payload.decode() if isinstance(payload, bytes | bytearray) else str(payload)


async def _exchange(broker: Broker, filters: list[str], msgs: list[Message]) -> list[tuple[str, str, int]]:
    """Publish ``msgs`` (from a "daemon" client); what a subscriber on ``filters`` receives."""
    sentinel = f"k2m-test/sentinel/{uuid.uuid4().hex}"
    async with _client(broker) as sub, _client(broker) as pub:
        for f in [*filters, sentinel]:
            await sub.subscribe(f, qos=2)
        for m in msgs:
            await pub.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)
        await pub.publish(sentinel, b"", qos=1)
        received = await _until(sub, sentinel)
    return [(m.topic.value, _text(m.payload), m.qos) for m in received]


# adapter config (with {u} = a unique id), then for each action (kind, kW, setpoint): the expected messages
CASES: dict[
    str, tuple[dict[str, Any], list[tuple[tuple[str, float, float | None], list[tuple[str, str]]]]]
] = {
    "openevse": (
        {"kind": "ev", "adapter": "openevse", "topic": "openevse-{u}", "auto_release": None},
        [
            (("charge", 3.68, None), [("openevse-{u}/claim/set", '{"state":"active","charge_current":16}')]),
            (("stop", 0, None), [("openevse-{u}/claim/set", '{"state":"disabled"}')]),
            (("hold", 0, None), [("openevse-{u}/claim/set", '{"state":"disabled"}')]),
            (("follow_kraken", 0, None), [("openevse-{u}/claim/set", "release")]),
        ],
    ),
    "goe": (
        {"kind": "ev", "adapter": "goe", "serial": "{u}"},
        [
            (
                ("charge", 2.3, None),
                [("go-eCharger/{u}/tcl/set", "10"), ("go-eCharger/{u}/frc/set", "2")],
            ),
            (("stop", 0, None), [("go-eCharger/{u}/frc/set", "1")]),
            (("hold", 0, None), [("go-eCharger/{u}/frc/set", "1")]),
            (("follow_kraken", 0, None), [("go-eCharger/{u}/frc/set", "0")]),
        ],
    ),
    "evcc-loadpoint": (
        {"kind": "ev", "adapter": "evcc", "topic": "evcc-{u}", "loadpoint": 1},
        [
            (("charge", 7.0, None), [("evcc-{u}/loadpoints/1/mode/set", "now")]),
            (("stop", 0, None), [("evcc-{u}/loadpoints/1/mode/set", "off")]),
            (("hold", 0, None), [("evcc-{u}/loadpoints/1/mode/set", "off")]),
            (("follow_kraken", 0, None), [("evcc-{u}/loadpoints/1/mode/set", "pv")]),
        ],
    ),
    "evcc-battery": (
        {"kind": "battery", "adapter": "evcc", "topic": "evcc-{u}"},
        [
            (("charge", 3.0, None), [("evcc-{u}/site/batteryMode/set", "charge")]),
            (("discharge", 3.0, None), [("evcc-{u}/site/batteryMode/set", "normal")]),
            (("hold", 0, None), [("evcc-{u}/site/batteryMode/set", "hold")]),
            (("stop", 0, None), [("evcc-{u}/site/batteryMode/set", "hold")]),
            (("follow_kraken", 0, None), [("evcc-{u}/site/batteryMode/set", "null")]),
        ],
    ),
    "givtcp": (
        {"kind": "battery", "adapter": "givtcp", "serial": "SN{u}"},
        [
            (
                ("charge", 2.6, None),
                [
                    ("GivEnergy/control/SN{u}/forceCharge", "60"),
                    ("GivEnergy/control/SN{u}/setChargeRate", "2600"),
                ],
            ),
            (
                ("discharge", 3.0, None),
                [
                    ("GivEnergy/control/SN{u}/forceExport", "60"),
                    ("GivEnergy/control/SN{u}/setDischargeRate", "3000"),
                ],
            ),
            (("hold", 0, None), [("GivEnergy/control/SN{u}/tempPauseDischarge", "60")]),
            (("stop", 0, None), [("GivEnergy/control/SN{u}/tempPauseDischarge", "60")]),
        ],
    ),
    "tasmota": (
        {"kind": "hot_water", "adapter": "tasmota", "topic": "tasmota_{u}"},
        [
            (("hot_water_boost", 3.0, None), [("cmnd/tasmota_{u}/POWER", "ON")]),
            (("heat", 3.0, None), [("cmnd/tasmota_{u}/POWER", "ON")]),
            (("hot_water_off", 0, None), [("cmnd/tasmota_{u}/POWER", "OFF")]),
            (("stop", 0, None), [("cmnd/tasmota_{u}/POWER", "OFF")]),
            (("hold", 0, None), [("cmnd/tasmota_{u}/POWER", "OFF")]),
        ],
    ),
    "shelly": (
        {"kind": "relay", "adapter": "shelly", "topic": "shellyplus1-{u}", "toggle_after_seconds": 900},
        [
            (
                ("on", 1.0, None),
                [
                    (
                        "shellyplus1-{u}/rpc",
                        '{"id":1,"src":"kraken2mqtt","method":"Switch.Set","params":{"id":0,"on":true,"toggle_after":900}}',
                    )
                ],
            ),
            (
                ("stop", 0, None),
                [
                    (
                        "shellyplus1-{u}/rpc",
                        '{"id":1,"src":"kraken2mqtt","method":"Switch.Set","params":{"id":0,"on":false}}',
                    )
                ],
            ),
        ],
    ),
    "ebusd": (
        {
            "kind": "heat_pump",
            "adapter": "ebusd",
            "topic": "ebusd-{u}",
            "circuit": "700",
            "setpoint": "z1DayTemp",
            "off_c": 15,
        },
        [
            (("heat", 2.0, 21.5), [("ebusd-{u}/700/z1DayTemp/set", "21.5")]),
            (("hold", 0, 19.0), [("ebusd-{u}/700/z1DayTemp/set", "19")]),
            (("stop", 0, None), [("ebusd-{u}/700/z1DayTemp/set", "15")]),
        ],
    ),
    "espaltherma": (
        {"kind": "heat_pump", "adapter": "espaltherma", "topic": "espaltherma-{u}"},
        [
            (("heat", 2.0, 21.0), [("espaltherma-{u}/sg/set", "2")]),
            (("hold", 0, 19.0), [("espaltherma-{u}/sg/set", "0")]),
            (("stop", 0, None), [("espaltherma-{u}/sg/set", "0")]),
        ],
    ),
    "template": (
        {
            "kind": "ev",
            "adapter": "template",
            "commands": {
                "charge": [
                    {"topic": "wb-{{device_id}}/{u}/set", "payload": '{{{{"a":{{amps}},"w":{{power_w}}}}}}'}
                ],
                "stop": [{"topic": "wb-{{device_id}}/{u}/set", "payload": "off"}],
            },
        },
        [
            (("charge", 3.68, None), [("wb-dev/{u}/set", '{"a":16,"w":3680}')]),
            (("stop", 0, None), [("wb-dev/{u}/set", "off")]),
        ],
    ),
}


def _fill(value: Any, u: str) -> Any:
    if isinstance(value, str):
        return value.format(u=u)
    if isinstance(value, dict):
        return {k: _fill(v, u) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, u) for v in value]
    return value


@pytest.mark.parametrize("case", sorted(CASES))
async def test_commands_cross_the_broker_as_documented(broker: Broker, case: str) -> None:
    u = uuid.uuid4().hex[:10]
    cfg, steps = CASES[case]
    config = {"id": "dev", **_fill(cfg, u)}
    for (kind, kw, setpoint), expected in steps:
        adapter = make(**config)  # a fresh adapter: what this action sends from an unknown device state
        msgs = adapter.commands(act(kind, kw, setpoint), None, T0)
        want = [(t.format(u=u), p) for t, p in expected]
        topics = sorted({t for t, _ in want})
        received = await _exchange(broker, topics, msgs)
        assert [(t, p) for t, p, _ in received] == want, f"{case} {kind}"
        assert all(q == 1 for _, _, q in received)
        assert all(not m.retain for m in msgs)


async def test_commands_are_not_left_retained(broker: Broker) -> None:
    u = uuid.uuid4().hex[:10]
    a = make(id="imm", kind="relay", adapter="tasmota", topic=f"tas_{u}")
    await _exchange(broker, [f"cmnd/tas_{u}/POWER"], a.commands(act("on"), None, T0))
    # A new subscriber would get a retained command at once, before the sentinel.
    assert await _exchange(broker, [f"cmnd/tas_{u}/POWER"], []) == []


async def _read_back(broker: Broker, adapter: Adapter[Any], device: list[Message]) -> ReportedState:
    """The device publishes its state (some retained, before we subscribe); feed what arrives."""
    sentinel = f"k2m-test/sentinel/{uuid.uuid4().hex}"
    async with _client(broker) as dev:
        for m in device:
            if m.retain:
                await dev.publish(m.topic, m.payload, qos=1, retain=True)
        async with _client(broker) as daemon:
            for f in [*adapter.subscriptions(), sentinel]:
                await daemon.subscribe(f, qos=1)
            for m in device:
                if not m.retain:
                    await dev.publish(m.topic, m.payload, qos=1)
            await dev.publish(sentinel, b"", qos=1)
            for message in await _until(daemon, sentinel):
                payload = (
                    message.payload if isinstance(message.payload, bytes) else _text(message.payload).encode()
                )
                adapter.on_message(message.topic.value, payload, T0)
        for m in device:  # leave the broker clean
            if m.retain:
                await dev.publish(m.topic, b"", qos=1, retain=True)
    return adapter.reported


async def test_read_back_openevse(broker: Broker) -> None:
    u = uuid.uuid4().hex[:8]
    b = f"openevse-{u}"
    a = make(id="ev", kind="ev", adapter="openevse", topic=b, auto_release=None)
    s = await _read_back(
        broker,
        a,
        [
            Message(f"{b}/claim", '{"state":"active","charge_current":16}', retain=True),
            Message(f"{b}/vehicle", "1"),
            Message(f"{b}/amp", "15870"),
            Message(f"{b}/power", "3650"),
            Message(f"{b}/unrelated", "x"),
        ],
    )
    assert (s.plugged_in, s.charging, s.power_kw) == (True, True, 3.65)
    assert a.commands(act("charge", 3.68), None, T0) == []  # the retained claim echo already matches


async def test_read_back_goe_and_givtcp(broker: Broker) -> None:
    u = uuid.uuid4().hex[:8]
    goe = make(id="ev", kind="ev", adapter="goe", serial=u)
    s = await _read_back(
        broker,
        goe,
        [
            Message(f"go-eCharger/{u}/car", "3", retain=True),
            Message(f"go-eCharger/{u}/frc", "1", retain=True),
            Message(f"go-eCharger/{u}/nrg", "[230,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", retain=True),
        ],
    )
    assert (s.plugged_in, s.charging, s.power_kw) == (True, False, 0.0)
    assert goe.commands(act("stop"), None, T0) == []

    giv = make(id="bat", kind="battery", adapter="givtcp", serial=f"SN{u}")
    s = await _read_back(
        broker,
        giv,
        [
            Message(f"GivEnergy/SN{u}/Power/Power/SOC", "63"),
            Message(f"GivEnergy/SN{u}/Power/Power/Battery_Power", "-1800"),
            Message(f"GivEnergy/SN{u}/Control/Force_Charge", "Running"),
            Message(f"GivEnergy/SN{u}/Power/Power/SOC", b"\xff\xfe"),  # garbage: ignored, SoC kept
        ],
    )
    assert (s.soc_pct, s.power_kw, s.charging) == (63.0, 1.8, True)
    assert giv.last_ignored is not None
    assert [m.topic for m in giv.commands(act("follow_kraken"), None, T0)] == [
        f"GivEnergy/control/SN{u}/forceCharge"
    ]


async def test_read_back_relays_evcc_ebusd_template(broker: Broker) -> None:
    u = uuid.uuid4().hex[:8]
    tas = make(id="r", kind="relay", adapter="tasmota", topic=f"tas_{u}")
    s = await _read_back(
        broker,
        tas,
        [
            Message(f"tele/tas_{u}/LWT", "Online", retain=True),
            Message(f"stat/tas_{u}/RESULT", '{"POWER":"ON"}'),
        ],
    )
    assert (s.online, s.relay_on) == (True, True)

    sh = make(id="s", kind="relay", adapter="shelly", topic=f"shelly-{u}")
    s = await _read_back(
        broker,
        sh,
        [Message(f"shelly-{u}/status/switch:0", '{"id":0,"output":false,"apower":0}', retain=True)],
    )
    assert (s.relay_on, s.power_kw) == (False, 0.0)

    ev = make(id="e", kind="ev", adapter="evcc", topic=f"evcc-{u}", loadpoint=2)
    s = await _read_back(
        broker,
        ev,
        [
            Message(f"evcc-{u}/loadpoints/2/connected", "true", retain=True),
            Message(f"evcc-{u}/loadpoints/2/vehicleSoc", "72", retain=True),
            Message(f"evcc-{u}/loadpoints/2/mode", "off", retain=True),
            Message(f"evcc-{u}/loadpoints/1/vehicleSoc", "11", retain=True),  # another loadpoint
        ],
    )
    assert (s.plugged_in, s.soc_pct) == (True, 72.0)
    assert ev.commands(act("stop"), None, T0) == []

    hp = make(
        id="h", kind="heat_pump", adapter="ebusd", topic=f"ebusd-{u}", circuit="700", setpoint="z1DayTemp"
    )
    s = await _read_back(broker, hp, [Message(f"ebusd-{u}/700/z1DayTemp", "20.5")])
    assert s.setpoint_c == 20.5

    tp = make(
        id="t",
        kind="generic",
        adapter="template",
        commands={"on": [{"topic": "x/on"}]},
        state=[{"topic": f"dev-{u}/+/state", "field": "temperature_c", "json_path": "t"}],
    )
    s = await _read_back(broker, tp, [Message(f"dev-{u}/a/state", '{"t": 48.5}')])
    assert s.temperature_c == 48.5
    assert replace(s, raw={}).temperature_c == 48.5
