"""Reading our MQTT messages the way Home Assistant's MQTT integration does (a test and benchmark aid).

Device-based discovery (``<prefix>/device/<id>/config``) is expanded like HA's ``discovery.py`` does
(abbreviations, ``cmps``, shared options merged into each component), then each component's state is
rendered from its topics and ``{{ value_json.<key> }}`` templates, with JSON attributes and availability.
The recorder writes one ``states`` row whenever an entity's (state, attributes) change: :func:`replay`
lists those rows. The abbreviations come from the pinned HA release's fixture (``ha_schema/``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "ha_schema" / "ha_2026_11_0.json"
_TEMPLATE = re.compile(r"^\{\{\s*value_json\.([A-Za-z0-9_]+)\s*(\|\s*(to_json|tojson)\s*)?\}\}$")
#: the component options whose templates make up what HA records for an entity (state and attributes)
_STATE_PAIRS = {
    "value_template": "state_topic",
    "mode_state_template": "mode_state_topic",
    "current_temperature_template": "current_temperature_topic",
    "temperature_state_template": "temperature_state_topic",
    "action_template": "action_topic",
}

_VALUE_PLATFORMS = {"sensor", "binary_sensor", "switch", "number", "select", "text"}


@cache
def ha_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


@dataclass(frozen=True, slots=True)
class Message:
    t: float  # seconds (simulated)
    topic: str
    payload: bytes
    retain: bool = False


def expand(payload: dict[str, Any]) -> dict[str, Any]:
    """A device discovery payload with HA's abbreviations replaced by the full option names."""
    schema = ha_schema()
    abbr, dev_abbr = schema["abbreviations"], schema["device_abbreviations"]
    origin_abbr = schema["origin_abbreviations"]

    def full(d: dict[str, Any], table: dict[str, str]) -> dict[str, Any]:
        return {table.get(k, k): v for k, v in d.items()}

    out = full(payload, abbr)
    if isinstance(out.get("device"), dict):
        out["device"] = full(out["device"], dev_abbr)
    if isinstance(out.get("origin"), dict):
        out["origin"] = full(out["origin"], origin_abbr)
    if isinstance(out.get("components"), dict):
        comps = {}
        for key, comp in out["components"].items():
            c = full(comp, abbr)
            if isinstance(c.get("availability"), list):
                c["availability"] = [full(a, abbr) for a in c["availability"]]
            comps[key] = c
        out["components"] = comps
    if isinstance(out.get("availability"), list):
        out["availability"] = [full(a, abbr) for a in out["availability"]]
    return out


