"""Our discovery, read the way Home Assistant reads it, against the MQTT integration's schema of a pinned
release (``ha_schema/ha_2026_11_0.json``, from home-assistant/core 2026.11.0; see ``ha_schema/README.md``).

HA's discovery schemas drop unknown options silently (``extra=REMOVE_EXTRA``): a misspelt, deprecated or
removed option never shows as an error in HA, only as a feature that does not work. Here it fails a test.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from kraken2mqtt.mqtt import homeassistant as ha
from kraken2mqtt.planner.model import ActionKind, DeviceAction, DevicePlan, Interval, Plan
from tests.mqtt.conftest import TOPICS, key_of
from tests.mqtt.ha_model import components, expand, ha_schema

SCHEMA = ha_schema()
VALUES = SCHEMA["values"]
_ENTITY_ID = re.compile(r"^[a-z_]+\.kraken2mqtt_[a-z0-9_]+$")
_UUID_ISH = re.compile(r"[0-9a-f]{8}_[0-9a-f]{4}")


def problems(payload: dict[str, Any]) -> list[str]:
    """Everything HA 2026.11 would drop, reject or misread in one device discovery payload."""
    out: list[str] = []
    full = expand(payload)
    allowed = SCHEMA["device_discovery"]
    out += [f"device payload: unknown option {k!r}" for k in full if k not in allowed]
    out += [f"device payload: missing {k!r}" for k, v in allowed.items() if v["required"] and k not in full]
    out += [f"device: unknown option {k!r}" for k in full.get("device", {}) if k not in SCHEMA["device_info"]]
    out += [f"origin: unknown option {k!r}" for k in full.get("origin", {}) if k not in SCHEMA["origin_info"]]
    for item in full.get("availability", []):
        out += [f"availability: unknown option {k!r}" for k in item if k not in SCHEMA["availability_item"]]
    if full.get("availability_mode") not in (None, *allowed["availability_mode"]["values"]):
        out.append(f"availability_mode {full['availability_mode']!r}")
    merged = components(full)
    for key, comp in full.get("components", {}).items():
        out += [f"{key}: {p}" for p in component_problems(comp, merged[key])]
    return out


def component_problems(own: dict[str, Any], merged: dict[str, Any]) -> list[str]:
    platform = own.get("platform")
    if platform not in SCHEMA["platforms"]:
        return [f"unknown platform {platform!r}"]
    keys = SCHEMA["platforms"][platform]["keys"]
    out = [f"unknown option {k!r} for {platform}" for k in own if k != "platform" and k not in keys]
    out += [f"missing {k!r}" for k, v in keys.items() if v["required"] and k not in merged]
    for option, spec in keys.items():
        if "values" in spec and option in own and str(own[option]) not in spec["values"]:
            out.append(f"{option}={own[option]!r} not in {spec['values']}")
    dc, unit, sc = own.get("device_class"), own.get("unit_of_measurement"), own.get("state_class")
    classes = VALUES.get(f"{platform}.device_class")
    if dc is not None and classes is not None and dc not in classes:
        out.append(f"device_class {dc!r} is not a {platform} device class")
    if own.get("entity_category") not in (None, *VALUES["entity_category"]):
        out.append(f"entity_category {own['entity_category']!r}")
    if platform == "sensor":
        if sc is not None and sc not in VALUES["sensor.state_class"]:
            out.append(f"state_class {sc!r}")
        units = SCHEMA["sensor.device_class_units"].get(dc or "")
        if units is not None and (unit or "") not in units:
            out.append(f"unit {unit!r} is not valid with device_class {dc!r}")
        states = SCHEMA["sensor.device_class_state_classes"].get(dc or "")
        if sc is not None and states is not None and sc not in states:
            out.append(f"state_class {sc!r} is not valid with device_class {dc!r}")
        if dc == "enum" and (unit or sc or not own.get("options")):
            out.append("an enum sensor has options and neither unit nor state_class")
        if dc == "monetary" and sc not in (None, "total"):
            out.append("a monetary sensor's state_class can only be total")
        if dc == "timestamp" and (unit or sc):
            out.append("a timestamp sensor has no unit or state_class")
        if own.get("options") and dc != "enum":
            out.append("options without device_class enum")
    if platform == "number" and dc is not None:
        units = SCHEMA["number.device_class_units"].get(dc)
        if units is not None and (unit or "") not in units:
            out.append(f"unit {unit!r} is not valid with number device_class {dc!r}")
    if platform == "climate":
        out += [f"hvac mode {m!r}" for m in own.get("modes", []) if m not in VALUES["climate.hvac_mode"]]
    if platform == "water_heater":
        out += [
            f"water heater mode {m!r}" for m in own.get("modes", []) if m not in VALUES["water_heater.mode"]
        ]
    default = own.get("default_entity_id")
    if not default or default.partition(".")[0] != platform:
        out.append(f"default_entity_id {default!r} does not start with {platform}.")
    return out


def sample_plan(now: datetime) -> Plan:
    start = now.replace(minute=0, second=0, microsecond=0)
    ivs = tuple(
        Interval(start + timedelta(minutes=30 * i), start + timedelta(minutes=30 * (i + 1)),
                 DeviceAction(ActionKind.CHARGE if i % 3 else ActionKind.STOP, 7.0, reason="cheapest slot"))
        for i in range(48)
    )  # fmt: skip
    dp = DevicePlan("ev", "ev", ivs, DeviceAction(ActionKind.STOP), "charges 20 kWh, £1.50")
    return Plan(now, start, start + timedelta(hours=24), (), (dp,), 150.0, 0.0)


def all_payloads(view: ha.View, topics: ha.Topics = TOPICS) -> list[dict[str, Any]]:
    view = ha.View(
        **{**{f: getattr(view, f) for f in view.__dataclass_fields__}, "plan": sample_plan(view.now)}
    )
    return [ha.discovery_payload(dev, topics) for dev in ha.build(view, key_of)]


def test_every_component_validates_against_home_assistant_2026_11(view: ha.View) -> None:
    found = [f"{p['dev']['name']}: {x}" for p in all_payloads(view) for x in problems(p)]
    assert found == []


def test_the_harness_catches_what_home_assistant_would_drop_or_reject() -> None:
    base = {"dev": {"ids": ["x"], "name": "X"}, "o": {"name": "k"}, "state_topic": "k/x/state"}

    def check(comp: dict[str, Any]) -> list[str]:
        return problems({**base, "cmps": {"c": {"default_entity_id": f"{comp['p']}.x", **comp}}})

    assert (
        check({"p": "sensor", "unique_id": "u", "name": "ok", "value_template": "{{ value_json.c }}"}) == []
    )
    assert check({"p": "sensor", "unique_id": "u", "object_id": "x"}) == [
        "c: unknown option 'object_id' for sensor"
    ]
    assert check({"p": "sensor", "unique_id": "u", "unit_of_measurment": "W"})  # misspelt
    assert check({"p": "sensor", "unique_id": "u", "device_class": "temperature", "unit_of_measurement": "C"})
    assert check(
        {
            "p": "sensor",
            "unique_id": "u",
            "device_class": "enum",
            "unit_of_measurement": "x",
            "options": ["a"],
        }
    )
    assert check({"p": "binary_sensor", "unique_id": "u", "device_class": "temperature"})
    assert check({"p": "switch", "unique_id": "u"}) == ["c: missing 'command_topic'"]
    assert check({"p": "climate", "unique_id": "u", "modes": ["heating"]})
    assert check({"p": "sensor", "unique_id": "u", "default_entity_id": "switch.x"})


def test_legacy_object_id_is_only_sent_when_asked_and_equals_the_default_entity_id(view: ha.View) -> None:
    legacy = ha.Topics(TOPICS.base, TOPICS.discovery_prefix, legacy_object_id=True)
    for payload in all_payloads(view, legacy):
        for comp in payload["cmps"].values():
            assert comp["object_id"] == comp["default_entity_id"].partition(".")[2]
    for payload in all_payloads(view):
        assert all("object_id" not in comp for comp in payload["cmps"].values())


#: the entity id of every entity of the test account: these never change (users' dashboards and
#: automations name them), whatever the names, the Home Assistant release or a reinstall
PINNED = [
    "sensor.kraken2mqtt_account_import_price",
    "sensor.kraken2mqtt_account_billed_price",
    "sensor.kraken2mqtt_account_export_price",
    "binary_sensor.kraken2mqtt_account_off_peak",
    "binary_sensor.kraken2mqtt_account_dispatching",
    "sensor.kraken2mqtt_account_next_dispatch",
    "sensor.kraken2mqtt_account_dispatch_end",
    "sensor.kraken2mqtt_account_data_fetched_at",
    "binary_sensor.kraken2mqtt_account_stale",
    "button.kraken2mqtt_account_refresh",
    "sensor.kraken2mqtt_account_fetched_account",
    "sensor.kraken2mqtt_account_fetched_devices",
    "sensor.kraken2mqtt_account_fetched_dispatches",
    "sensor.kraken2mqtt_account_fetched_events",
    "sensor.kraken2mqtt_account_fetched_heat_pumps",
    "sensor.kraken2mqtt_account_fetched_prepay",
    "sensor.kraken2mqtt_account_fetched_tariffs",
    "sensor.kraken2mqtt_account_rate_limit_remaining",
    "sensor.kraken2mqtt_account_dropped_selections",
    "binary_sensor.kraken2mqtt_account_waiting_for_clock",
    "sensor.kraken2mqtt_account_prepay_credit",
    "number.kraken2mqtt_account_top_up_amount",
    "sensor.kraken2mqtt_account_plan_cost",
    "sensor.kraken2mqtt_vehicle_e001_state",
    "binary_sensor.kraken2mqtt_vehicle_e001_suspended",
    "binary_sensor.kraken2mqtt_vehicle_e001_plugged_in",
    "switch.kraken2mqtt_vehicle_e001_boost",
    "switch.kraken2mqtt_vehicle_e001_smart_control",
    "number.kraken2mqtt_vehicle_e001_target_soc",
    "text.kraken2mqtt_vehicle_e001_ready_by",
    "sensor.kraken2mqtt_vehicle_e001_soc_limit",
    "sensor.kraken2mqtt_vehicle_e001_dispatch_type",
    "sensor.kraken2mqtt_vehicle_e001_soc",
    "sensor.kraken2mqtt_vehicle_e001_active_power",
    "sensor.kraken2mqtt_inverter_b001_state",
    "binary_sensor.kraken2mqtt_inverter_b001_suspended",
    "sensor.kraken2mqtt_inverter_b001_battery_soc",
    "sensor.kraken2mqtt_inverter_b001_battery_power",
    "sensor.kraken2mqtt_inverter_b001_grid_power",
    "sensor.kraken2mqtt_inverter_b001_solar_power",
    "sensor.kraken2mqtt_heat_pump_f001_state",
    "binary_sensor.kraken2mqtt_heat_pump_f001_suspended",
    "climate.kraken2mqtt_heat_pump_f001_heating",
    "water_heater.kraken2mqtt_heat_pump_f001_hot_water",
    "sensor.kraken2mqtt_heat_pump_f001_target_temperature",
    "number.kraken2mqtt_heat_pump_f001_setpoint",
    "select.kraken2mqtt_heat_pump_f001_zone_mode",
    "switch.kraken2mqtt_heat_pump_f001_hot_water_boost",
    "sensor.kraken2mqtt_heat_pump_f001_temperature_zone1",
    "sensor.kraken2mqtt_heat_pump_f001_temperature_water",
    "select.kraken2mqtt_ev_planner_mode",
    "sensor.kraken2mqtt_ev_soc",
    "sensor.kraken2mqtt_ev_power",
    "binary_sensor.kraken2mqtt_ev_plugged_in",
    "sensor.kraken2mqtt_ev_action",
    "select.kraken2mqtt_immersion_planner_mode",
    "binary_sensor.kraken2mqtt_immersion_relay",
]


def test_every_entity_id_is_pinned_short_and_stable(view: ha.View) -> None:
    ids = [c["default_entity_id"] for p in all_payloads(view) for c in p["cmps"].values()]
    assert sorted(ids) == sorted(PINNED)
    assert len(set(ids)) == len(ids)
    for entity_id in ids:
        assert _ENTITY_ID.match(entity_id), entity_id
        assert not _UUID_ISH.search(entity_id), entity_id
        assert len(entity_id) <= 64, entity_id


def test_enum_states_are_among_their_options(view: ha.View) -> None:
    for dev in ha.build(view, key_of):
        state = ha.state_payload(dev)
        for ent in dev.entities:
            if ent.options.get("device_class") == "enum":
                assert state[ent.key] is None or state[ent.key] in ent.options["options"], ent.key


@pytest.mark.parametrize(("zone", "name"), [("ZONE1", "Zone 1"), ("ZONE2", "Zone 2"), ("WATER", "Hot water")])
def test_zones_have_human_names(zone: str, name: str) -> None:
    assert ha.zone_name(zone) == name


def test_device_names_are_unique(view: ha.View) -> None:
    names = [dev.name for dev in ha.build(view, key_of)]
    assert len(set(names)) == len(names)


def test_the_forecast_entities_validate_too(view: ha.View) -> None:
    shown = ha.ForecastShown(
        solar_rest_of_today_kwh=3.2,
        solar_tomorrow_kwh=7.9,
        solar_now_kw=1.25,
        outdoor_c=4.5,
        fetched_at=view.now,
        house_load_kw=0.31,
        house_load_learned=True,
    )
    with_forecast = ha.View(**{**{f: getattr(view, f) for f in view.__dataclass_fields__}, "forecast": shown})
    payloads = all_payloads(with_forecast)
    found = [f"{p['dev']['name']}: {x}" for p in payloads for x in problems(p)]
    assert found == []
    account = next(p for p in payloads if "solar_forecast_today" in p["cmps"])
    assert account["cmps"]["solar_forecast_today"]["default_entity_id"] == (
        "sensor.kraken2mqtt_account_solar_forecast_today"
    )
