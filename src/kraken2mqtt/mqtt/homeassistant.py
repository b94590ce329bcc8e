"""Home Assistant: device-based MQTT discovery and the state each device publishes (pure functions).

One retained ``<discovery_prefix>/device/<object_id>/config`` per device (``dev``, ``o``, ``cmps``) and one
JSON state topic ``<base>/<device>/state`` that every component of the device reads with a value template.
The same :class:`Entity` list drives both, so a component can never point at a state key that is not
published. Availability is the daemon's status topic AND a per-device topic that says whether the device's
data is fresh.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, Generic, TypeVar, cast

from kraken2mqtt import __version__
from kraken2mqtt.controls import ACCOUNT, SPECS, Control
from kraken2mqtt.devices.base import LocalKind, ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.forecast.planning import plan_forecast
from kraken2mqtt.kraken.deployments import DEPLOYMENTS, Deployment
from kraken2mqtt.kraken.signals import STALE_AFTER, Signals
from kraken2mqtt.kraken.snapshot import (
    Device,
    DeviceKind,
    DeviceState,
    DispatchState,
    HeatPumpController,
    HeatPumpDeviceStatus,
    Snapshot,
    Stream,
)
from kraken2mqtt.mqtt.commands import command_topic
from kraken2mqtt.planner.model import ActionKind, DeviceAction, DevicePlan, Plan

ORIGIN = {"name": "kraken2mqtt", "sw": __version__, "url": "https://github.com/kraken2mqtt/kraken2mqtt"}
PLAN_HOURS = 24
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


# ----------------------------------------------------------------------------------- the devices


@dataclass(frozen=True)
class ForecastShown:
    """What the forecasts say now (kraken2mqtt.forecast), rounded as a person reads it."""

    solar_rest_of_today_kwh: float | None = None
    solar_tomorrow_kwh: float | None = None
    solar_now_kw: float | None = None
    outdoor_c: float | None = None
    fetched_at: datetime | None = None
    stale: bool = False
    house_load_kw: float | None = None
    house_load_learned: bool = False


@dataclass(frozen=True, slots=True)
class View:
    """Everything the Home Assistant side shows, at one instant."""

    snapshot: Snapshot
    signals: Signals
    now: datetime
    plan: Plan | None = None
    local_devices: Sequence[DeviceConfig] = ()
    reported: Mapping[str, ReportedState] = field(default_factory=dict)
    planner_modes: Mapping[str, str] = field(default_factory=dict)
    #: a control's value shown in place of the read-back: the value of a command Kraken answered
    #: ``done`` (device key, control) → value, until the read-back changes (see ``ha_publisher``)
    overrides: Mapping[tuple[str, Control], Any] = field(default_factory=dict)
    #: local devices held for a person's change (``mqtt.holds``): device → held_until, hold, reason
    holds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    forecast: ForecastShown | None = None
    #: each local device's action now, as the driver got it (``devices.reconcile.wanted_actions``)
    actions: Mapping[str, DeviceAction] = field(default_factory=dict)


def build(view: View, key_of: Callable[[Device], str]) -> list[HaDevice]:
    account = account_device(view)
    devices = [account]
    controllers = list(view.snapshot.heat_pumps.controllers if view.snapshot.heat_pumps else ())
    for dev in view.snapshot.devices.devices if view.snapshot.devices else ():
        # the backend's controllers carry no device id: the n-th controller is the n-th heat pump
        controller = controllers.pop(0) if dev.kind == DeviceKind.HEAT_PUMP and controllers else None
        devices.append(kraken_device(view, dev, key_of(dev), account.key, controller))
    for cfg in view.local_devices:
        devices.append(local_device(view, cfg, account.key))
    return _unique_names(devices)


def _unique_names(devices: list[HaDevice]) -> list[HaDevice]:
    """Two devices never share a name: a local device named like a Kraken one says it is the local one."""
    seen: Counter[str] = Counter(d.name for d in devices)
    out = []
    for d in devices:
        if seen[d.name] > 1 and d.manufacturer == LOCAL_MANUFACTURER:
            d = replace(d, name=f"{d.name} (local control)")
        out.append(d)
    return out


def readbacks(view: View, key_of: Callable[[Device], str]) -> dict[tuple[str, Control], Any]:
    """What Kraken says each control is set to now (None: Kraken does not say), in command values."""
    out: dict[tuple[str, Control], Any] = {}
    snap = view.snapshot
    if snap.prepay is not None:
        cfg = snap.prepay.current_config(view.now)
        out[(ACCOUNT, Control.TOP_UP_AMOUNT)] = cfg.topup_amount if cfg else None
    for dev in snap.devices.devices if snap.devices else ():
        key = key_of(dev)
        if dev.is_ev:
            out[(key, Control.BOOST)] = dev.state == DeviceState.BOOSTING
            out[(key, Control.SMART_CONTROL)] = None if dev.suspended is None else not dev.suspended
            out[(key, Control.TARGET_SOC)] = _target_soc(dev)
            out[(key, Control.READY_BY)] = _ready_by(dev)
        if dev.kind == DeviceKind.HEAT_PUMP:
            hp = dev.heat_pump
            out[(key, Control.SETPOINT)] = _num(hp.target_temperature) if hp else None
            out[(key, Control.ZONE_MODE)] = _zone_mode(hp.mode if hp else None)
            out[(key, Control.HOT_WATER_BOOST)] = None
    return out


def _zone_mode(mode: str | None) -> str | None:
    if mode is None:
        return None
    return "OFF" if mode.upper() in {"OFF", "DISABLED"} else "ON"


def _shown(view: View, key: str, control: Control, readback: Any) -> Any:
    return view.overrides.get((key, control), readback)


def _money(view: View, minor: Decimal | float | int | None) -> float | None:
    if minor is None:
        return None
    return round(float(minor) / DEPLOYMENTS[view.snapshot.deployment].minor_per_major, 5)


# ------------------------------------------------------------------------- entity descriptions
#
# Each device kind's entities are declared as data, the way Home Assistant's own integrations describe
# theirs (``SensorEntityDescription``): key, platform, name, the function that reads the value from the
# device's context, device class, unit, state class, category, the control it sends. The builders are
# loops over these tables. An :class:`EntityFamily` stands for entities that come and go with the data
# (one per polled stream, one per heat-pump zone).

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class EntityDescription(Generic[C]):
    key: str
    platform: str
    name: str
    value: Callable[[C], Any] | None = None
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    category: str | None = None  # "diagnostic" | "config"
    icon: str | None = None
    control: Control | None = None
    #: other discovery options (enum options, precision, climate modes...), or a function of the context
    more: Mapping[str, Any] | Callable[[C], Mapping[str, Any]] = field(default_factory=dict)
    attributes: Callable[[C], Mapping[str, Any] | None] | None = None
    enabled: bool | Callable[[C], bool] = True
    values: Callable[[C], Mapping[str, Any]] | None = None
    commands: Mapping[str, Control] = field(default_factory=dict)
    #: whether the device has this entity (None: always)
    exists: Callable[[C], bool] | None = None
    #: its own state topic under the device (``<base>/<device>/<topic>``), published apart from the state
    topic: str | None = None

    def options(self, ctx: C) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for option, value in (
            ("device_class", self.device_class),
            ("unit_of_measurement", self.unit),
            ("state_class", self.state_class),
            ("entity_category", self.category),
            ("icon", self.icon),
        ):
            if value is not None:
                out[option] = value
        out.update(self.more(ctx) if callable(self.more) else self.more)
        return out

    def entities(self, ctx: C) -> list[Entity]:
        if self.exists is not None and not self.exists(ctx):
            return []
        enabled = self.enabled(ctx) if callable(self.enabled) else self.enabled
        return [
            Entity(
                self.key,
                self.platform,
                self.name,
                self.value(ctx) if self.value is not None else None,
                control=self.control,
                options=self.options(ctx),
                attributes=self.attributes(ctx) if self.attributes is not None else None,
                enabled=enabled,
                values=self.values(ctx) if self.values is not None else {},
                commands=self.commands,
                topic=self.topic,
            )
        ]


@dataclass(frozen=True, slots=True)
class EntityFamily(Generic[C]):
    """Entities that come and go with the data: a function of the context."""

    make: Callable[[C], Iterable[Entity]]

    def entities(self, ctx: C) -> list[Entity]:
        return list(self.make(ctx))


Table = tuple[EntityDescription[C] | EntityFamily[C], ...]


def from_table(table: Table[C], ctx: C) -> list[Entity]:
    return [ent for desc in table for ent in desc.entities(ctx)]


DIAGNOSTIC = "diagnostic"
CONFIG = "config"
MEASUREMENT = "measurement"
TIMESTAMP = "timestamp"


# ----------------------------------------------------------------------------------- the account


def _dep(view: View) -> Deployment:
    return DEPLOYMENTS[view.snapshot.deployment]


def _per_kwh(view: View) -> dict[str, Any]:
    return {
        "unit_of_measurement": f"{_dep(view).currency}/kWh",
        "state_class": MEASUREMENT,
        "icon": "mdi:cash",
    }


def _price(key: str, name: str, rate: Callable[[Signals], Decimal | None]) -> EntityDescription[View]:
    return EntityDescription(
        key,
        "sensor",
        name,
        lambda v: _money(v, rate(v.signals)),
        more=lambda v: {**_per_kwh(v), "suggested_display_precision": 4},
    )


def _fetched_entities(view: View) -> Iterable[Entity]:
    snap, sig = view.snapshot, view.signals
    for stream in sorted(sig.ages, key=lambda s: s.value):
        if stream in STALE_AFTER:
            yield Entity(
                f"fetched_{stream.value}",
                "sensor",
                f"{stream.value.replace('_', ' ').capitalize()} fetched at",
                iso(snap.stream(stream).fetched_at),
                options={"device_class": TIMESTAMP, "entity_category": DIAGNOSTIC},
                enabled=False,  # changes on every poll of its stream
            )


def _current_topup(view: View) -> int | None:
    prepay = view.snapshot.prepay
    cfg = prepay.current_config(view.now) if prepay is not None else None
    return cfg.topup_amount if cfg else None


def _topup_shown(view: View) -> float | None:
    """In minor units, as a float like every number's state (HA shows ``2000.0`` whether it came from a
    poll or from the command's value)."""
    return _float(_shown(view, ACCOUNT, Control.TOP_UP_AMOUNT, _current_topup(view)))


