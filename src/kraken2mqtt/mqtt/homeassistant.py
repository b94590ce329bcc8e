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
from typing import Any

from kraken2mqtt import __version__
from kraken2mqtt.controls import ACCOUNT, SPECS, Control
from kraken2mqtt.devices.base import LocalKind, ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.kraken.deployments import DEPLOYMENTS
from kraken2mqtt.kraken.signals import STALE_AFTER, Signals
from kraken2mqtt.kraken.snapshot import Device, DeviceKind, DeviceState, Snapshot, Stream
from kraken2mqtt.mqtt.commands import command_topic
from kraken2mqtt.planner.model import ActionKind, DeviceAction, DevicePlan, Plan

ORIGIN = {"name": "kraken2mqtt", "sw": __version__, "url": "https://github.com/kraken2mqtt/kraken2mqtt"}
PLAN_HOURS = 24
#: platforms whose state is the ``value_template`` of the shared state topic
VALUE_PLATFORMS = frozenset({"sensor", "binary_sensor", "switch", "number", "select", "text"})
ENUM = "enum"


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
    discovery drops unknown keys silently (``DISCOVERY_SCHEMA ... extra=REMOVE_EXTRA`` in every platform).
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
        default_id = entity_id(ent.platform, dev.slug or dev.key, ent.key)
        comp: dict[str, Any] = {
            "p": ent.platform,
            "name": ent.name,
            "unique_id": f"{object_id(dev.key)}_{ent.key}",
            "default_entity_id": default_id,
        }
        if topics.legacy_object_id:
            comp["object_id"] = default_id.partition(".")[2]
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
            comp["json_attributes_topic"] = state_topic
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


def removal_payload(components: Iterable[str], platform_of: Mapping[str, str]) -> dict[str, Any]:
    """A component is removed by publishing it with its platform only."""
    return {"cmps": {key: {"p": platform_of[key]} for key in components}}


def state_payload(dev: HaDevice) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ent in dev.entities:
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
    """(topic, payload, retain) to publish for a device: discovery, availability, state (with attributes)."""
    return [
        (topics.config(dev.key), json.dumps(discovery_payload(dev, topics)), True),
        (topics.availability(dev.key), "online" if dev.available else "offline", True),
        (topics.state(dev.key), json.dumps(state_payload(dev)), True),
    ]


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
    for dev in view.snapshot.devices.devices if view.snapshot.devices else ():
        devices.append(kraken_device(view, dev, key_of(dev), account.key))
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


DIAGNOSTIC = {"entity_category": "diagnostic"}


