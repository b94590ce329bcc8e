from __future__ import annotations

from datetime import timedelta

import pytest

from kraken2mqtt.devices.base import (
    MAX_PAYLOAD_BYTES,
    Message,
    Resend,
    Sent,
    Write,
    amps_for,
    should_send,
    topic_matches,
)
from tests.devices.helpers import T0, at, make

REFRESH = timedelta(seconds=300)


def _w(payload: str = "x", matches: bool | None = None, **kw: object) -> Write:
    return Write(Message("t", payload), matches, **kw)  # type: ignore[arg-type]


def test_first_write_is_sent_unless_device_already_there() -> None:
    assert should_send(_w(), None, T0, REFRESH)
    assert should_send(_w(matches=False), None, T0, REFRESH)
    assert not should_send(_w(matches=True), None, T0, REFRESH)


def test_changed_value_is_sent_at_once() -> None:
    assert should_send(_w("b"), Sent("a", T0), at(1), REFRESH)


def test_identical_volatile_write_waits_for_refresh_even_if_matching() -> None:
    last = Sent("x", T0)
    assert not should_send(_w(matches=None), last, at(299), REFRESH)
    assert should_send(_w(matches=True), last, at(300), REFRESH)


def test_identical_flash_write_repeated_only_on_reported_mismatch() -> None:
    last = Sent("x", T0)
    assert not should_send(_w(matches=False, resend=Resend.ON_CHANGE), last, at(10), REFRESH)
    assert not should_send(_w(matches=None, resend=Resend.ON_CHANGE), last, at(10_000), REFRESH)
    assert not should_send(_w(matches=True, resend=Resend.ON_CHANGE), last, at(10_000), REFRESH)
    assert should_send(_w(matches=False, resend=Resend.ON_CHANGE), last, at(300), REFRESH)


def test_keepalive_ignores_matching() -> None:
    w = _w(matches=True, keepalive=timedelta(seconds=30))
    assert should_send(w, None, T0, REFRESH)
    assert not should_send(w, Sent("x", T0), at(29), REFRESH)
    assert should_send(w, Sent("x", T0), at(30), REFRESH)


def test_min_change_interval_holds_back_changed_values() -> None:
    w = _w("b", min_change_interval=timedelta(seconds=120))
    assert not should_send(w, Sent("a", T0), at(60), REFRESH)
    assert should_send(w, Sent("a", T0), at(120), REFRESH)


@pytest.mark.parametrize(
    ("kw", "amps"),
    [(0.0, 32), (-1.0, 32), (7.36, 32), (7.4, 32), (3.6, 15), (1.0, 6), (100.0, 32)],
)
def test_amps_for_rounds_down_and_clamps(kw: float, amps: int) -> None:
    assert amps_for(kw, voltage=230, phases=1, min_a=6, max_a=32) == amps


def test_amps_three_phase() -> None:
    assert amps_for(11.0, voltage=230, phases=3, min_a=6, max_a=16) == 15


@pytest.mark.parametrize(
    ("pattern", "topic", "ok"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a/b/c", True),
        ("a/b", "a/c", False),
        ("a/b/c", "a/b", False),
    ],
)
def test_topic_matches(pattern: str, topic: str, ok: bool) -> None:
    assert topic_matches(pattern, topic) is ok


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"1" * (MAX_PAYLOAD_BYTES + 1), "too large"),
        (b"[1, 2]", "expected a JSON object"),
        (b"ON", "invalid JSON"),
        (b"{not json", "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "too large"),
        (b"[" * 20_000 + b"]" * 20_000, "JSON"),
    ],
)
def test_malformed_payloads_are_ignored_with_a_reason(payload: bytes, why: str) -> None:
    a = make(id="w", kind="relay", adapter="tasmota", topic="tas")
    assert a.on_message("tele/tas/STATE", payload, T0) is None
    assert a.last_ignored is not None
    assert why in a.last_ignored
    assert a.ignored_count == 1
    assert a.reported.updated_at is None


def test_foreign_topics_are_not_ours() -> None:
    a = make(id="w", kind="relay", adapter="tasmota", topic="tas")
    assert a.on_message("stat/other/POWER", b"ON", T0) is None
    assert a.last_ignored is None


def test_record_sent_and_forget() -> None:
    a = make(id="w", kind="relay", adapter="tasmota", topic="tas")
    m = Message("cmnd/tas/POWER", "ON")
    a.record_sent([m], T0)
    assert a.last_sent("cmnd/tas/POWER") == Sent("ON", T0)
    a.forget_sent()
    assert a.last_sent("cmnd/tas/POWER") is None