def _topup_options(view: View) -> dict[str, Any]:
    """The amount in the command's own unit, the currency's minor unit (pence; whole yen), so what HA sends
    is what it shows. Where the minor unit is the currency (yen) it is a monetary amount."""
    dep, spec = _dep(view), SPECS[Control.TOP_UP_AMOUNT]
    out: dict[str, Any] = {}
    if dep.minor_per_major == 1:
        out["device_class"] = "monetary"
        out["unit_of_measurement"] = dep.currency
    else:
        out["unit_of_measurement"] = dep.minor_unit
        out["icon"] = "mdi:cash-plus"
    out["entity_category"] = CONFIG
    return {**out, "min": spec.minimum, "max": spec.maximum, "step": spec.step}


def _topup_attributes(view: View) -> dict[str, Any] | None:
    dep = _dep(view)
    if dep.minor_per_major == 1:
        return None
    value = _topup_shown(view)
    return {"amount": _money(view, value), "currency": dep.currency}


def _dropped_attributes(view: View) -> dict[str, Any]:
    return {"selections": {name: why[:200] for name, why in sorted(view.snapshot.dropped.items())[:20]}}


def _has_prepay_balance(view: View) -> bool:
    prepay = view.snapshot.prepay
    return prepay is not None and prepay.balance is not None