def account_device(view: View) -> HaDevice:
    snap, sig = view.snapshot, view.signals
    dep = DEPLOYMENTS[snap.deployment]
    per_kwh = {
        "unit_of_measurement": f"{dep.currency}/kWh",
        "state_class": "measurement",
        "icon": "mdi:cash",
        "suggested_display_precision": 4,
    }
    timestamp = {"device_class": "timestamp"}
    ents: list[Entity] = [
        Entity("import_price", "sensor", "Import price", _money(view, sig.import_rate), options=per_kwh),
        Entity(
            "billed_price",
            "sensor",
            "Price billed now",
            _money(view, sig.dispatch_adjusted_rate),
            options=per_kwh,
        ),
        Entity("export_price", "sensor", "Export price", _money(view, sig.export_rate), options=per_kwh),
        Entity(
            "off_peak",
            "binary_sensor",
            "Off-peak now",
            on_off(sig.off_peak_now),
            options={"icon": "mdi:clock-check"},
        ),
        Entity(
            "dispatching",
            "binary_sensor",
            "Dispatching now",
            on_off(sig.dispatching_now),
            options={"device_class": "running"},
        ),
        Entity("next_dispatch", "sensor", "Next dispatch", iso(sig.next_dispatch_start), options=timestamp),
        Entity(
            "dispatch_end",
            "sensor",
            "Current dispatch ends",
            iso(sig.current_dispatch_end),
            options=timestamp,
        ),
        Entity(
            "data_fetched_at",
            "sensor",
            "Data fetched at",
            iso(_oldest_fetch(snap, sig)),
            options={**timestamp, **DIAGNOSTIC},
        ),
        Entity(
            "stale",
            "binary_sensor",
            "Stale data",
            on_off(bool(sig.stale)),
            options={"device_class": "problem", **DIAGNOSTIC},
            attributes={"streams": sorted(s.value for s in sig.stale)},
        ),
        Entity(
            "refresh", "button", "Refresh now", control=Control.REFRESH, options={"entity_category": "config"}
        ),
    ]
    for stream in sorted(sig.ages, key=lambda s: s.value):
        if stream in STALE_AFTER:
            ents.append(
                Entity(
                    f"fetched_{stream.value}",
                    "sensor",
                    f"{stream.value.replace('_', ' ').capitalize()} fetched at",
                    iso(snap.stream(stream).fetched_at),
                    options={**timestamp, **DIAGNOSTIC},
                    enabled=False,  # changes on every poll of its stream
                )
            )
    if snap.rate_limit is not None and snap.rate_limit.remaining is not None:
        ents.append(
            Entity(
                "rate_limit_remaining",
                "sensor",
                "API points remaining",
                snap.rate_limit.remaining,
                options={"state_class": "measurement", **DIAGNOSTIC},
                enabled=False,  # changes on every request
            )
        )
    money = {"device_class": "monetary", "unit_of_measurement": dep.currency}
    if snap.prepay is not None and snap.prepay.balance is not None:
        ents.append(
            Entity(
                "prepay_credit",
                "sensor",
                "Prepay credit",
                _money(view, snap.prepay.balance.credit),
                options=money,
            )
        )
        cfg = snap.prepay.current_config(view.now)
        spec = SPECS[Control.TOP_UP_AMOUNT]
        minor = dep.minor_per_major
        amount = _shown(view, ACCOUNT, Control.TOP_UP_AMOUNT, cfg.topup_amount if cfg else None)
        ents.append(
            Entity(
                "top_up_amount",
                "number",
                "Auto top-up amount",
                _money(view, amount),
                control=Control.TOP_UP_AMOUNT,
                options={
                    **money,
                    "entity_category": "config",
                    # Home Assistant shows major units; the command topic takes minor ones (pence)
                    "min": (spec.minimum or 0) / minor,
                    "max": (spec.maximum or 0) / minor,
                    "step": (spec.step or 1) / minor,
                    "command_template": f"{{{{ (value * {minor}) | round(0) | int }}}}",
                },
            )
        )
    if view.forecast is not None:
        ents.extend(forecast_entities(view.forecast))
    if view.plan is not None:
        ents.append(plan_entity(view.plan, view.now, dep.currency, dep.minor_per_major))
    number = snap.account_number or "account"
    return HaDevice(
        key=ACCOUNT,
        name=f"Kraken account {number}",
        manufacturer=dep.label,
        model=snap.mode,
        entities=tuple(ents),
        available=Stream.TARIFFS not in sig.stale,
    )


