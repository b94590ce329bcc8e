# mypy: ignore-errors
"""Extract the MQTT discovery schema data of a Home Assistant release into ``ha_<version>.json``.

Runs with Home Assistant's own Python, NOT the project's (it imports ``homeassistant``); the JSON it
writes is the fixture ``tests/mqtt/test_ha_schema.py`` validates our discovery against. With the chroot of
``../shared/tools/home-assistant/build-ha-root.sh``::

    cp tests/mqtt/ha_schema/extract.py ROOT/tmp/ && chroot ROOT /opt/ha/venv/bin/python /tmp/extract.py \
        > tests/mqtt/ha_schema/ha_2026_11_0.json

Everything comes from the modules of ``homeassistant/components/mqtt/`` (schemas.py, abbreviations.py,
const.py and one module per platform: its ``DISCOVERY_SCHEMA``) and the entity components' enums.
"""

import importlib
import json
import sys
from enum import Enum

import homeassistant.components.mqtt.abbreviations as abbr
import homeassistant.components.mqtt.const as mconst
import homeassistant.components.mqtt.schemas as schemas
from homeassistant.const import __version__

MARKERS = ("Optional", "Required", "Exclusive", "Inclusive", "Remove")


def first_schema(obj, depth=0):
    if hasattr(obj, "schema") and isinstance(obj.schema, dict):
        return obj
    for v in getattr(obj, "validators", ()) or ():
        found = first_schema(v, depth + 1)
        if found is not None:
            return found
    return None


def removed_keys(obj, out):
    """Keys that cv.deprecated / cv.removed validators in an All() name."""
    for v in getattr(obj, "validators", ()) or ():
        name = getattr(v, "__qualname__", "") or ""
        if "deprecated" in name or "removed" in name:
            for cell in v.__closure__ or ():
                try:
                    val = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(val, str) and val.replace("_", "").isalnum():
                    out.setdefault("deprecated" if "deprecated" in name else "removed", []).append(val)
        removed_keys(v, out)


def allowed_values(validator):
    for attr in ("container",):
        c = getattr(validator, attr, None)
        if isinstance(c, list | tuple | set | frozenset | dict):
            return sorted(str(x.value if isinstance(x, Enum) else x) for x in c)
    for v in getattr(validator, "validators", ()) or ():
        got = allowed_values(v)
        if got:
            return got
    return None


def keys_of(schema):
    out = {}
    for marker, validator in schema.schema.items():
        kind = type(marker).__name__
        name = str(getattr(marker, "schema", marker))
        entry = {"required": kind == "Required"}
        values = allowed_values(validator)
        if values:
            entry["values"] = values
        out[name] = entry
    return out


def availability_item():
    """The keys of one entry of the ``availability`` list (schemas.py _MQTT_AVAILABILITY_LIST_SCHEMA)."""
    lst = schemas._MQTT_AVAILABILITY_LIST_SCHEMA
    validator = next(v for k, v in lst.schema.items() if str(getattr(k, "schema", k)) == "availability")
    for v in validator.validators:
        if isinstance(v, list):
            return {str(getattr(k, "schema", k)): {"required": type(k).__name__ == "Required"} for k in v[0]}
    return {}


def platform_schemas():
    result = {}
    for platform in sorted(str(p) for p in mconst.ENTITY_PLATFORMS):
        try:
            module = importlib.import_module(f"homeassistant.components.mqtt.{platform}")
        except ImportError:
            continue
        schema = getattr(module, "DISCOVERY_SCHEMA", None)
        if schema is None:
            # light: one discovery schema per `schema` option; take the basic/default one
            schema = getattr(module, "DISCOVERY_SCHEMA_BASIC", None)
            if schema is None and hasattr(module, "schema_basic"):
                schema = module.schema_basic.DISCOVERY_SCHEMA_BASIC
        if schema is None:
            continue
        base = first_schema(schema)
        info = {"keys": keys_of(base)}
        extra = {}
        removed_keys(schema, extra)
        info.update(extra)
        result[platform] = info
    return result


def enum_values(module, name):
    mod = importlib.import_module(module)
    return sorted(m.value for m in getattr(mod, name))


def units(module, name):
    mod = importlib.import_module(module)
    table = getattr(mod, name)
    return {
        str(k.value): sorted("" if u is None else str(u.value if isinstance(u, Enum) else u) for u in v)
        for k, v in table.items()
    }


def water_heater_modes():
    """The operation modes Home Assistant's water heater translates (components/water_heater)."""
    wh = importlib.import_module("homeassistant.components.water_heater")
    names = (
        "STATE_ECO",
        "STATE_ELECTRIC",
        "STATE_GAS",
        "STATE_HEAT_PUMP",
        "STATE_HIGH_DEMAND",
        "STATE_PERFORMANCE",
    )
    return sorted([getattr(wh, n) for n in names] + ["off"])


def main():
    sensor = "homeassistant.components.sensor"
    data = {
        "source": {
            "repository": "home-assistant/core",
            "release": __version__,
            "files": [
                "homeassistant/components/mqtt/schemas.py",
                "homeassistant/components/mqtt/abbreviations.py",
                "homeassistant/components/mqtt/<platform>.py (DISCOVERY_SCHEMA)",
                "homeassistant/components/sensor/const.py",
            ],
        },
        "abbreviations": abbr.ABBREVIATIONS,
        "device_abbreviations": abbr.DEVICE_ABBREVIATIONS,
        "origin_abbreviations": getattr(abbr, "ORIGIN_ABBREVIATIONS", {}),
        "shared_options": [str(x) for x in schemas.SHARED_OPTIONS],
        "device_discovery": keys_of(first_schema(schemas.DEVICE_DISCOVERY_SCHEMA)),
        "device_info": keys_of(first_schema(schemas.MQTT_ENTITY_DEVICE_INFO_SCHEMA)),
        "origin_info": keys_of(first_schema(schemas.MQTT_ORIGIN_INFO_SCHEMA)),
        "availability_item": availability_item(),
        "platforms": platform_schemas(),
        "values": {
            "entity_category": enum_values("homeassistant.const", "EntityCategory"),
            "sensor.device_class": enum_values(sensor, "SensorDeviceClass"),
            "sensor.state_class": enum_values(sensor, "SensorStateClass"),
            "binary_sensor.device_class": enum_values(
                "homeassistant.components.binary_sensor", "BinarySensorDeviceClass"
            ),
            "switch.device_class": enum_values("homeassistant.components.switch", "SwitchDeviceClass"),
            "button.device_class": enum_values("homeassistant.components.button", "ButtonDeviceClass"),
            "number.device_class": enum_values("homeassistant.components.number", "NumberDeviceClass"),
            "number.mode": enum_values("homeassistant.components.number", "NumberMode"),
            "climate.hvac_mode": enum_values("homeassistant.components.climate", "HVACMode"),
            "climate.hvac_action": enum_values("homeassistant.components.climate", "HVACAction"),
            "water_heater.mode": water_heater_modes(),
        },
        "sensor.device_class_units": units(sensor + ".const", "DEVICE_CLASS_UNITS"),
        "number.device_class_units": units("homeassistant.components.number.const", "DEVICE_CLASS_UNITS"),
        "sensor.device_class_state_classes": {
            str(k.value): sorted(str(s.value) for s in v)
            for k, v in importlib.import_module(sensor + ".const").DEVICE_CLASS_STATE_CLASSES.items()
        },
    }
    json.dump(data, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
