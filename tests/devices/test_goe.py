from __future__ import annotations

from typing import Any

import pytest

from kraken2mqtt.devices.base import Adapter, UnsupportedAction
from tests.devices.helpers import T0, act, at, feed, make, send

B = "go-eCharger/012345"


def _goe(**kw: Any) -> Adapter[Any]:
    return make(id="ev", kind="ev", adapter="goe", serial="012345", **kw)


@pytest.mark.parametrize(
    ("kind", "kw", "expected"),
    [
        ("charge", 3.68, [(f"{B}/tcl/set", "16"), (f"{B}/frc/set", "2")]),
        ("charge", 1.0, [(f"{B}/tcl/set", "6"), (f"{B}/frc/set", "2")]),
        ("charge", 0.0, [(f"{B}/tcl/set", "16"), (f"{B}/frc/set", "2")]),
        ("stop", 0.0, [(f"{B}/frc/set", "1")]),
        ("hold", 0.0, [(f"{B}/frc/set", "1")]),
        ("follow_kraken", 0.0, [(f"{B}/frc/set", "0")]),
        ("request_boost", 7.0, [(f"{B}/frc/set", "0")]),
    ],
)
def test_commands(kind: str, kw: float, expected: list[tuple[str, str]]) -> None:
    assert send(_goe(), act(kind, kw)) == expected


def test_custom_prefix() -> None:
    assert send(_goe(topic="garage/goe"), act("stop")) == [("garage/goe/012345/frc/set", "1")]


@pytest.mark.parametrize("kind", ["discharge", "heat"])
def test_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedAction):
        _goe().commands(act(kind), None, T0)


def test_current_is_tcl_kept_alive_never_the_persons_amp() -> None:
    # apikeys-en.md (goecharger/go-eCharger-API-v2 2e15cda): tcl "does not change the user current limit,
    # will be reset after 10min if not updated regularly"; amp is the person's own setting.
    a = _goe()
    assert send(a, act("charge", 3.68)) == [(f"{B}/tcl/set", "16"), (f"{B}/frc/set", "2")]
    assert send(a, act("charge", 3.68), at(200)) == []
    assert send(a, act("charge", 3.68), at(240)) == [(f"{B}/tcl/set", "16")]  # keepalive < 10 min
    assert all("/amp/set" not in t for t, _ in send(a, act("charge", 2.0), at(300)))
    assert a.deadman_seconds() == 600.0


def test_matching_reported_state_sends_nothing() -> None:
    a = _goe()
    feed(a, f"{B}/frc", "2")
    assert send(a, act("charge", 3.68)) == [(f"{B}/tcl/set", "16")]
    feed(a, f"{B}/frc", "0")  # someone set it back to neutral
    assert send(a, act("charge", 3.68), at(1)) == [(f"{B}/frc/set", "2")]


def test_release_is_frc_0_once_and_result_errors_are_reported() -> None:
    a = _goe()
    feed(a, f"{B}/frc", "2")
    assert [(m.topic, m.payload) for m in a.release(a.reported, T0)] == [(f"{B}/frc/set", "0")]
    feed(a, f"{B}/frc", "0")
    assert a.release(a.reported, T0) == []
    feed(a, f"{B}/tcl/result", '"invalid json at 0"', at(5))
    assert a.error == "tcl: invalid json at 0" and a.error_at == at(5)


def test_mismatch_retried_after_refresh_only() -> None:
    a = _goe()
    send(a, act("stop"))
    feed(a, f"{B}/frc", "2")
    assert send(a, act("stop"), at(60)) == []
    assert send(a, act("stop"), at(300)) == [(f"{B}/frc/set", "1")]


def test_frc_is_a_persistent_write_tcl_is_not() -> None:
    msgs = _goe().commands(act("charge", 3.68), None, T0)
    assert [(m.topic.rsplit("/", 2)[-2], m.persistent) for m in msgs] == [("tcl", False), ("frc", True)]


def test_state_read_back() -> None:
    a = _goe()
    feed(a, f"{B}/car", "2")
    nrg = [230, 231, 229, 0, 16, 0, 0, 3680, 0, 0, 0, 3680, 100, 0, 0, 0]
    feed(a, f"{B}/nrg", str(nrg))
    s = a.reported
    assert (s.plugged_in, s.charging, s.power_kw) == (True, True, 3.68)
    feed(a, f"{B}/car", "1")
    assert (a.reported.plugged_in, a.reported.charging) == (False, False)
    feed(a, f"{B}/frc/result", "success")
    assert a.reported.raw[f"{B}/frc/result"] == "success"


@pytest.mark.parametrize(
    ("key", "payload"), [("car", '"x"'), ("nrg", "[1,2]"), ("frc", "two"), ("alw", '"x"')]
)
def test_bad_state_ignored(key: str, payload: str) -> None:
    a = _goe()
    feed(a, f"{B}/{key}", payload)
    assert a.last_ignored is not None