def forecast_entities(fc: ForecastShown) -> list[Entity]:
    """The sun and the weather the plan counts on, and the house's base load it plans around."""
    energy = {"device_class": "energy", "unit_of_measurement": "kWh", "suggested_display_precision": 1}
    power = {"device_class": "power", "unit_of_measurement": "kW", "state_class": "measurement"}
    ents = []
    if fc.solar_rest_of_today_kwh is not None or fc.solar_tomorrow_kwh is not None:
        ents += [
            Entity(
                "solar_forecast_today",
                "sensor",
                "Solar forecast rest of today",
                fc.solar_rest_of_today_kwh,
                options={**energy, "icon": "mdi:solar-power-variant"},
            ),
            Entity(
                "solar_forecast_tomorrow",
                "sensor",
                "Solar forecast tomorrow",
                fc.solar_tomorrow_kwh,
                options={**energy, "icon": "mdi:solar-power-variant"},
            ),
            Entity("solar_forecast_now", "sensor", "Solar forecast now", fc.solar_now_kw, options=power),
        ]
    if fc.outdoor_c is not None:
        ents.append(
            Entity(
                "forecast_outdoor",
                "sensor",
                "Forecast outdoor temperature",
                fc.outdoor_c,
                options={
                    "device_class": "temperature",
                    "unit_of_measurement": "°C",
                    "state_class": "measurement",
                },
            )
        )
    ents.append(
        Entity(
            "forecast_fetched_at",
            "sensor",
            "Forecast fetched at",
            iso(fc.fetched_at),
            options={"device_class": "timestamp", **DIAGNOSTIC},
            attributes={"stale": fc.stale},
        )
    )
    if fc.house_load_kw is not None:
        ents.append(
            Entity(
                "house_base_load",
                "sensor",
                "House base load",
                fc.house_load_kw,
                options=power,
                attributes={"source": "learned" if fc.house_load_learned else "configured"},
            )
        )
    return ents


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
LOCAL_MANUFACTURER = "kraken2mqtt"
_ZONES = {"WATER": "Hot water", "AUX": "Auxiliary", "AUXILIARY": "Auxiliary"}


def zone_name(zone: str) -> str:
    """``ZONE1`` → "Zone 1", ``WATER`` → "Hot water"."""
    upper = zone.upper()
    if upper in _ZONES:
        return _ZONES[upper]
    if upper.startswith("ZONE") and upper[4:].isdigit():
        return f"Zone {int(upper[4:])}"
    return zone.replace("_", " ").capitalize()


