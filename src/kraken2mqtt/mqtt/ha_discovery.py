"""Home Assistant device-based MQTT discovery: each device's discovery payload and state, and the messages
that carry them (pure functions).

One retained ``<discovery_prefix>/device/<object_id>/config`` per device (``dev``, ``o``, ``cmps``) and one
JSON state topic ``<base>/<device>/state`` that every component of the device reads with a value template.
The same :class:`Entity` list drives both, so a component can never point at a state key that is not
published. Availability is the daemon's status topic AND a per-device topic that says whether the device's
data is fresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kraken2mqtt import __version__
from kraken2mqtt.controls import ACCOUNT, SPECS, Control
from kraken2mqtt.mqtt.command_parse import command_topic

ORIGIN = {"name": "kraken2mqtt", "sw": __version__, "url": "https://github.com/kraken2mqtt/kraken2mqtt"}
#: platforms whose state is the ``value_template`` of the shared state topic
VALUE_PLATFORMS = frozenset({"sensor", "binary_sensor", "switch", "number", "select", "text"})
ENUM = "enum"
#: the account's clock-gate topic (``<base>/account/clock``): published while the daemon waits for the clock,
#: when nothing else is
CLOCK_TOPIC = "clock"


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant component of a device, and where its state comes from."""

    key: str
    platform: str  # sensor, binary_sensor, switch, number, select, text, button, climate, water_heater
    name: str
    value: Any = None  # the state value (already computed); None → unknown
    control: Control | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # device_class, unit, icon, ...
    attributes: Mapping[str, Any] | None = None  # published as JSON attributes of this entity
    enabled: bool = True  # False: a duplicate or noisy entity, disabled by default in Home Assistant
    #: more state keys, published as ``<key>_<name>`` (climate / water heater: mode, current, target, action)
    values: Mapping[str, Any] = field(default_factory=dict)
    #: more command topics: option (``mode_command_topic``...) → the control it sends
    commands: Mapping[str, Control] = field(default_factory=dict)
    #: its own state topic ``<base>/<device>/<topic>`` (value and attributes), not the device's state
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class HaDevice:
    key: str  # topic segment and command device key
    name: str
    manufacturer: str
    model: str
    entities: tuple[Entity, ...]
    available: bool = True  # data fresh enough to be shown
    via: str | None = None  # the account device this one hangs off
    slug: str | None = None  # the device part of its entity ids (default: the key)


@dataclass(frozen=True, slots=True)
class Topics:
    base: str
    discovery_prefix: str
    #: also send ``object_id`` (the part of ``default_entity_id`` after the dot) for Home Assistant
    #: 2024.12-2025.9, which do not know ``default_entity_id`` (see :func:`entity_id`)
    legacy_object_id: bool = False

    def config(self, device_key: str) -> str:
        return f"{self.discovery_prefix}/device/{object_id(device_key)}/config"

    def state(self, device_key: str) -> str:
        return f"{self.base}/{device_key}/state"

    def availability(self, device_key: str) -> str:
        return f"{self.base}/{device_key}/availability"

    def own(self, device_key: str, topic: str) -> str:
        """An entity's own state topic (see :attr:`Entity.topic`)."""
        return f"{self.base}/{device_key}/{topic}"

    @property
    def clock(self) -> str:
        return self.own(ACCOUNT, CLOCK_TOPIC)

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def plan(self) -> str:
        """The whole plan (every device, 24 h, with reasons): retained, not an entity, so not recorded."""
        return f"{self.base}/plan"


def object_id(device_key: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in device_key)
    return f"kraken2mqtt_{cleaned}"


def slug(text: str) -> str:
    """Home Assistant's slugify for the characters our keys can hold: lower case, ``[a-z0-9_]``."""
    out = "".join(c if c.isascii() and c.isalnum() else "_" for c in text.lower())
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


def entity_id(platform: str, device_key: str, entity_key: str) -> str:
    """The entity id Home Assistant gives a component: ``<platform>.kraken2mqtt_<device>_<key>``.

    Sent as ``default_entity_id``. Home Assistant 2025.10 introduced it
    (homeassistant/components/mqtt/entity.py ``MqttEntity._init_entity_id``, tag 2025.10.0): the part after
    the first dot becomes the object id (2026.11.0 ``_init_entity_registry`` warns if the domain differs
    from the platform), and it is used once, when the entity is first added to the registry; later
    releases keep the registry's id. 2025.10-2026.3 also read the deprecated ``object_id`` and warn about it
    unless ``default_entity_id`` is present; 2026.4 removed ``object_id`` from the schema (schemas.py) and
    discovery drops unknown keys silently (``DISCOVERY_SCHEMA ... more=REMOVE_EXTRA`` in every platform).
    Home Assistant 2024.12-2025.9 know only ``object_id`` (2024.12.0 entity.py
    ``init_entity_id_from_config``) and drop ``default_entity_id`` the same way, so there the id comes
    from the names ("<device name> <entity name>") unless ``mqtt.ha_legacy_object_id`` adds ``object_id``.
    """
    return f"{platform}.kraken2mqtt_{slug(device_key)}_{slug(entity_key)}"