def _plan_entities(view: View) -> Iterable[Entity]:
    if view.plan is not None:
        dep = _dep(view)
        yield plan_entity(view.plan, view.now, dep.currency, dep.minor_per_major)


def _forecast_family(view: View) -> Iterable[Entity]:
    return forecast_entities(view.forecast) if view.forecast is not None else ()


ACCOUNT_ENTITIES: Table[View] = (
    _price("import_price", "Import price", lambda s: s.import_rate),
    _price("billed_price", "Price billed now", lambda s: s.dispatch_adjusted_rate),
    _price("export_price", "Export price", lambda s: s.export_rate),
    EntityDescription(
        "off_peak",
        "binary_sensor",
        "Off-peak now",
        lambda v: on_off(v.signals.off_peak_now),
        icon="mdi:clock-check",
    ),
    EntityDescription(
        "dispatching",
        "binary_sensor",
        "Dispatching now",
        lambda v: on_off(v.signals.dispatching_now),
        device_class="running",
    ),
    EntityDescription(
        "next_dispatch", "sensor", "Next dispatch", lambda v: iso(v.signals.next_dispatch_start), TIMESTAMP
    ),
    EntityDescription(
        "dispatch_end",
        "sensor",
        "Current dispatch ends",
        lambda v: iso(v.signals.current_dispatch_end),
        TIMESTAMP,
    ),
    EntityDescription(
        "data_fetched_at",
        "sensor",
        "Data fetched at",
        lambda v: iso(_oldest_fetch(v.snapshot, v.signals)),
        TIMESTAMP,
        category=DIAGNOSTIC,
    ),
    EntityDescription(
        "stale",
        "binary_sensor",
        "Stale data",
        lambda v: on_off(bool(v.signals.stale)),
        "problem",
        category=DIAGNOSTIC,
        attributes=lambda v: {"streams": sorted(s.value for s in v.signals.stale)},
    ),
    EntityDescription("refresh", "button", "Refresh now", category=CONFIG, control=Control.REFRESH),
    EntityFamily(_fetched_entities),
    EntityDescription(
        "rate_limit_remaining",
        "sensor",
        "API points remaining",
        lambda v: v.snapshot.rate_limit.remaining if v.snapshot.rate_limit else None,
        state_class=MEASUREMENT,
        category=DIAGNOSTIC,
        enabled=False,  # changes on every request
        exists=lambda v: v.snapshot.rate_limit is not None and v.snapshot.rate_limit.remaining is not None,
    ),
    EntityDescription(
        "dropped_selections",
        "sensor",
        "Dropped API selections",
        lambda v: len(v.snapshot.dropped),
        category=DIAGNOSTIC,
        icon="mdi:api-off",
        attributes=_dropped_attributes,
    ),
    EntityDescription(
        "waiting_for_clock",
        "binary_sensor",
        "Waiting for the clock",
        device_class="problem",
        category=DIAGNOSTIC,
        topic=CLOCK_TOPIC,  # published by the clock gate while nothing else is (mqtt.ha_publisher)
        attributes=lambda v: {},
    ),
    EntityDescription(
        "prepay_credit",
        "sensor",
        "Prepay credit",
        lambda v: _money(
            v, v.snapshot.prepay.balance.credit if v.snapshot.prepay and v.snapshot.prepay.balance else None
        ),
        "monetary",
        more=lambda v: {"unit_of_measurement": _dep(v).currency},
        exists=_has_prepay_balance,
    ),
    EntityDescription(
        "top_up_amount",
        "number",
        "Auto top-up amount",
        _topup_shown,
        control=Control.TOP_UP_AMOUNT,
        more=_topup_options,
        attributes=_topup_attributes,
        exists=_has_prepay_balance,
    ),
    EntityFamily(_forecast_family),
    EntityFamily(_plan_entities),
)


