from __future__ import annotations

import json
from typing import Any

import pytest

from kraken2mqtt.devices.base import Adapter, UnsupportedAction
from tests.devices.helpers import T0, act, at, feed, make, send, wire


def _tas(**kw: Any) -> Adapter[Any]:
    return make(id="imm", kind="hot_water", adapter="tasmota", topic="tasmota_1A2B3C", **kw)


def _shelly(**kw: Any) -> Adapter[Any]:
    return make(id="imm", kind="relay", adapter="shelly", topic="shellyplus1pm-a8032ab12345", **kw)


ON = [("cmnd/tasmota_1A2B3C/POWER", "ON")]
OFF = [("cmnd/tasmota_1A2B3C/POWER", "OFF")]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("on", ON),
        ("heat", ON),
        ("hot_water_boost", ON),
        ("charge", ON),
        ("off", OFF),
        ("stop", OFF),
        ("hold", OFF),
        ("hot_water_off", OFF),
        ("follow_kraken", OFF),
    ],
)
def test_tasmota_commands(kind: str, expected: list[tuple[str, str]]) -> None:
    assert send(_tas(), act(kind, 3.0)) == expected


def test_tasmota_never_retained() -> None:
    assert all(not m.retain for m in _tas().commands(act("on"), None, T0))


def test_tasmota_relay_index_and_leave() -> None:
    a = _tas(relay=2, release="leave")
    assert send(a, act("on")) == [("cmnd/tasmota_1A2B3C/POWER2", "ON")]
    assert send(a, act("follow_kraken")) == []


@pytest.mark.parametrize("kind", ["discharge", "request_boost"])
def test_tasmota_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedAction):
        _tas().commands(act(kind), None, T0)


def test_tasmota_write_on_change_only() -> None:
    a = _tas()
    send(a, act("on"))
    assert send(a, act("on"), at(100_000)) == []  # unknown state: never repeated (flash)
    feed(a, "stat/tasmota_1A2B3C/RESULT", '{"POWER":"OFF"}', at(100_001))  # someone switched it off
    assert send(a, act("on"), at(100_002)) == ON
    feed(a, "stat/tasmota_1A2B3C/POWER", "ON")
    assert send(a, act("on"), at(200_000)) == []


def test_tasmota_already_in_state() -> None:
    a = _tas()
    feed(a, "tele/tasmota_1A2B3C/STATE", '{"Time":"x","POWER":"OFF","Wifi":{}}')
    assert send(a, act("hot_water_off")) == []


def test_tasmota_pulse_time_dead_man() -> None:
    a = _tas(pulse_time_seconds=600)
    assert send(a, act("on")) == [("cmnd/tasmota_1A2B3C/PulseTime1", "700"), *ON]
    feed(a, "stat/tasmota_1A2B3C/POWER", "ON")
    assert send(a, act("on"), at(299)) == []
    assert send(a, act("on"), at(300)) == ON  # restarts the pulse timer; PulseTime not re-set
    assert send(a, act("off"), at(301)) == OFF


def test_tasmota_startup_query() -> None:
    assert wire(_tas().startup_messages()) == [("cmnd/tasmota_1A2B3C/POWER", "")]


def test_tasmota_read_back() -> None:
    a = _tas()
    feed(a, "tele/tasmota_1A2B3C/LWT", "Online")
    feed(a, "stat/tasmota_1A2B3C/POWER1", "ON")
    feed(a, "tele/tasmota_1A2B3C/SENSOR", '{"ENERGY":{"Power":2950,"Total":1.5}}')
    s = a.reported
    assert (s.online, s.relay_on, s.power_kw) == (True, True, 2.95)
    feed(a, "stat/tasmota_1A2B3C/RESULT", '{"PulseTime1":{"Set":700}}')
    assert a.reported.relay_on is True


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("stat/tasmota_1A2B3C/POWER", "MAYBE"),
        ("stat/tasmota_1A2B3C/RESULT", '{"POWER":1}'),
        ("tele/tasmota_1A2B3C/LWT", "Sleeping"),
        ("tele/tasmota_1A2B3C/SENSOR", '{"ENERGY":{"Power":"lots"}}'),
    ],
)
def test_tasmota_bad_state(topic: str, payload: str) -> None:
    a = _tas()
    feed(a, topic, payload)
    assert a.last_ignored is not None
    assert a.reported.relay_on is None


