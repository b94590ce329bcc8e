from __future__ import annotations

from typing import Any

import pytest

from kraken2mqtt.devices.base import Adapter, CommandError, UnsupportedAction
from tests.devices.helpers import T0, act, at, feed, make, send, wire

SET = "ebusd/700/z1DayTemp/set"


def _hp(**kw: Any) -> Adapter[Any]:
    base: dict[str, Any] = {
        "id": "hp",
        "kind": "heat_pump",
        "adapter": "ebusd",
        "circuit": "700",
        "setpoint": "z1DayTemp",
    }
    return make(**(base | kw))


@pytest.mark.parametrize(
    ("kind", "setpoint", "payload"),
    [
        ("heat", 21.3, "21.5"),
        ("heat", 21.2, "21"),
        ("on", 40.0, "30"),  # clamped to max_c
        ("hold", 19.0, "19"),
        ("hold", None, "20"),  # default_c
        ("stop", None, "16"),  # off_c
        ("off", None, "16"),
        ("follow_kraken", None, "20"),
        ("heat", None, "23"),  # boost_c
    ],
)
def test_setpoints(kind: str, setpoint: float | None, payload: str) -> None:
    a = _hp(default_c=20, off_c=16, boost_c=23)
    assert send(a, act(kind, 2.0, setpoint)) == [(SET, payload)]


def test_hot_water() -> None:
    a = _hp(kind="hot_water", setpoint="HwcTempDesired", max_c=60, boost_c=55, off_c=40)
    assert send(a, act("hot_water_boost")) == [("ebusd/700/HwcTempDesired/set", "55")]
    assert send(a, act("hot_water_off"), at(1)) == [("ebusd/700/HwcTempDesired/set", "40")]


def test_nothing_to_do_without_defaults() -> None:
    assert send(_hp(), act("follow_kraken")) == []
    assert send(_hp(), act("hold")) == []


@pytest.mark.parametrize("kind", ["stop", "hot_water_boost"])
def test_missing_setpoint_config(kind: str) -> None:
    with pytest.raises(CommandError, match="needs"):
        _hp().commands(act(kind), None, T0)


def test_heat_without_setpoint_or_boost() -> None:
    with pytest.raises(CommandError, match="boost_c"):
        _hp().commands(act("heat"), None, T0)


@pytest.mark.parametrize("kind", ["charge", "discharge", "request_boost"])
def test_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedAction):
        _hp().commands(act(kind), None, T0)


def test_write_on_change_only_and_matching() -> None:
    a = _hp()
    send(a, act("heat", 2.0, 21.0))
    assert send(a, act("heat", 2.0, 21.1), at(100_000)) == []  # same after rounding, never repeated
    feed(a, "ebusd/700/z1DayTemp", "20.5;ok")
    assert a.reported.setpoint_c == 20.5
    assert send(a, act("heat", 2.0, 21.0), at(100_001)) == [(SET, "21")]  # reported mismatch: retry
    feed(a, "ebusd/700/z1DayTemp", "21.0")
    assert send(a, act("heat", 2.0, 21.0), at(200_000)) == []


def test_read_back_and_startup() -> None:
    a = _hp(temperature_circuit="700", temperature="DisplayedRoomTemp")
    assert wire(a.startup_messages()) == [
        ("ebusd/700/z1DayTemp/get", ""),
        ("ebusd/700/DisplayedRoomTemp/get", ""),
    ]
    feed(a, "ebusd/700/DisplayedRoomTemp", '{"tempv":{"value":19.75}}')
    feed(a, "ebusd/global/running", "true")
    assert (a.reported.temperature_c, a.reported.online) == (19.75, True)


@pytest.mark.parametrize("payload", ["-", '{"x":{"value":"on"}}', "abc;1"])
def test_bad_values(payload: str) -> None:
    a = _hp()
    feed(a, "ebusd/700/z1DayTemp", payload)
    assert a.last_ignored is not None
    assert a.reported.setpoint_c is None


def _daikin(**kw: Any) -> Adapter[Any]:
    return make(**({"id": "hp", "kind": "heat_pump", "adapter": "espaltherma"} | kw))


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("heat", "2"),
        ("on", "2"),
        ("hot_water_boost", "2"),
        ("hold", "0"),
        ("follow_kraken", "0"),
        ("stop", "0"),
        ("off", "0"),
        ("hot_water_off", "0"),
    ],
)
def test_espaltherma_smart_grid(kind: str, mode: str) -> None:
    assert send(_daikin(), act(kind, 2.0, 21.0)) == [("espaltherma/sg/set", mode)]


def test_espaltherma_modes_configurable() -> None:
    a = _daikin(run_mode=3, off_mode=1, topic="daikin")
    assert send(a, act("heat")) == [("daikin/sg/set", "3")]
    assert send(a, act("stop"), at(1)) == [("daikin/sg/set", "1")]


@pytest.mark.parametrize("kind", ["charge", "discharge", "request_boost"])
def test_espaltherma_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedAction):
        _daikin().commands(act(kind), None, T0)


def test_espaltherma_matching_and_read_back() -> None:
    a = _daikin()
    feed(a, "espaltherma/LWT", "Online")
    feed(a, "espaltherma/sg/state", "2")  # not believed: right after a (re)connect
    assert a.reported.online is True and a.reported.relay_on is None
    assert send(a, act("heat")) == [("espaltherma/sg/set", "2")]
    feed(a, "espaltherma/sg/state", "2")
    assert a.reported.relay_on is True
    assert send(a, act("heat"), at(1)) == []
    assert send(a, act("hold")) == [("espaltherma/sg/set", "0")]
    assert send(a, act("hold"), at(100_000)) == [("espaltherma/sg/set", "0")]  # still reports 2: retried
    feed(a, "espaltherma/sg/state", "0")
    assert send(a, act("hold"), at(200_000)) == []
    feed(a, "espaltherma/sg/state", "9")
    assert a.last_ignored is not None


def test_espaltherma_reconnect_zero_is_not_believed() -> None:
    # raomin/ESPAltherma include/mqtt.h 108-113: on every MQTT (re)connect it publishes sg/state 0 without
    # touching its relays, so a heat pump left forced on must still be switched back.
    a = _daikin()
    feed(a, "espaltherma/LWT", "Online")
    send(a, act("heat"))
    feed(a, "espaltherma/sg/state", "2")
    feed(a, "espaltherma/LWT", "Online", at(60))  # ESPAltherma reconnected ...
    feed(a, "espaltherma/sg/state", "0", at(61))  # ... and says 0, relays unchanged
    assert a.control_value(a.reported) is None
    assert a.holds(a.reported)
    assert [(m.topic, m.payload) for m in a.release(a.reported, at(62))] == [("espaltherma/sg/set", "0")]
