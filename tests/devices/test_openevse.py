from __future__ import annotations

from typing import Any

import pytest

from kraken2mqtt.devices.base import Adapter, UnsupportedAction
from tests.devices.helpers import T0, act, at, feed, make, send

B = "openevse-1a2b"


def _ev(**kw: Any) -> Adapter[Any]:
    kw.setdefault("auto_release", None)  # default True: tested below
    return make(id="ev", kind="ev", adapter="openevse", topic=B, **kw)


@pytest.mark.parametrize(
    ("kind", "kw", "payload"),
    [
        ("charge", 3.68, '{"state":"active","charge_current":16}'),
        ("charge", 0.0, '{"state":"active","charge_current":32}'),
        ("charge", 0.5, '{"state":"active","charge_current":6}'),
        ("on", 7.4, '{"state":"active","charge_current":32}'),
        ("stop", 0.0, '{"state":"disabled"}'),
        ("hold", 0.0, '{"state":"disabled"}'),
        ("off", 0.0, '{"state":"disabled"}'),
        ("follow_kraken", 7.0, "release"),
        ("request_boost", 7.0, "release"),
    ],
)
def test_claims(kind: str, kw: float, payload: str) -> None:
    assert send(_ev(), act(kind, kw)) == [(f"{B}/claim/set", payload)]


def test_messages_are_qos1_not_retained() -> None:
    (m,) = _ev().commands(act("stop"), None, T0)
    assert (m.qos, m.retain) == (1, False)


def test_three_phase_and_auto_release() -> None:
    a = _ev(phases=3, max_current_a=16, auto_release=True)
    assert send(a, act("charge", 11.0)) == [
        (f"{B}/claim/set", '{"state":"active","charge_current":15,"auto_release":true}')
    ]


@pytest.mark.parametrize("kind", ["discharge", "heat", "hot_water_boost"])
def test_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedAction):
        _ev().commands(act(kind), None, T0)


def test_no_resend_while_claim_echo_matches_resent_after_a_reboot() -> None:
    a = _ev()
    assert send(a, act("charge", 3.68), T0)
    feed(a, f"{B}/claim", '{"state":"active","charge_current":16}')
    assert send(a, act("charge", 3.68), at(60)) == []
    # a claim lives in RAM with no expiry: not refreshed while the echo shows it (issue 12: 239 identical
    # re-sends a day before)
    assert send(a, act("charge", 3.68), at(86_400)) == []
    feed(a, f"{B}/claim", '{"state":"null"}', at(90_000))  # the charger rebooted: claim gone
    assert send(a, act("charge", 3.68), at(90_001)) == [
        (f"{B}/claim/set", '{"state":"active","charge_current":16}')
    ]


def test_auto_release_is_on_by_default_and_release_is_explicit() -> None:
    a = make(id="ev", kind="ev", adapter="openevse", topic=B)
    assert send(a, act("charge", 3.68)) == [
        (f"{B}/claim/set", '{"state":"active","charge_current":16,"auto_release":true}')
    ]
    feed(a, f"{B}/claim", '{"state":"disabled"}')
    assert a.holds(a.reported)  # a claim of ours left (e.g. after a crash)
    assert [(m.topic, m.payload) for m in a.release(a.reported, T0)] == [(f"{B}/claim/set", "release")]


def test_existing_matching_claim_is_not_resent() -> None:
    a = _ev()
    feed(a, f"{B}/claim", '{"state":"disabled","charge_current":16}')
    assert send(a, act("stop")) == []
    assert send(a, act("charge", 3.68)) == [(f"{B}/claim/set", '{"state":"active","charge_current":16}')]


def test_release_not_repeated_once_released() -> None:
    a = _ev()
    assert send(a, act("follow_kraken")) == [(f"{B}/claim/set", "release")]
    assert send(a, act("follow_kraken"), at(10_000)) == []
    feed(a, f"{B}/claim", '{"state":"null"}')
    assert send(a, act("follow_kraken"), at(20_000)) == []


def test_power_change_resends_immediately() -> None:
    a = _ev()
    send(a, act("charge", 3.68))
    assert send(a, act("charge", 7.36), at(1)) == [
        (f"{B}/claim/set", '{"state":"active","charge_current":32}')
    ]


def test_state_read_back() -> None:
    a = _ev(announce_id="1a2b")
    assert f"{B}/vehicle" in a.subscriptions()
    feed(a, f"{B}/vehicle", "1")
    feed(a, f"{B}/amp", "16000")
    feed(a, f"{B}/power", "3680")
    feed(a, f"{B}/battery_level", "54")
    feed(a, f"{B}/status", "active")
    feed(a, "openevse/announce/1a2b", '{"state":"connected","id":"x"}')
    s = a.reported
    assert (s.plugged_in, s.charging, s.power_kw, s.soc_pct, s.online) == (True, True, 3.68, 54.0, True)
    assert s.raw[f"{B}/status"] == "active"
    assert s.updated_at == T0


@pytest.mark.parametrize(
    ("key", "payload"),
    [("vehicle", "yes"), ("power", "nan"), ("status", "weird"), ("claim", "[1]"), ("amp", "")],
)
def test_bad_state_ignored(key: str, payload: str) -> None:
    a = _ev()
    feed(a, f"{B}/{key}", payload)
    assert a.last_ignored is not None
    assert a.reported.raw == {}