def account_device(view: View) -> HaDevice:
    snap, dep = view.snapshot, _dep(view)
    number = snap.account_number or "account"
    return HaDevice(
        key=ACCOUNT,
        name=f"Kraken account {number}",
        manufacturer=dep.label,
        model=snap.mode,
        entities=tuple(from_table(ACCOUNT_ENTITIES, view)),
        available=Stream.TARIFFS not in view.signals.stale,
    )


_SUN = {"suggested_display_precision": 1, "icon": "mdi:solar-power-variant"}

FORECAST_ENTITIES: Table[ForecastShown] = (
    EntityDescription(
        "solar_forecast_today",
        "sensor",
        "Solar forecast rest of today",
        lambda f: f.solar_rest_of_today_kwh,
        "energy",
        "kWh",
        more=_SUN,
        exists=lambda f: f.solar_rest_of_today_kwh is not None or f.solar_tomorrow_kwh is not None,
    ),
    EntityDescription(
        "solar_forecast_tomorrow",
        "sensor",
        "Solar forecast tomorrow",
        lambda f: f.solar_tomorrow_kwh,
        "energy",
        "kWh",
        more=_SUN,
        exists=lambda f: f.solar_rest_of_today_kwh is not None or f.solar_tomorrow_kwh is not None,
    ),
    EntityDescription(
        "solar_forecast_now",
        "sensor",
        "Solar forecast now",
        lambda f: f.solar_now_kw,
        "power",
        "kW",
        MEASUREMENT,
        exists=lambda f: f.solar_rest_of_today_kwh is not None or f.solar_tomorrow_kwh is not None,
    ),
    EntityDescription(
        "forecast_outdoor",
        "sensor",
        "Forecast outdoor temperature",
        lambda f: f.outdoor_c,
        "temperature",
        "°C",
        MEASUREMENT,
        exists=lambda f: f.outdoor_c is not None,
    ),
    EntityDescription(
        "forecast_fetched_at",
        "sensor",
        "Forecast fetched at",
        lambda f: iso(f.fetched_at),
        TIMESTAMP,
        category=DIAGNOSTIC,
        attributes=lambda f: {"stale": f.stale},
    ),
    EntityDescription(
        "house_base_load",
        "sensor",
        "House base load",
        lambda f: f.house_load_kw,
        "power",
        "kW",
        MEASUREMENT,
        attributes=lambda f: {"source": "learned" if f.house_load_learned else "configured"},
        exists=lambda f: f.house_load_kw is not None,
    ),
)


def forecast_entities(fc: ForecastShown) -> list[Entity]:
    """The sun and the weather the plan counts on, and the house's base load it plans around."""
    return from_table(FORECAST_ENTITIES, fc)


def _oldest_fetch(snap: Snapshot, sig: Signals) -> datetime | None:
    """When the oldest of the polled streams was fetched: everything shown is at least this recent."""
    times = [snap.stream(s).fetched_at for s in sig.ages if s in STALE_AFTER]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def plan_signature(plan: Plan | None, now: datetime) -> tuple[Any, ...]:
    """What a person sees of a plan: each device's blocks of one action and when they change, over the
    next 24 h. Not the costs and powers, which move a little on every pass, nor the current block's start
    or the blocks near the horizon, which move with the clock. The plan is shown again only when this
    changes."""
    if plan is None:
        return ()
    # the last hour before the plan's horizon changes as the horizon moves with the clock
    until = min(now + timedelta(hours=PLAN_HOURS), plan.end - timedelta(hours=1))
    out = []
    for dp in plan.devices:
        blocks: list[tuple[datetime | None, str, float | None]] = []
        for iv in dp.intervals:
            if iv.end <= now or iv.start >= until:
                continue
            setpoint = None if iv.action.setpoint_c is None else round(iv.action.setpoint_c * 2) / 2
            kind = (iv.action.kind.value, setpoint)
            if blocks and blocks[-1][1:] == kind:
                continue
            blocks.append((None if iv.start <= now else _five_minutes(iv.start), *kind))
        out.append((dp.device_id, tuple(blocks)))
    return tuple(out)


def _five_minutes(t: datetime) -> datetime:
    """A block's start to the nearest 5 minutes: a heating run's end moves by seconds on every pass."""
    return datetime.fromtimestamp(round(t.timestamp() / 300) * 300, tz=t.tzinfo)


def plan_document(plan: Plan, now: datetime) -> dict[str, Any]:
    """The plan for the retained ``<base>/plan`` topic: every device's next 24 h with reasons."""
    until = now + timedelta(hours=PLAN_HOURS)
    devices = {}
    for dp in plan.devices:
        devices[dp.device_id] = {
            "summary": dp.summary,
            "warnings": list(dp.warnings),
            "intervals": [
                {
                    "start": iv.start.isoformat(),
                    "end": iv.end.isoformat(),
                    "action": iv.action.kind.value,
                    "power_kw": round(iv.action.power_kw, 2),
                    "reason": iv.action.reason,
                }
                for iv in dp.intervals
                if iv.end > now and iv.start < until
            ],
        }
    out: dict[str, Any] = {
        "planned_at": plan.now.isoformat(),
        "warnings": list(plan.warnings),
        "devices": devices,
        # what the plan counted on per slot: sun, house load and outdoor temperature
        "forecast": plan_forecast(plan, now, hours=PLAN_HOURS),
    }
    if plan.topup is not None:
        out["topup"] = plan.topup.message
    return out