def on_off(value: bool | None) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


# ------------------------------------------------------------------------------------- discovery


def discovery_payload(dev: HaDevice, topics: Topics) -> dict[str, Any]:
    """The device-based discovery payload of one device."""
    components: dict[str, Any] = {}
    state_topic = topics.state(dev.key)
    for ent in dev.entities:
        own = topics.own(dev.key, ent.topic) if ent.topic is not None else None
        default_id = entity_id(ent.platform, dev.slug or dev.key, ent.key)
        comp: dict[str, Any] = {
            "p": ent.platform,
            "name": ent.name,
            "unique_id": f"{object_id(dev.key)}_{ent.key}",
            "default_entity_id": default_id,
        }
        if topics.legacy_object_id:
            comp["object_id"] = default_id.partition(".")[2]
        if own is not None:
            comp["state_topic"] = own
        if ent.platform in VALUE_PLATFORMS:
            comp["value_template"] = f"{{{{ value_json.{ent.key} }}}}"
        for sub in ent.values:
            topic_key, template_key = _SUB_STATE[sub]
            comp[topic_key] = state_topic
            comp[template_key] = f"{{{{ value_json.{ent.key}_{sub} }}}}"
        if ent.control is not None:
            comp["command_topic"] = command_topic(topics.base, dev.key, ent.control)
            spec = SPECS[ent.control]
            if ent.platform == "number":
                comp.update({"min": spec.minimum, "max": spec.maximum, "step": spec.step, "mode": "box"})
            elif ent.platform == "select":
                comp["options"] = list(spec.options)
            elif ent.platform == "text":
                comp["pattern"] = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
            elif ent.platform == "button":
                comp["payload_press"] = "PRESS"
        for option, control in ent.commands.items():
            comp[option] = command_topic(topics.base, dev.key, control)
        if ent.attributes is not None:
            # in the state message itself: Home Assistant then writes state and attributes at once (one
            # recorder row per change; mqtt/models.py EntityTopicState batches writes per message)
            comp["json_attributes_topic"] = own or state_topic
            comp["json_attributes_template"] = f"{{{{ value_json.{ent.key}_attributes | to_json }}}}"
        if not ent.enabled:
            comp["enabled_by_default"] = False
        comp.update(ent.options)
        components[ent.key] = comp
    device: dict[str, Any] = {
        "ids": [object_id(dev.key)],
        "name": dev.name,
        "mf": dev.manufacturer,
        "mdl": dev.model,
        "sw": __version__,
    }
    if dev.via is not None:
        device["via_device"] = object_id(dev.via)
    return {
        "dev": device,
        "o": ORIGIN,
        "cmps": components,
        "state_topic": state_topic,
        "availability": [{"topic": topics.status}, {"topic": topics.availability(dev.key)}],
        "availability_mode": "all",
        "qos": 1,
    }


#: climate / water heater state keys: (topic option, template option)
_SUB_STATE = {
    "mode": ("mode_state_topic", "mode_state_template"),
    "current": ("current_temperature_topic", "current_temperature_template"),
    "target": ("temperature_state_topic", "temperature_state_template"),
    "action": ("action_topic", "action_template"),
}


def state_payload(dev: HaDevice) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ent in dev.entities:
        if ent.topic is not None:
            continue  # published on its own topic
        if ent.platform in VALUE_PLATFORMS:
            out[ent.key] = _jsonable(ent.value)
        for sub, value in ent.values.items():
            out[f"{ent.key}_{sub}"] = _jsonable(value)
        if ent.attributes is not None:
            out[f"{ent.key}_attributes"] = json.loads(json.dumps(ent.attributes, default=str))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def messages(dev: HaDevice, topics: Topics) -> list[tuple[str, str, bool]]:
    """(topic, payload, retain) to publish for a device: state (with attributes), availability, then
    discovery. The state is retained on the broker before Home Assistant learns of the entity, so the entity
    reads it as it subscribes and never shows ``unknown`` first."""
    return [
        (topics.state(dev.key), json.dumps(state_payload(dev)), True),
        (topics.availability(dev.key), "online" if dev.available else "offline", True),
        (topics.config(dev.key), json.dumps(discovery_payload(dev, topics)), True),
    ]


def clock_message(topics: Topics, waiting_for: str | None) -> tuple[str, str, bool]:
    """The "Waiting for the clock" entity's state: ON with the reason while the clock gate is closed."""
    payload = {
        "waiting_for_clock": on_off(waiting_for is not None),
        "waiting_for_clock_attributes": {"reason": waiting_for} if waiting_for is not None else {},
    }
    return topics.clock, json.dumps(payload), True


def removed(previous: Iterable[str], current: Iterable[str], topics: Topics) -> list[tuple[str, str, bool]]:
    """Empty retained configs for devices that disappeared (Home Assistant then deletes them)."""
    gone = sorted(set(previous) - set(current))
    return [(topics.config(key), "", True) for key in gone] + [(topics.state(key), "", True) for key in gone]
