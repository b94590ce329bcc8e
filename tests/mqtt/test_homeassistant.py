"""Home Assistant discovery and state, built from a real poll of the fake Kraken server."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from kraken2mqtt.mqtt import homeassistant as ha
from tests.brokers import Broker
from tests.mqtt.conftest import HA_PLATFORMS, TOPICS, key_of


def test_every_component_is_well_formed_and_reads_a_published_key(view: ha.View) -> None:
    devices = ha.build(view, key_of)
    assert len(devices) == 1 + 3 + 2  # account, the demo's EV/inverter/heat pump, two local devices
    for dev in devices:
        payload = ha.discovery_payload(dev, TOPICS)
        assert payload["dev"]["ids"] == [ha.object_id(dev.key)]
        assert payload["o"]["name"] == "kraken2mqtt"
        assert payload["availability_mode"] == "all"
        unique = set()
        for key, comp in payload["cmps"].items():
            state = ha.state_payload(dev)
            if comp.get("state_topic", payload["state_topic"]) == TOPICS.clock:  # its own topic
                state = json.loads(ha.clock_message(TOPICS, None)[1])
            assert comp["p"] in HA_PLATFORMS
            unique.add(comp["unique_id"])
            if comp["p"] in ha.VALUE_PLATFORMS:
                assert comp["value_template"] == f"{{{{ value_json.{key} }}}}"
                assert key in state
            for option, template in comp.items():
                if option.endswith("_template") and "value_json." in template and "command" not in option:
                    assert template.split("value_json.")[1].split()[0] in state, (key, option)
            if comp["p"] in {"switch", "number", "select", "text", "button"}:
                topic = comp["command_topic"]
                assert topic.startswith("kraken2mqtt/")
                assert topic.endswith("/set")
            if comp.get("device_class") == "timestamp" and state[key] is not None:
                assert "+00:00" in state[key]  # timestamps carry a timezone
        assert len(unique) == len(payload["cmps"])


def test_account_device_shows_prices_in_currency_per_kwh_and_dispatch_signals(view: ha.View) -> None:
    account = ha.account_device(view)
    state = ha.state_payload(account)
    comps = ha.discovery_payload(account, TOPICS)["cmps"]
    assert comps["import_price"]["unit_of_measurement"] == "GBP/kWh"
    assert 0 < state["import_price"] < 1  # pence became pounds
    assert state["off_peak"] in {"ON", "OFF"}
    assert comps["dispatching"]["p"] == "binary_sensor"
    assert comps["next_dispatch"]["device_class"] == "timestamp"
    assert comps["prepay_credit"]["device_class"] == "monetary"
    assert comps["top_up_amount"]["command_topic"] == "kraken2mqtt/top_up_amount/set"
    # in pence, the unit the command topic takes: what HA sends is what it shows (pounds as attributes)
    top_up = comps["top_up_amount"]
    assert top_up["unit_of_measurement"] == "p" and "device_class" not in top_up
    assert "command_template" not in top_up
    assert (top_up["min"], top_up["max"], top_up["step"]) == (500, 50_000, 100)


def test_local_devices_get_planner_mode_and_reported_state(view: ha.View) -> None:
    devices = {d.key: d for d in ha.build(view, key_of)}
    ev = devices["ev"]
    comps = ha.discovery_payload(ev, TOPICS)["cmps"]
    assert comps["planner_mode"]["options"] == ["auto", "force_on", "off"]
    assert ha.state_payload(devices["immersion"])["relay"] is None  # announced before the device reports
    assert comps["planner_mode"]["command_topic"] == "kraken2mqtt/ev/planner_mode/set"
    assert ha.state_payload(ev)["power"] == 7200
    assert "power" not in ha.state_payload(devices["immersion"])  # a relay has no power reading


def test_vanished_devices_are_removed_with_empty_retained_configs() -> None:
    msgs = ha.removed(["account", "ev", "old"], ["account", "ev"], TOPICS)
    assert ("homeassistant/device/kraken2mqtt_old/config", "", True) in msgs
    assert all(payload == "" and retain for _, payload, retain in msgs)


async def test_discovery_reaches_the_broker_retained(view: ha.View, broker: Broker) -> None:
    devices = ha.build(view, key_of)
    async with aiomqtt.Client(broker.host, broker.port, identifier="k2m-ha-pub") as pub:
        for dev in devices:
            for topic, payload, retain in ha.messages(dev, TOPICS):
                await pub.publish(topic, payload, qos=1, retain=retain)
    seen: dict[str, bytes] = {}
    async with aiomqtt.Client(broker.host, broker.port, identifier="k2m-ha-sub") as sub:
        await sub.subscribe("homeassistant/device/+/config", qos=1)
        async with asyncio.timeout(5):
            async for message in sub.messages:
                assert message.retain
                seen[str(message.topic)] = bytes(message.payload)
                if len(seen) >= len(devices):
                    break
    assert set(seen) >= {TOPICS.config(d.key) for d in devices}
    account = json.loads(seen[TOPICS.config("account")])
    assert "import_price" in account["cmps"]
