from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kraken2mqtt.devices.base import CommandError, UnsupportedAction
from kraken2mqtt.devices.template import TemplateAdapter
from tests.devices.helpers import CONFIG, T0, act, at, feed, make, send


def _cfg(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "wb",
        "kind": "ev",
        "adapter": "template",
        "commands": {
            "charge": [
                {"topic": "wallbox/{device_id}/current/set", "payload": "{amps}"},
                {
                    "topic": "wallbox/{device_id}/cmd",
                    "payload": '{{"action":"{action}","kw":{power_kw:.1f},"w":{power_w}}}',
                },
            ],
            "stop": [{"topic": "wallbox/{device_id}/cmd", "payload": '{{"action":"{action}"}}'}],
            "heat": [{"topic": "hp/setpoint", "payload": "{setpoint_c:.1f}", "retain": True, "qos": 0}],
        },
    }
    return base | kw


def test_rendering() -> None:
    a = make(**_cfg())
    assert isinstance(a, TemplateAdapter)
    assert send(a, act("charge", 3.68)) == [
        ("wallbox/wb/current/set", "16"),
        ("wallbox/wb/cmd", '{"action":"charge","kw":3.7,"w":3680}'),
    ]
    assert send(a, act("stop"), at(1)) == [("wallbox/wb/cmd", '{"action":"stop"}')]
    (m,) = a.commands(act("heat", 1.0, 45.25), None, at(2))
    assert (m.topic, m.payload, m.retain, m.qos) == ("hp/setpoint", "45.2", True, 0)


def test_missing_action_and_missing_setpoint() -> None:
    a = make(**_cfg())
    with pytest.raises(UnsupportedAction):
        a.commands(act("discharge"), None, T0)
    with pytest.raises(CommandError, match="setpoint_c"):
        a.commands(act("heat"), None, T0)


def test_bad_format_spec_at_render_time() -> None:
    a = make(**_cfg(commands={"on": [{"topic": "x", "payload": "{device_id:.1f}"}]}, kind="relay"))
    with pytest.raises(CommandError):
        a.commands(act("on"), None, T0)


def test_refresh_and_on_change_and_keepalive() -> None:
    a = make(**_cfg())
    send(a, act("stop"))
    assert send(a, act("stop"), at(299)) == []
    assert send(a, act("stop"), at(300)) == [("wallbox/wb/cmd", '{"action":"stop"}')]
    b = make(**_cfg(resend="on_change"))
    send(b, act("stop"))
    assert send(b, act("stop"), at(100_000)) == []
    c = make(**_cfg(keepalive_seconds=20))
    send(c, act("stop"))
    assert send(c, act("stop"), at(20)) == [("wallbox/wb/cmd", '{"action":"stop"}')]


def test_same_topic_in_two_actions_is_a_change() -> None:
    a = make(**_cfg(resend="on_change"))
    send(a, act("charge", 3.68))
    assert send(a, act("stop"), at(1)) == [("wallbox/wb/cmd", '{"action":"stop"}')]


def test_state_mappings() -> None:
    a = make(
        **_cfg(
            state=[
                {"topic": "wallbox/wb/state", "field": "plugged_in", "json_path": "car.plugged"},
                {"topic": "wallbox/wb/state", "field": "power_kw", "json_path": "power", "scale": 0.001},
                {"topic": "wallbox/+/soc", "field": "soc_pct"},
                {
                    "topic": "wallbox/wb/lwt",
                    "field": "online",
                    "true_values": ["up"],
                    "false_values": ["down"],
                },
                {"topic": "wallbox/wb/phases", "field": "charging", "json_path": "p.1"},
            ]
        )
    )
    assert a.subscriptions() == ["wallbox/wb/state", "wallbox/+/soc", "wallbox/wb/lwt", "wallbox/wb/phases"]
    feed(a, "wallbox/wb/state", '{"car":{"plugged":true},"power":7200}')
    feed(a, "wallbox/wb/soc", "63")
    feed(a, "wallbox/wb/lwt", "UP")
    feed(a, "wallbox/wb/phases", '{"p":["off","on"]}')
    s = a.reported
    assert (s.plugged_in, s.power_kw, s.soc_pct, s.online, s.charging) == (True, 7.2, 63.0, True, True)


@pytest.mark.parametrize(
    ("mapping", "payload"),
    [
        ({"field": "soc_pct"}, "n/a"),
        ({"field": "soc_pct", "json_path": "a.b"}, '{"a":{}}'),
        ({"field": "soc_pct", "json_path": "a"}, '{"a":true}'),
        ({"field": "relay_on"}, "perhaps"),
        ({"field": "soc_pct", "json_path": "a"}, "not json"),
    ],
)
def test_bad_state(mapping: dict[str, Any], payload: str) -> None:
    a = make(**_cfg(state=[{"topic": "t/s", **mapping}]))
    feed(a, "t/s", payload)
    assert a.last_ignored is not None


@pytest.mark.parametrize(
    ("commands", "error"),
    [
        ({"on": [{"topic": "a/{power_w.real}"}]}, "unknown template field"),
        ({"on": [{"topic": "a/{0}"}]}, "unknown template field"),
        ({"on": [{"topic": "a/{}"}]}, "unknown template field"),
        ({"on": [{"topic": "a", "payload": "{power_w!r}"}]}, "no conversions"),
        ({"on": [{"topic": "a", "payload": "{power_w:{amps}}"}]}, "nested"),
        ({"on": [{"topic": "a", "payload": "{oops"}]}, "bad template"),
        ({"on": [{"topic": "a", "payload": "{secret}"}]}, "unknown template field {secret}"),
        ({"on": []}, "at least 1"),
        ({}, "at least one entry"),
        ({"explode": [{"topic": "a"}]}, "commands.explode"),
        ({"on": [{"topic": "a", "extra": 1}]}, "Extra inputs are not permitted"),
    ],
)
def test_config_errors(commands: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace("{", r"\{").replace("}", r"\}")):
        CONFIG.validate_python(_cfg(kind="relay", commands=commands))


def test_state_topic_filter_validation() -> None:
    with pytest.raises(ValidationError, match="whole level"):
        CONFIG.validate_python(_cfg(state=[{"topic": "a/b#", "field": "soc_pct"}]))