def kraken_device(view: View, dev: Device, key: str, via: str) -> HaDevice:
    state = dev.state.value.lower() if dev.state is not DeviceState.UNKNOWN else None
    ents: list[Entity] = [
        Entity(
            "state",
            "sensor",
            "State",
            state,
            options={"device_class": ENUM, "options": list(DEVICE_STATES)},
        ),
        Entity(
            "suspended",
            "binary_sensor",
            "Smart control suspended",
            on_off(dev.suspended),
            options=DIAGNOSTIC,
            enabled=not dev.is_ev,  # an EV has the "Smart control" switch
        ),
    ]
    if dev.is_ev:
        boost = _shown(view, key, Control.BOOST, dev.state == DeviceState.BOOSTING)
        smart = _shown(view, key, Control.SMART_CONTROL, None if dev.suspended is None else not dev.suspended)
        ents += [
            Entity(
                "plugged_in",
                "binary_sensor",
                "Plugged in",
                on_off(dev.plugged_in),
                options={"device_class": "plug"},
            ),
            Entity(
                "boost",
                "switch",
                "Boost charge",
                on_off(boost),
                control=Control.BOOST,
                options={"icon": "mdi:rocket-launch"},
            ),
            Entity("smart_control", "switch", "Smart control", on_off(smart), control=Control.SMART_CONTROL),
            Entity(
                "target_soc",
                "number",
                "Target charge",
                _float(_shown(view, key, Control.TARGET_SOC, _target_soc(dev))),
                control=Control.TARGET_SOC,
                options={"unit_of_measurement": "%", "entity_category": "config"},
            ),
            Entity(
                "ready_by",
                "text",
                "Ready by",
                _shown(view, key, Control.READY_BY, _ready_by(dev)),
                control=Control.READY_BY,
                options={"entity_category": "config"},
            ),
        ]
        if dev.soc_limit is not None and dev.soc_limit.upper_soc_limit is not None:
            ents.append(
                Entity(
                    "soc_limit",
                    "sensor",
                    "Charge limit",
                    dev.soc_limit.upper_soc_limit,
                    options={"unit_of_measurement": "%", **DIAGNOSTIC},
                )
            )
    if dev.telemetry is not None:
        t = dev.telemetry
        power = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
        ents += [
            Entity(
                "battery_soc",
                "sensor",
                "Battery charge",
                _num(t.battery_soc),
                options={"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"},
            ),
            Entity("battery_power", "sensor", "Battery power", _watts(t.battery_power_kw), options=power),
            Entity("grid_power", "sensor", "Grid power", _watts(t.grid_power_kw), options=power),
            Entity("solar_power", "sensor", "Solar power", _watts(t.solar_power_kw), options=power),
        ]
    if dev.kind == DeviceKind.HEAT_PUMP:
        ents += _heat_pump_entities(view, dev, key)
    if dev.alerts:
        ents.append(
            Entity("alert", "sensor", "Latest alert", (dev.alerts[0].message or "")[:250], options=DIAGNOSTIC)
        )
    stale = {Stream.DEVICES} & view.signals.stale
    return HaDevice(
        key=key,
        name=dev.name or _KRAKEN_MODEL.get(dev.kind, "Device"),
        manufacturer=dev.make or "Kraken",
        model=dev.model or _KRAKEN_MODEL.get(dev.kind, dev.kind.value),
        entities=tuple(ents),
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


TEMPERATURE = {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"}
_HVAC_ACTIONS = {"HEATING": "heating", "PRE_HEATING": "preheating", "IDLE": "idle", "OFF": "off"}


def _heat_pump_entities(view: View, dev: Device, key: str) -> list[Entity]:
    hp = dev.heat_pump
    spec = SPECS[Control.SETPOINT]
    setpoint = _float(_shown(view, key, Control.SETPOINT, _num(hp.target_temperature) if hp else None))
    zone_mode = _shown(view, key, Control.ZONE_MODE, _zone_mode(hp.mode if hp else None))
    # Kraken does not report a hot-water boost: the switch shows the last one kraken2mqtt asked for
    boost = _shown(view, key, Control.HOT_WATER_BOOST, False)
    temps = {zone.upper(): float(value) for zone, value in (hp.zone_temperatures if hp else ())}
    room = next((v for z, v in temps.items() if z != "WATER"), None)
    if zone_mode is None:
        action = None
    elif zone_mode == "OFF":
        action = "off"
    else:
        action = _HVAC_ACTIONS.get((hp.activity or "").upper(), "idle") if hp and hp.activity else None
    ents = [
        Entity(
            "heating",
            "climate",
            "Heating",
            values={
                "mode": None if zone_mode is None else ("heat" if zone_mode == "ON" else "off"),
                "current": room,
                "target": setpoint,
                "action": action,
            },
            options={
                "modes": ["heat", "off"],
                "mode_command_template": "{{ 'ON' if value == 'heat' else 'OFF' }}",
                "min_temp": spec.minimum,
                "max_temp": spec.maximum,
                "temp_step": spec.step,
                "precision": 0.1,
                "temperature_unit": "C",
            },
            commands={"mode_command_topic": Control.ZONE_MODE, "temperature_command_topic": Control.SETPOINT},
        ),
        Entity(
            "hot_water",
            "water_heater",
            "Hot water",
            values={
                "mode": "high_demand" if boost else "heat_pump",
                "current": temps.get("WATER"),
            },
            options={
                "modes": ["heat_pump", "high_demand"],
                "mode_command_template": "{{ 'ON' if value == 'high_demand' else 'OFF' }}",
                "precision": 0.1,
                "temperature_unit": "C",
            },
            commands={"mode_command_topic": Control.HOT_WATER_BOOST},
        ),
        Entity(
            "target_temperature",
            "sensor",
            "Target temperature",
            _num(hp.target_temperature) if hp else None,
            options=TEMPERATURE,
            enabled=False,  # the setpoint number and the climate entity show it
        ),
        Entity(
            "setpoint",
            "number",
            "Setpoint",
            setpoint,
            control=Control.SETPOINT,
            options={"device_class": "temperature", "unit_of_measurement": "°C"},
        ),
        Entity("zone_mode", "select", "Heating", zone_mode, control=Control.ZONE_MODE),
        Entity(
            "hot_water_boost", "switch", "Hot water boost", on_off(boost), control=Control.HOT_WATER_BOOST
        ),
    ]
    for zone, value in hp.zone_temperatures if hp else ():
        ents.append(
            Entity(
                f"temperature_{_slug(zone)}",
                "sensor",
                f"{zone_name(zone)} temperature",
                float(value),
                options=TEMPERATURE,
            )
        )
    return ents


def local_device(view: View, cfg: DeviceConfig, via: str) -> HaDevice:
    rep = view.reported.get(cfg.id) or ReportedState()
    ents: list[Entity] = [
        Entity(
            "planner_mode",
            "select",
            "Planner mode",
            view.planner_modes.get(cfg.id, "auto"),
            control=Control.PLANNER_MODE,
            options={"entity_category": "config"},
        ),
    ]
    kind = cfg.kind
    if kind in (LocalKind.EV, LocalKind.BATTERY) or rep.soc_pct is not None:
        ents.append(
            Entity(
                "soc",
                "sensor",
                "Charge",
                None if rep.soc_pct is None else round(rep.soc_pct),
                options={"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"},
            )
        )
    if kind in (LocalKind.EV, LocalKind.BATTERY) or rep.power_kw is not None:
        ents.append(
            Entity(
                "power",
                "sensor",
                "Power",
                None if rep.power_kw is None else round(rep.power_kw * 1000),
                options={"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"},
            )
        )
    if kind is LocalKind.EV or rep.plugged_in is not None:
        ents.append(
            Entity(
                "plugged_in",
                "binary_sensor",
                "Plugged in",
                on_off(rep.plugged_in),
                options={"device_class": "plug"},
            )
        )
    if kind in (LocalKind.RELAY, LocalKind.HOT_WATER) or rep.relay_on is not None:
        ents.append(
            Entity("relay", "binary_sensor", "Relay", on_off(rep.relay_on), options={"device_class": "power"})
        )
    if kind is LocalKind.HEAT_PUMP or rep.temperature_c is not None:
        ents.append(
            Entity(
                "temperature",
                "sensor",
                "Temperature",
                None if rep.temperature_c is None else round(rep.temperature_c, 1),
                options=TEMPERATURE,
            )
        )
    dp = _device_plan(view.plan, cfg.id)
    if dp is not None or cfg.plan is not None:
        action = view.actions.get(cfg.id)
        attributes: dict[str, Any] = {
            "reason": action.reason if action is not None else "no plan yet",
            "summary": dp.summary if dp is not None else None,
            "power_kw": round(action.power_kw, 2) if action is not None else None,
        }
        state = action.kind.value if action is not None else None
        hold = view.holds.get(cfg.id)
        if hold is not None and "held_until" in hold:  # a person's change wins for a while
            state = ActionKind.FOLLOW_KRAKEN.value
            attributes.update(hold, power_kw=None)
        elif hold is not None:  # ... and then the plan resumes, saying so
            attributes.update(hold)
        ents.append(
            Entity(
                "action",
                "sensor",
                "Planned action now",
                state,
                options={"device_class": ENUM, "options": [k.value for k in ActionKind]},
                attributes=attributes,
            )
        )
    if rep is not None and rep.control is not None:  # devices/driver.py: who is in charge, last result
        ents.append(
            Entity(
                "control",
                "sensor",
                "Control",
                rep.control,
                options={"icon": "mdi:hand-back-right"},
                attributes={"last_result": rep.result},
            )
        )
    online = rep.online if rep is not None and rep.online is not None else True
    return HaDevice(
        key=cfg.id,
        name=cfg.name or cfg.id,
        manufacturer=LOCAL_MANUFACTURER,
        model=f"{cfg.adapter} ({cfg.kind})",
        entities=tuple(ents),
        available=online,
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