def plan_entity(plan: Plan, now: datetime, currency: str = "GBP", minor_per_major: int = 100) -> Entity:
    """The plan's cost as state; each device's summary as (small) attributes. The whole plan, with every
    interval and reason, is on the retained ``<base>/plan`` topic, which Home Assistant does not record."""
    attributes: dict[str, Any] = {
        "devices": {dp.device_id: dp.summary for dp in plan.devices},
        "warnings": list(plan.warnings)[:10],
    }
    if plan.topup is not None:
        attributes["topup"] = plan.topup.message
    return Entity(
        "plan_cost",
        "sensor",
        "Planned cost",
        round(plan.total_cost_p / minor_per_major, 2),
        options={
            "device_class": "monetary",
            "unit_of_measurement": currency,
            "icon": "mdi:calendar-clock",
            "suggested_display_precision": 2,
        },
        attributes=attributes,
    )


# -------------------------------------------------------------------------------- Kraken devices

_KRAKEN_MODEL = {
    DeviceKind.VEHICLE: "Electric vehicle",
    DeviceKind.CHARGE_POINT: "Charge point",
    DeviceKind.BATTERY: "Home battery",
    DeviceKind.INVERTER: "Inverter",
    DeviceKind.HEAT_PUMP: "Heat pump",
    DeviceKind.STORAGE_HEATERS: "Storage heaters",
}
#: the enum sensor's options: Home Assistant's convention is lower-case snake case
DEVICE_STATES = tuple(s.value.lower() for s in DeviceState if s is not DeviceState.UNKNOWN)
#: the type of the EV's current (or else next) dispatch (flexPlannedDispatches ``type``); "none": no dispatch
DISPATCH_TYPES = ("none", "smart", "boost", "test")
LOCAL_MANUFACTURER = "kraken2mqtt"
_ZONES = {"WATER": "Hot water", "AUX": "Auxiliary", "AUXILIARY": "Auxiliary"}
_HVAC_ACTIONS = {"HEATING": "heating", "PRE_HEATING": "preheating", "IDLE": "idle", "OFF": "off"}


def zone_name(zone: str) -> str:
    """``ZONE1`` → "Zone 1", ``WATER`` → "Hot water"."""
    upper = zone.upper()
    if upper in _ZONES:
        return _ZONES[upper]
    if upper.startswith("ZONE") and upper[4:].isdigit():
        return f"Zone {int(upper[4:])}"
    return zone.replace("_", " ").capitalize()


class KrakenCtx:
    """A Kraken device as its entities read it: the view, the device, its topic key, and what is shown."""

    def __init__(
        self, view: View, dev: Device, key: str, controller: HeatPumpController | None = None
    ) -> None:
        self.view, self.dev, self.key, self.controller = view, dev, key, controller

    def shown(self, control: Control, readback: Any) -> Any:
        return _shown(self.view, self.key, control, readback)

    @cached_property
    def hp(self) -> HeatPumpDeviceStatus | None:
        return self.dev.heat_pump

    @cached_property
    def setpoint(self) -> float | None:
        hp = self.hp
        return _float(self.shown(Control.SETPOINT, _num(hp.target_temperature) if hp else None))

    @cached_property
    def zone_mode(self) -> str | None:
        return cast(str | None, self.shown(Control.ZONE_MODE, _zone_mode(self.hp.mode if self.hp else None)))

    @cached_property
    def hot_water_boost(self) -> bool:
        # Kraken does not report a hot-water boost: the switch shows the last one kraken2mqtt asked for
        return bool(self.shown(Control.HOT_WATER_BOOST, False))

    @cached_property
    def temps(self) -> dict[str, float]:
        return {zone.upper(): float(value) for zone, value in (self.hp.zone_temperatures if self.hp else ())}

    def hvac_action(self) -> str | None:
        hp = self.hp
        if self.zone_mode is None:
            return None
        if self.zone_mode == "OFF":
            return "off"
        return _HVAC_ACTIONS.get((hp.activity or "").upper(), "idle") if hp and hp.activity else None

    def dispatch_type(self) -> str | None:
        """The type of the dispatch for this device now, else of its next one ("none" when there is none)."""
        now = self.view.now
        mine = [
            d
            for d in self.view.snapshot.dispatches
            if d.end > now
            and d.state in (DispatchState.PLANNED, DispatchState.STARTED)
            and (d.device_id is None or d.device_id == self.dev.id)
        ]
        if not mine:
            return "none"
        current = [d for d in mine if d.start <= now]
        d = min(current or mine, key=lambda x: x.start)
        kind = (d.type or "").lower()
        return kind if kind in DISPATCH_TYPES else None


def _heating_values(c: KrakenCtx) -> dict[str, Any]:
    mode = c.zone_mode
    return {
        "mode": None if mode is None else ("heat" if mode == "ON" else "off"),
        "current": next((v for z, v in c.temps.items() if z != "WATER"), None),
        "target": c.setpoint,
        "action": c.hvac_action(),
    }


