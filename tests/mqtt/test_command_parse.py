"""Command topics and payloads: table-driven, including every kind of malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kraken2mqtt.controls import Command, Control
from kraken2mqtt.mqtt.command_parse import (
    MAX_PAYLOAD,
    CommandResult,
    Ignored,
    Invalid,
    command_filters,
    command_topic,
    parse,
    result_topic,
)

BASE = "kraken2mqtt"
DEV = "00000000-0000-4000-8000-00000000e001"


def t(control: str, device: str | None = DEV) -> str:
    return f"{BASE}/{control}/set" if device is None else f"{BASE}/{device}/{control}/set"


VALID = [
    (t("boost"), b"ON", Control.BOOST, True),
    (t("boost"), b"off", Control.BOOST, False),
    (t("boost"), b"true", Control.BOOST, True),
    (t("boost"), b"0", Control.BOOST, False),
    (t("boost"), b'{"value": "ON"}', Control.BOOST, True),
    (t("smart_control"), b" OFF \n", Control.SMART_CONTROL, False),
    (t("target_soc"), b"80", Control.TARGET_SOC, 80),
    (t("target_soc"), b"80.0", Control.TARGET_SOC, 80),
    (t("target_soc"), b'{"value": 100}', Control.TARGET_SOC, 100),
    (t("target_soc"), b"10", Control.TARGET_SOC, 10),
    (t("ready_by"), b"07:30", Control.READY_BY, "07:30"),
    (t("ready_by"), b"07:30:00", Control.READY_BY, "07:30"),
    (t("ready_by"), b'"23:59"', Control.READY_BY, "23:59"),
    (t("zone_mode", "heat_pump"), b"on", Control.ZONE_MODE, "ON"),
    (t("setpoint", "heat_pump"), b"21.5", Control.SETPOINT, 21.5),
    (t("setpoint", "heat_pump"), b"7", Control.SETPOINT, 7.0),
    (t("hot_water_boost", "heat_pump"), b"ON", Control.HOT_WATER_BOOST, True),
    (t("top_up_amount", None), b"2500", Control.TOP_UP_AMOUNT, 2500),
    (t("planner_mode", "relay1"), b"force_on", Control.PLANNER_MODE, "force_on"),
    (t("planner_mode", "relay1"), b"AUTO", Control.PLANNER_MODE, "auto"),
    (t("refresh", None), b"PRESS", Control.REFRESH, "PRESS"),
]


@pytest.mark.parametrize(("topic", "payload", "control", "value"), VALID)
def test_valid_commands(topic: str, payload: bytes, control: Control, value: object) -> None:
    parsed = parse(BASE, topic, payload)
    assert isinstance(parsed, Command), parsed
    assert parsed.control is control
    assert parsed.value == value
    assert type(parsed.value) is type(value)
    assert Command.from_json(parsed.to_json()) == parsed


MALFORMED = [
    # (topic, payload, fragment of the reason)
    (t("target_soc"), b"9" * (MAX_PAYLOAD + 1), "too large"),
    (t("target_soc"), b"\xff\xfe\x80", "not UTF-8"),
    (t("boost"), b"\xc3\x28", "not UTF-8"),
    (t("target_soc"), b"eighty", "expected a number"),
    (t("target_soc"), b"true", "expected a number"),
    (t("target_soc"), b"null", "expected a number"),
    (t("target_soc"), b"150", "out of range"),
    (t("target_soc"), b"5", "out of range"),
    (t("target_soc"), b"-1", "out of range"),
    (t("target_soc"), b"80.5", "multiple of 1"),
    (t("target_soc"), b"NaN", "not finite"),
    (t("target_soc"), b"Infinity", "not finite"),
    (t("target_soc"), b"1e999", "not finite"),
    (t("target_soc"), b'{"value": 80, "extra": 1}', '{"value": ...} only'),
    (t("target_soc"), b"[80]", "number, string or boolean"),
    (t("target_soc"), b'{"value": [80]}', "number, string or boolean"),
    (t("target_soc"), b"{not json", "not valid JSON"),
    (t("target_soc"), b"[" * 500 + b"]" * 500, "number, string or boolean"),
    (t("setpoint", "heat_pump"), b"21.3", "multiple of 0.5"),
    (t("setpoint", "heat_pump"), b"31", "out of range"),
    (t("boost"), b"maybe", "expected ON or OFF"),
    (t("boost"), b"2", "expected ON or OFF"),
    (t("boost"), b'{"value": {"a": 1}}', "number, string or boolean"),
    (t("ready_by"), b"25:00", "HH:MM"),
    (t("ready_by"), b"7:30", "HH:MM"),
    (t("ready_by"), b"07:30:15", "HH:MM"),
    (t("ready_by"), b"730", "HH:MM"),
    (t("zone_mode", "heat_pump"), b"AUTO", "expected one of ON, OFF"),
    (t("planner_mode", "relay1"), b"turbo", "expected one of auto, force_on, off"),
    (t("planner_mode", "relay1"), b"1", "expected one of"),
    (t("refresh", None), b"NOW", "expected one of PRESS"),
    (t("top_up_amount", None), b"2550", "multiple of 100"),
    (t("top_up_amount", None), b"100", "out of range"),
    (t("top_up_amount", None), b"1000000", "out of range"),
    (t("self_destruct"), b"ON", "unknown control"),
    (t("top_up_amount"), b"2500", "account-level"),
    (t("boost", None), b"ON", "needs a device"),
    (f"{BASE}/a/b/c/set", b"ON", "not a command topic"),
    (f"{BASE}/{'x' * 65}/boost/set", b"ON", "bad device key"),
]


@pytest.mark.parametrize(("topic", "payload", "fragment"), MALFORMED)
def test_malformed_commands_are_invalid_with_a_reason(topic: str, payload: bytes, fragment: str) -> None:
    parsed = parse(BASE, topic, payload)
    assert isinstance(parsed, Invalid), parsed
    assert fragment in parsed.reason


def test_invalid_carries_where_to_answer() -> None:
    parsed = parse(BASE, t("target_soc"), b"150")
    assert isinstance(parsed, Invalid)
    assert (parsed.device, parsed.control) == (DEV, "target_soc")


def test_retained_commands_are_ignored_and_cleared() -> None:
    parsed = parse(BASE, t("boost"), b"ON", retain=True)
    assert parsed == Ignored("retained command message (would replay after a restart)", clear=True)


@pytest.mark.parametrize("payload", [b"", b"   ", None])
def test_empty_payload_is_ignored_without_clearing(payload: bytes | None) -> None:
    parsed = parse(BASE, t("boost"), payload)
    assert isinstance(parsed, Ignored)
    assert not parsed.clear


def test_str_payload_and_fuzz_never_raise() -> None:
    import random

    rng = random.Random(7)
    assert isinstance(parse(BASE, t("boost"), "ON"), Command)
    assert isinstance(parse(BASE, t("boost"), "\udcff"), Invalid)
    for _ in range(2000):
        control = rng.choice(list(Control))
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        parse(BASE, command_topic(BASE, "dev", control), payload)


def test_topics() -> None:
    assert command_filters(BASE) == (f"{BASE}/+/+/set", f"{BASE}/+/set")
    assert command_topic(BASE, DEV, Control.BOOST) == t("boost")
    assert command_topic(BASE, "account", Control.REFRESH) == f"{BASE}/refresh/set"
    assert result_topic(BASE, DEV) == f"{BASE}/{DEV}/result"


def test_result_payload() -> None:
    at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    body = json.loads(
        CommandResult(
            "abc", "boost", "refused", at, "KT-CT-4357: no", ("BC_DEVICE_SUSPENDED",), True
        ).payload()
    )
    assert body == {
        "command_id": "abc",
        "control": "boost",
        "status": "refused",
        "reason": "KT-CT-4357: no",
        "reasons": ["BC_DEVICE_SUSPENDED"],
        "at": "2026-01-15T12:00:00.000+00:00",
        "value": True,
    }