SH = "shellyplus1pm-a8032ab12345"


def _rpc(on: bool, **extra: Any) -> tuple[str, str]:
    params = {"id": 0, "on": on, **extra}
    frame = {"id": 1, "src": "kraken2mqtt", "method": "Switch.Set", "params": params}
    return (f"{SH}/rpc", json.dumps(frame, separators=(",", ":")))


@pytest.mark.parametrize(
    ("kind", "on"),
    [("on", True), ("hot_water_boost", True), ("off", False), ("hold", False), ("stop", False)],
)
def test_shelly_commands(kind: str, on: bool) -> None:
    assert send(_shelly(), act(kind)) == [_rpc(on)]


def test_shelly_toggle_after_dead_man() -> None:
    a = _shelly(toggle_after_seconds=900)
    assert send(a, act("on")) == [_rpc(True, toggle_after=900)]
    assert send(a, act("on"), at(449)) == []
    assert send(a, act("on"), at(450)) == [_rpc(True, toggle_after=900)]
    assert send(a, act("off"), at(451)) == [_rpc(False)]  # no auto-revert to on


def test_shelly_switch_id_and_src() -> None:
    a = _shelly(switch_id=1, src="hems")
    (_topic, payload) = send(a, act("on"))[0]
    assert json.loads(payload) == {
        "id": 1,
        "src": "hems",
        "method": "Switch.Set",
        "params": {"id": 1, "on": True},
    }


def test_shelly_read_back_and_matching() -> None:
    a = _shelly()
    feed(a, f"{SH}/status/switch:0", '{"id":0,"source":"init","output":true,"apower":2980.5}')
    assert (a.reported.relay_on, a.reported.power_kw) == (True, 2.9805)
    assert send(a, act("on")) == []
    notify = {
        "src": SH,
        "method": "NotifyStatus",
        "params": {"ts": 1.0, "switch:0": {"id": 0, "output": False}},
    }
    feed(a, f"{SH}/events/rpc", json.dumps(notify))
    assert a.reported.relay_on is False
    feed(a, f"{SH}/events/rpc", '{"method":"NotifyEvent","params":{"events":[]}}')
    feed(a, "kraken2mqtt/rpc", '{"id":1,"result":{"was_on":false}}')
    assert a.last_ignored is None


@pytest.mark.parametrize("payload", ['{"output":"yes"}', "[]", '{"apower":null}'])
def test_shelly_bad_status(payload: str) -> None:
    a = _shelly()
    feed(a, f"{SH}/status/switch:0", payload)
    assert a.last_ignored is not None


def test_shelly_rpc_error_frame_is_a_device_error() -> None:
    # Shelly gen2 RPCProtocol: an error reply {"id":…,"src":…,"error":{"code":…,"message":…}} on <src>/rpc
    a = _shelly()
    feed(
        a,
        "kraken2mqtt/rpc",
        '{"id":1,"src":"shellyplus1pm-a8032ab12345","error":{"code":-103,"message":"Invalid argument"}}',
    )
    assert a.error == "RPC error -103: Invalid argument"


def test_relay_release_only_if_we_had_it_on_and_pulse_time_written_once() -> None:
    a = make(id="imm", kind="hot_water", adapter="tasmota", topic="t1", pulse_time_seconds=1800)
    feed(a, "stat/t1/POWER", "OFF")
    assert a.release(a.reported, T0) == []
    feed(a, "stat/t1/POWER", "ON")
    assert [(m.topic, m.payload) for m in a.release(a.reported, T0)] == [("cmnd/t1/POWER", "OFF")]
    feed(a, "stat/t1/RESULT", '{"PulseTime1":{"Set":1900,"Remaining":0}}')
    msgs = a.commands(act("on"), None, T0)
    assert [m.topic for m in msgs] == ["cmnd/t1/POWER"]  # PulseTime already set: a setting, not rewritten