def components(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The component configs of an expanded device payload, shared options merged in (HA's
    ``_merge_common_device_options``) and the device and origin attached, as HA validates them."""
    shared = ha_schema()["shared_options"]
    out = {}
    for key, comp in (payload.get("components") or {}).items():
        c = dict(comp)
        for option in shared:
            if option in payload and option not in c:
                c[option] = payload[option]
        c["device"] = payload.get("device")
        c["origin"] = payload.get("origin")
        out[key] = c
    return out


def render(template: str | None, payload: bytes) -> str:
    """What ``{{ value_json.<key> }}`` renders to (None renders as "None", HA's "no value")."""
    text = payload.decode("utf-8", "replace")
    if template is None:
        return text
    match = _TEMPLATE.match(template.strip())
    if match is None:
        raise ValueError(f"template not understood by the model: {template!r}")
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(data, dict) or match.group(1) not in data:
        return "<undefined>"  # HA logs a template warning for this
    value = data[match.group(1)]
    if match.group(2):
        return json.dumps(value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


@dataclass
class HaEntity:
    entity_id: str
    platform: str
    config: dict[str, Any]
    values: dict[str, str] = field(default_factory=dict)  # option -> rendered value
    attributes: str | None = None
    availability: dict[str, str] = field(default_factory=dict)
    last: tuple[Any, ...] | None = None

    def state(self) -> tuple[Any, ...]:
        avail = self.config.get("availability") or []
        if any(self.availability.get(a["topic"]) != a.get("payload_available", "online") for a in avail):
            return ("unavailable",)
        return (tuple(sorted(self.values.items())), self.attributes)


@dataclass
class Replay:
    entities: dict[str, HaEntity]
    rows: list[tuple[float, str]]  # (t, entity_id): one recorder row each
    disabled: int
    largest_attributes: tuple[int, str] | None
    warnings: list[str]


def entity_id_of(platform: str, comp: dict[str, Any], device_name: str) -> str:
    default = comp.get("default_entity_id")
    if default:
        return f"{platform}.{default.partition('.')[2]}"
    return f"{platform}.{re.sub(r'[^a-z0-9]+', '_', (device_name + ' ' + str(comp.get('name'))).lower())}"


def replay(messages: list[Message], prefix: str = "homeassistant") -> Replay:
    """Feed the captured messages, in order, to the model; list the recorder rows they cause."""
    entities: dict[str, HaEntity] = {}
    by_topic: dict[str, list[tuple[HaEntity, str]]] = {}
    rows: list[tuple[float, str]] = []
    warnings: list[str] = []
    disabled = 0
    largest: tuple[int, str] | None = None
    retained: dict[str, bytes] = {}
    config_topic = re.compile(rf"^{re.escape(prefix)}/device/[^/]+/config$")

    def record(ent: HaEntity, t: float) -> None:
        state = ent.state()
        if state != ent.last:
            ent.last = state
            rows.append((t, ent.entity_id))

    for m in messages:
        if config_topic.match(m.topic):
            if not m.payload:
                continue
            payload = expand(json.loads(m.payload))
            dev_name = str((payload.get("device") or {}).get("name", ""))
            for comp in components(payload).values():
                platform = comp.get("platform")
                if not platform:
                    continue
                if comp.get("enabled_by_default") is False:
                    disabled += 1
                    continue
                eid = entity_id_of(platform, comp, dev_name)
                if eid in entities:
                    continue  # a republished config: same entity
                ent = HaEntity(eid, platform, comp)
                entities[eid] = ent
                topics: list[tuple[str, str]] = []
                for tpl_key, topic_key in _STATE_PAIRS.items():
                    if tpl_key == "value_template" and platform not in _VALUE_PLATFORMS:
                        continue
                    if comp.get(topic_key):
                        topics.append((comp[topic_key], tpl_key))
                if comp.get("json_attributes_topic"):
                    topics.append((comp["json_attributes_topic"], "json_attributes_template"))
                for a in comp.get("availability") or []:
                    topics.append((a["topic"], "<availability>"))
                for topic, what in topics:
                    by_topic.setdefault(topic, []).append((ent, what))
                    if topic in retained:  # HA subscribes and gets the retained message
                        _apply(ent, what, topic, retained[topic], warnings)
                record(ent, m.t)
            continue
        retained[m.topic] = m.payload  # our state topics are retained: HA gets the last one on subscribing
        if not m.payload:
            retained.pop(m.topic, None)
        touched: dict[str, HaEntity] = {}
        for ent, what in by_topic.get(m.topic, ()):
            _apply(ent, what, m.topic, m.payload, warnings)
            if what == "json_attributes_template" and ent.attributes is not None:
                size = len(ent.attributes)
                if largest is None or size > largest[0]:
                    largest = (size, ent.entity_id)
            touched[ent.entity_id] = ent
        for ent in touched.values():  # HA writes each entity once per message (mqtt/models.py)
            record(ent, m.t)
    return Replay(entities, rows, disabled, largest, warnings)


def _apply(ent: HaEntity, what: str, topic: str, payload: bytes, warnings: list[str]) -> None:
    if what == "json_attributes_template":
        template = ent.config.get(what)
        ent.attributes = render(template, payload) if template else payload.decode("utf-8", "replace")
    elif what == "<availability>":
        ent.availability[topic] = payload.decode("utf-8", "replace")
    else:
        value = render(ent.config.get(what), payload)
        if value == "<undefined>":
            warnings.append(f"{ent.entity_id}: {ent.config.get(what)} is undefined in {topic}")
        ent.values[what] = value