def _zone_temperatures(c: KrakenCtx) -> Iterable[Entity]:
    for zone, value in c.hp.zone_temperatures if c.hp else ():
        yield Entity(
            f"temperature_{_slug(zone)}",
            "sensor",
            f"{zone_name(zone)} temperature",
            float(value),
            options=TEMPERATURE,
        )


def _has_live(c: KrakenCtx) -> bool:
    return c.controller is not None and c.controller.live_read_at is not None


def _live(read: Callable[[HeatPumpController], Decimal | None]) -> Callable[[KrakenCtx], float | None]:
    return lambda c: _num(read(c.controller)) if c.controller is not None else None


def _live_kw(read: Callable[[HeatPumpController], Decimal | None]) -> Callable[[KrakenCtx], int | None]:
    return lambda c: _watts(read(c.controller)) if c.controller is not None else None


TEMPERATURE = {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": MEASUREMENT}

KRAKEN_ENTITIES: Table[KrakenCtx] = (
    EntityDescription(
        "state",
        "sensor",
        "State",
        lambda c: c.dev.state.value.lower() if c.dev.state is not DeviceState.UNKNOWN else None,
        ENUM,
        more={"options": list(DEVICE_STATES)},
    ),
    EntityDescription(
        "suspended",
        "binary_sensor",
        "Smart control suspended",
        lambda c: on_off(c.dev.suspended),
        category=DIAGNOSTIC,
        enabled=lambda c: not c.dev.is_ev,  # an EV has the "Smart control" switch
    ),
)

EV_ENTITIES: Table[KrakenCtx] = (
    EntityDescription(
        "plugged_in", "binary_sensor", "Plugged in", lambda c: on_off(c.dev.plugged_in), "plug"
    ),
    EntityDescription(
        "boost",
        "switch",
        "Boost charge",
        lambda c: on_off(c.shown(Control.BOOST, c.dev.state == DeviceState.BOOSTING)),
        icon="mdi:rocket-launch",
        control=Control.BOOST,
    ),
    EntityDescription(
        "smart_control",
        "switch",
        "Smart control",
        lambda c: on_off(
            c.shown(Control.SMART_CONTROL, None if c.dev.suspended is None else not c.dev.suspended)
        ),
        control=Control.SMART_CONTROL,
    ),
    EntityDescription(
        "target_soc",
        "number",
        "Target charge",
        lambda c: _float(c.shown(Control.TARGET_SOC, _target_soc(c.dev))),
        unit="%",
        category=CONFIG,
        control=Control.TARGET_SOC,
    ),
    EntityDescription(
        "ready_by",
        "text",
        "Ready by",
        lambda c: c.shown(Control.READY_BY, _ready_by(c.dev)),
        category=CONFIG,
        control=Control.READY_BY,
    ),
    EntityDescription(
        "soc_limit",
        "sensor",
        "Charge limit",
        lambda c: c.dev.soc_limit.upper_soc_limit if c.dev.soc_limit else None,
        unit="%",
        category=DIAGNOSTIC,
        exists=lambda c: c.dev.soc_limit is not None and c.dev.soc_limit.upper_soc_limit is not None,
    ),
    EntityDescription(
        "dispatch_type",
        "sensor",
        "Dispatch type",
        KrakenCtx.dispatch_type,
        ENUM,
        icon="mdi:ev-station",
        more={"options": list(DISPATCH_TYPES)},
    ),
    EntityDescription(
        "soc",
        "sensor",
        "State of charge",
        lambda c: _num(c.dev.soc_percent),
        "battery",
        "%",
        MEASUREMENT,
        exists=lambda c: c.dev.soc_percent is not None,
    ),
    EntityDescription(
        "active_power",
        "sensor",
        "Charging power",
        lambda c: _watts(c.dev.active_power_kw),
        "power",
        "W",
        MEASUREMENT,
        exists=lambda c: c.dev.active_power_kw is not None,
    ),
)


def _watts_sensor(
    key: str, name: str, value: Callable[[C], int | None], exists: Callable[[C], bool] | None = None
) -> EntityDescription[C]:
    return EntityDescription(key, "sensor", name, value, "power", "W", MEASUREMENT, exists=exists)


INVERTER_ENTITIES: Table[KrakenCtx] = (
    EntityDescription(
        "battery_soc",
        "sensor",
        "Battery charge",
        lambda c: _num(c.dev.telemetry.battery_soc) if c.dev.telemetry else None,
        "battery",
        "%",
        MEASUREMENT,
    ),
    _watts_sensor(
        "battery_power",
        "Battery power",
        lambda c: _watts(c.dev.telemetry.battery_power_kw) if c.dev.telemetry else None,
    ),
    _watts_sensor(
        "grid_power",
        "Grid power",
        lambda c: _watts(c.dev.telemetry.grid_power_kw) if c.dev.telemetry else None,
    ),
    _watts_sensor(
        "solar_power",
        "Solar power",
        lambda c: _watts(c.dev.telemetry.solar_power_kw) if c.dev.telemetry else None,
    ),
)


def _climate_options(c: KrakenCtx) -> dict[str, Any]:
    spec = SPECS[Control.SETPOINT]
    return {
        "modes": ["heat", "off"],
        "mode_command_template": "{{ 'ON' if value == 'heat' else 'OFF' }}",
        "min_temp": spec.minimum,
        "max_temp": spec.maximum,
        "temp_step": spec.step,
        "precision": 0.1,
        "temperature_unit": "C",
    }


HEAT_PUMP_ENTITIES: Table[KrakenCtx] = (
    EntityDescription(
        "heating",
        "climate",
        "Heating",
        values=_heating_values,
        more=_climate_options,
        commands={"mode_command_topic": Control.ZONE_MODE, "temperature_command_topic": Control.SETPOINT},
    ),
    EntityDescription(
        "hot_water",
        "water_heater",
        "Hot water",
        values=lambda c: {
            "mode": "high_demand" if c.hot_water_boost else "heat_pump",
            "current": c.temps.get("WATER"),
        },
        more={
            "modes": ["heat_pump", "high_demand"],
            "mode_command_template": "{{ 'ON' if value == 'high_demand' else 'OFF' }}",
            "precision": 0.1,
            "temperature_unit": "C",
        },
        commands={"mode_command_topic": Control.HOT_WATER_BOOST},
    ),
    EntityDescription(
        "target_temperature",
        "sensor",
        "Target temperature",
        lambda c: _num(c.hp.target_temperature) if c.hp else None,
        "temperature",
        "°C",
        MEASUREMENT,
        enabled=False,  # the setpoint number and the climate entity show it
    ),
    EntityDescription(
        "setpoint",
        "number",
        "Setpoint",
        lambda c: c.setpoint,
        "temperature",
        "°C",
        control=Control.SETPOINT,
    ),
    EntityDescription("zone_mode", "select", "Heating", lambda c: c.zone_mode, control=Control.ZONE_MODE),
    EntityDescription(
        "hot_water_boost",
        "switch",
        "Hot water boost",
        lambda c: on_off(c.hot_water_boost),
        control=Control.HOT_WATER_BOOST,
    ),
    EntityFamily(_zone_temperatures),
    # live telemetry from GB's backend endpoint (heatPumpLivePerformance), every 5 minutes
    EntityDescription(
        "cop",
        "sensor",
        "Coefficient of performance",
        _live(lambda h: h.cop),
        state_class=MEASUREMENT,
        icon="mdi:heat-pump",
        more={"suggested_display_precision": 2},
        exists=_has_live,
    ),
    EntityDescription(
        "outdoor_temperature",
        "sensor",
        "Outdoor temperature",
        _live(lambda h: h.outdoor_temperature_c),
        "temperature",
        "°C",
        MEASUREMENT,
        exists=_has_live,
    ),
    _watts_sensor("power_input", "Power input", _live_kw(lambda h: h.power_input_kw), _has_live),
    _watts_sensor("heat_output", "Heat output", _live_kw(lambda h: h.heat_output_kw), _has_live),
    EntityDescription(
        "live_read_at",
        "sensor",
        "Live data read at",
        lambda c: iso(c.controller.live_read_at) if c.controller else None,
        TIMESTAMP,
        category=DIAGNOSTIC,
        enabled=False,  # changes on every read
        exists=_has_live,
    ),
)

ALERT_ENTITIES: Table[KrakenCtx] = (
    EntityDescription(
        "alert",
        "sensor",
        "Latest alert",
        lambda c: (c.dev.alerts[0].message or "")[:250] if c.dev.alerts else None,
        category=DIAGNOSTIC,
        exists=lambda c: bool(c.dev.alerts),
    ),
)


def _kraken_tables(dev: Device) -> list[Table[KrakenCtx]]:
    tables = [KRAKEN_ENTITIES]
    if dev.is_ev:
        tables.append(EV_ENTITIES)
    if dev.telemetry is not None:
        tables.append(INVERTER_ENTITIES)
    if dev.kind == DeviceKind.HEAT_PUMP:
        tables.append(HEAT_PUMP_ENTITIES)
    return [*tables, ALERT_ENTITIES]


def kraken_device(
    view: View, dev: Device, key: str, via: str, controller: HeatPumpController | None = None
) -> HaDevice:
    ctx = KrakenCtx(view, dev, key, controller)
    stale = {Stream.DEVICES} & view.signals.stale
    return HaDevice(
        key=key,
        name=dev.name or _KRAKEN_MODEL.get(dev.kind, "Device"),
        manufacturer=dev.make or "Kraken",
        model=dev.model or _KRAKEN_MODEL.get(dev.kind, dev.kind.value),
        entities=tuple(ent for table in _kraken_tables(dev) for ent in from_table(table, ctx)),
        available=not stale,
        via=via,
        slug=kraken_slug(dev),
    )


def kraken_slug(dev: Device) -> str:
    """A Kraken device's part of its entity ids: its kind and the end of its id (``heat_pump_f001``), not a
    UUID; a short id (a legacy device's) as it is."""
    raw = slug(dev.id)
    kind = slug(dev.kind.value) or "device"
    if len(raw) <= 12:
        return raw if raw.startswith(kind) else f"{kind}_{raw}"
    return f"{kind}_{raw.replace('_', '')[-4:]}"


# --------------------------------------------------------------------------------- local devices


class LocalCtx:
    def __init__(self, view: View, cfg: DeviceConfig) -> None:
        self.view, self.cfg = view, cfg
        self.rep = view.reported.get(cfg.id) or ReportedState()
        self.kind = cfg.kind

    @cached_property
    def device_plan(self) -> DevicePlan | None:
        return _device_plan(self.view.plan, self.cfg.id)

    @cached_property
    def action(self) -> tuple[str | None, dict[str, Any]]:
        action = self.view.actions.get(self.cfg.id)
        dp = self.device_plan
        attributes: dict[str, Any] = {
            "reason": action.reason if action is not None else "no plan yet",
            "summary": dp.summary if dp is not None else None,
            "power_kw": round(action.power_kw, 2) if action is not None else None,
        }
        state = action.kind.value if action is not None else None
        hold = self.view.holds.get(self.cfg.id)
        if hold is not None and "held_until" in hold:  # a person's change wins for a while
            state = hold.get("action", ActionKind.FOLLOW_KRAKEN.value)
            attributes.update({k: v for k, v in hold.items() if k != "action"}, power_kw=None)
        elif hold is not None:  # ... and then the plan resumes, saying so
            attributes.update(hold)
        return state, attributes


_EV_OR_BATTERY = (LocalKind.EV, LocalKind.BATTERY)

LOCAL_ENTITIES: Table[LocalCtx] = (
    EntityDescription(
        "planner_mode",
        "select",
        "Planner mode",
        lambda c: c.view.planner_modes.get(c.cfg.id, "auto"),
        category=CONFIG,
        control=Control.PLANNER_MODE,
    ),
    EntityDescription(
        "soc",
        "sensor",
        "Charge",
        lambda c: None if c.rep.soc_pct is None else round(c.rep.soc_pct),
        "battery",
        "%",
        MEASUREMENT,
        exists=lambda c: c.kind in _EV_OR_BATTERY or c.rep.soc_pct is not None,
    ),
    _watts_sensor(
        "power",
        "Power",
        lambda c: None if c.rep.power_kw is None else round(c.rep.power_kw * 1000),
        exists=lambda c: c.kind in _EV_OR_BATTERY or c.rep.power_kw is not None,
    ),
    EntityDescription(
        "plugged_in",
        "binary_sensor",
        "Plugged in",
        lambda c: on_off(c.rep.plugged_in),
        "plug",
        exists=lambda c: c.kind is LocalKind.EV or c.rep.plugged_in is not None,
    ),
    EntityDescription(
        "relay",
        "binary_sensor",
        "Relay",
        lambda c: on_off(c.rep.relay_on),
        "power",
        exists=lambda c: c.kind in (LocalKind.RELAY, LocalKind.HOT_WATER) or c.rep.relay_on is not None,
    ),
    EntityDescription(
        "temperature",
        "sensor",
        "Temperature",
        lambda c: None if c.rep.temperature_c is None else round(c.rep.temperature_c, 1),
        "temperature",
        "°C",
        MEASUREMENT,
        exists=lambda c: c.kind is LocalKind.HEAT_PUMP or c.rep.temperature_c is not None,
    ),
    EntityDescription(
        "action",
        "sensor",
        "Planned action now",
        lambda c: c.action[0],
        ENUM,
        more={"options": [k.value for k in ActionKind]},
        attributes=lambda c: c.action[1],
        exists=lambda c: c.device_plan is not None or c.cfg.plan is not None,
    ),
    EntityDescription(  # devices/driver.py: who is in charge, last result
        "control",
        "sensor",
        "Control",
        lambda c: c.rep.control,
        icon="mdi:hand-back-right",
        attributes=lambda c: {"last_result": c.rep.result},
        exists=lambda c: c.rep.control is not None,
    ),
)


def local_device(view: View, cfg: DeviceConfig, via: str) -> HaDevice:
    ctx = LocalCtx(view, cfg)
    rep = ctx.rep
    return HaDevice(
        key=cfg.id,
        name=cfg.name or cfg.id,
        manufacturer=LOCAL_MANUFACTURER,
        model=f"{cfg.adapter} ({cfg.kind})",
        entities=tuple(from_table(LOCAL_ENTITIES, ctx)),
        available=rep.online if rep.online is not None else True,
        via=via,
    )


def _device_plan(plan: Plan | None, device_id: str) -> DevicePlan | None:
    if plan is None:
        return None
    try:
        return plan.device(device_id)
    except KeyError:
        return None


def _target_soc(dev: Device) -> float | None:
    prefs = dev.preferences
    if prefs is None or not prefs.schedules:
        return None
    value = prefs.schedules[0].max
    return float(value) if value is not None else None


def _ready_by(dev: Device) -> str | None:
    prefs = dev.preferences
    if prefs is None or not prefs.schedules:
        return None
    return prefs.schedules[0].time[:5]


def _float(value: Any) -> float | None:
    """A number's state as a float, whether it is Kraken's read-back or a command's (integer) value."""
    return None if value is None else float(value)


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _watts(kw: Decimal | None) -> int | None:
    return round(float(kw) * 1000) if kw is not None else None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())
