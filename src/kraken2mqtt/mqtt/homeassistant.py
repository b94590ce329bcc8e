"""Home Assistant: device-based MQTT discovery and the state each device publishes (pure functions).

One retained ``<discovery_prefix>/device/<object_id>/config`` per device (``dev``, ``o``, ``cmps``) and one
JSON state topic ``<base>/<device>/state`` that every component of the device reads with a value template.
The same :class:`Entity` list drives both, so a component can never point at a state key that is not
published. Availability is the daemon's status topic AND a per-device topic that says whether the device's
data is fresh.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kraken2mqtt import __version__
from kraken2mqtt.devices.base import ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.kraken.deployments import DEPLOYMENTS
from kraken2mqtt.kraken.signals import Signals
from kraken2mqtt.kraken.snapshot import Device, DeviceKind, Snapshot, Stream
from kraken2mqtt.mqtt.commands import SPECS, Control, command_topic
from kraken2mqtt.planner.model import DevicePlan, Plan
from kraken2mqtt.planner.reconcile import device_action_at

ORIGIN = {"name": "kraken2mqtt", "sw": __version__, "url": "https://github.com/kraken2mqtt/kraken2mqtt"}
PLAN_HOURS = 24


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant component of a device, and where its state comes from."""

    key: str
    platform: str  # sensor, binary_sensor, switch, number, select, text, button
    name: str
    value: Any = None  # the state value (already computed); None → unknown
    control: Control | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # device_class, unit, icon, ...
    attributes: Mapping[str, Any] | None = None  # published as JSON attributes of this entity


@dataclass(frozen=True, slots=True)
class HaDevice:
    key: str  # topic segment and command device key
    name: str
    manufacturer: str
    model: str
    entities: tuple[Entity, ...]
    available: bool = True  # data fresh enough to be shown
    via: str | None = None  # the account device this one hangs off


@dataclass(frozen=True, slots=True)
class Topics:
    base: str
    discovery_prefix: str

    def config(self, device_key: str) -> str:
        return f"{self.discovery_prefix}/device/{object_id(device_key)}/config"

    def state(self, device_key: str) -> str:
        return f"{self.base}/{device_key}/state"

    def availability(self, device_key: str) -> str:
        return f"{self.base}/{device_key}/availability"

    def attributes(self, device_key: str, entity_key: str) -> str:
        return f"{self.base}/{device_key}/{entity_key}/attributes"

    @property
    def status(self) -> str:
        return f"{self.base}/status"


def object_id(device_key: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in device_key)
    return f"kraken2mqtt_{cleaned}"


def on_off(value: bool | None) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


# ------------------------------------------------------------------------------------- discovery


def discovery_payload(dev: HaDevice, topics: Topics) -> dict[str, Any]:
    """The device-based discovery payload of one device."""
    components: dict[str, Any] = {}
    for ent in dev.entities:
        comp: dict[str, Any] = {
            "p": ent.platform,
            "name": ent.name,
            "unique_id": f"{object_id(dev.key)}_{ent.key}",
            "object_id": f"{object_id(dev.key)}_{ent.key}",
        }
        if ent.platform != "button":
            comp["value_template"] = f"{{{{ value_json.{ent.key} }}}}"
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
        if ent.attributes is not None:
            comp["json_attributes_topic"] = topics.attributes(dev.key, ent.key)
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
        "state_topic": topics.state(dev.key),
        "availability": [{"topic": topics.status}, {"topic": topics.availability(dev.key)}],
        "availability_mode": "all",
        "qos": 1,
    }


def removal_payload(components: Iterable[str], platform_of: Mapping[str, str]) -> dict[str, Any]:
    """A component is removed by publishing it with its platform only."""
    return {"cmps": {key: {"p": platform_of[key]} for key in components}}


def state_payload(dev: HaDevice) -> dict[str, Any]:
    return {ent.key: _jsonable(ent.value) for ent in dev.entities if ent.platform != "button"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def messages(dev: HaDevice, topics: Topics) -> list[tuple[str, str, bool]]:
    """(topic, payload, retain) to publish for a device: discovery, availability, state, attributes."""
    out = [
        (topics.config(dev.key), json.dumps(discovery_payload(dev, topics)), True),
        (topics.availability(dev.key), "online" if dev.available else "offline", True),
        (topics.state(dev.key), json.dumps(state_payload(dev)), True),
    ]
    for ent in dev.entities:
        if ent.attributes is not None:
            out.append((topics.attributes(dev.key, ent.key), json.dumps(ent.attributes, default=str), True))
    return out


def removed(previous: Iterable[str], current: Iterable[str], topics: Topics) -> list[tuple[str, str, bool]]:
    """Empty retained configs for devices that disappeared (Home Assistant then deletes them)."""
    gone = sorted(set(previous) - set(current))
    return [(topics.config(key), "", True) for key in gone] + [(topics.state(key), "", True) for key in gone]


# ----------------------------------------------------------------------------------- the devices


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


def build(view: View, key_of: Callable[[Device], str]) -> list[HaDevice]:
    account = account_device(view)
    devices = [account]
    for dev in view.snapshot.devices.devices if view.snapshot.devices else ():
        devices.append(kraken_device(view, dev, key_of(dev), account.key))
    for cfg in view.local_devices:
        devices.append(local_device(view, cfg, account.key))
    return devices


def _money(view: View, minor: Decimal | float | int | None) -> float | None:
    if minor is None:
        return None
    return round(float(minor) / DEPLOYMENTS[view.snapshot.deployment].minor_per_major, 5)


def account_device(view: View) -> HaDevice:
    snap, sig = view.snapshot, view.signals
    dep = DEPLOYMENTS[snap.deployment]
    per_kwh = {"unit_of_measurement": f"{dep.currency}/kWh", "state_class": "measurement", "icon": "mdi:cash"}
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
            "data_age",
            "sensor",
            "Data age",
            _max_age(sig),
            options={
                "device_class": "duration",
                "unit_of_measurement": "s",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        ),
        Entity(
            "stale",
            "sensor",
            "Stale data",
            ", ".join(sorted(s.value for s in sig.stale)) or "none",
            options={"entity_category": "diagnostic"},
        ),
        Entity(
            "refresh", "button", "Refresh now", control=Control.REFRESH, options={"entity_category": "config"}
        ),
    ]
    if snap.rate_limit is not None and snap.rate_limit.remaining is not None:
        ents.append(
            Entity(
                "rate_limit_remaining",
                "sensor",
                "API points remaining",
                snap.rate_limit.remaining,
                options={"state_class": "measurement", "entity_category": "diagnostic"},
            )
        )
    if snap.prepay is not None and snap.prepay.balance is not None:
        money = {"device_class": "monetary", "unit_of_measurement": dep.currency}
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
        ents.append(
            Entity(
                "top_up_amount",
                "number",
                "Auto top-up amount",
                cfg.topup_amount if cfg else None,
                control=Control.TOP_UP_AMOUNT,
                options={"unit_of_measurement": "p"} if dep.minor_unit == "p" else {},
            )
        )
    if view.plan is not None:
        ents.append(plan_entity(view.plan, view.now))
    number = snap.account_number or "account"
    return HaDevice(
        key="account",
        name=f"Kraken account {number}",
        manufacturer=dep.label,
        model=snap.mode,
        entities=tuple(ents),
        available=Stream.TARIFFS not in sig.stale,
    )


def _max_age(sig: Signals) -> int | None:
    ages = [a for a in sig.ages.values() if a is not None]
    return round(max(ages)) if ages else None


def plan_entity(plan: Plan, now: datetime) -> Entity:
    """The plan's cost as state; the next 24 h of every device, with reasons, as attributes."""
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
    attributes = {"generated_for": plan.now.isoformat(), "warnings": list(plan.warnings), "devices": devices}
    if plan.topup is not None:
        attributes["topup"] = plan.topup.message
    return Entity(
        "plan_cost",
        "sensor",
        "Planned cost",
        round(plan.total_cost_p / 100, 2),
        options={"icon": "mdi:calendar-clock"},
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


def kraken_device(view: View, dev: Device, key: str, via: str) -> HaDevice:
    ents: list[Entity] = [
        Entity("state", "sensor", "State", dev.state_raw or dev.state.value),
        Entity("suspended", "binary_sensor", "Smart control suspended", on_off(dev.suspended)),
    ]
    if dev.is_ev:
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
                on_off(dev.state.value == "BOOSTING"),
                control=Control.BOOST,
                options={"icon": "mdi:rocket-launch"},
            ),
            Entity(
                "smart_control",
                "switch",
                "Smart control",
                on_off(None if dev.suspended is None else not dev.suspended),
                control=Control.SMART_CONTROL,
            ),
            Entity(
                "target_soc",
                "number",
                "Target charge",
                _target_soc(dev),
                control=Control.TARGET_SOC,
                options={"unit_of_measurement": "%"},
            ),
            Entity("ready_by", "text", "Ready by", _ready_by(dev), control=Control.READY_BY),
        ]
        if dev.soc_limit is not None and dev.soc_limit.upper_soc_limit is not None:
            ents.append(
                Entity(
                    "soc_limit",
                    "sensor",
                    "Charge limit",
                    dev.soc_limit.upper_soc_limit,
                    options={"unit_of_measurement": "%", "entity_category": "diagnostic"},
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
        hp = dev.heat_pump
        temperature = {
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "state_class": "measurement",
        }
        ents += [
            Entity(
                "target_temperature",
                "sensor",
                "Target temperature",
                _num(hp.target_temperature) if hp else None,
                options=temperature,
            ),
            Entity(
                "setpoint",
                "number",
                "Setpoint",
                _num(hp.target_temperature) if hp else None,
                control=Control.SETPOINT,
                options={"unit_of_measurement": "°C"},
            ),
            Entity("zone_mode", "select", "Heating", None, control=Control.ZONE_MODE),
            Entity("hot_water_boost", "switch", "Hot water boost", None, control=Control.HOT_WATER_BOOST),
        ]
        for zone, value in hp.zone_temperatures if hp else ():
            ents.append(
                Entity(
                    f"temperature_{_slug(zone)}",
                    "sensor",
                    f"{zone} temperature",
                    float(value),
                    options=temperature,
                )
            )
    if dev.alerts:
        ents.append(
            Entity(
                "alert",
                "sensor",
                "Latest alert",
                (dev.alerts[0].message or "")[:250],
                options={"entity_category": "diagnostic"},
            )
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
    )


def local_device(view: View, cfg: DeviceConfig, via: str) -> HaDevice:
    rep = view.reported.get(cfg.id)
    ents: list[Entity] = [
        Entity(
            "planner_mode",
            "select",
            "Planner mode",
            view.planner_modes.get(cfg.id, "auto"),
            control=Control.PLANNER_MODE,
        ),
    ]
    if rep is not None:
        if rep.soc_pct is not None:
            ents.append(
                Entity(
                    "soc",
                    "sensor",
                    "Charge",
                    round(rep.soc_pct, 1),
                    options={
                        "device_class": "battery",
                        "unit_of_measurement": "%",
                        "state_class": "measurement",
                    },
                )
            )
        if rep.power_kw is not None:
            ents.append(
                Entity(
                    "power",
                    "sensor",
                    "Power",
                    round(rep.power_kw * 1000),
                    options={
                        "device_class": "power",
                        "unit_of_measurement": "W",
                        "state_class": "measurement",
                    },
                )
            )
        if rep.plugged_in is not None:
            ents.append(
                Entity(
                    "plugged_in",
                    "binary_sensor",
                    "Plugged in",
                    on_off(rep.plugged_in),
                    options={"device_class": "plug"},
                )
            )
        if rep.relay_on is not None:
            ents.append(
                Entity(
                    "relay", "binary_sensor", "Relay", on_off(rep.relay_on), options={"device_class": "power"}
                )
            )
        if rep.temperature_c is not None:
            ents.append(
                Entity(
                    "temperature",
                    "sensor",
                    "Temperature",
                    rep.temperature_c,
                    options={
                        "device_class": "temperature",
                        "unit_of_measurement": "°C",
                        "state_class": "measurement",
                    },
                )
            )
    dp = _device_plan(view.plan, cfg.id)
    if dp is not None:
        action = device_action_at(dp, view.now)
        ents.append(
            Entity(
                "action",
                "sensor",
                "Planned action now",
                action.kind.value,
                attributes={
                    "reason": action.reason,
                    "summary": dp.summary,
                    "power_kw": round(action.power_kw, 2),
                },
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
        manufacturer="kraken2mqtt",
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


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _watts(kw: Decimal | None) -> int | None:
    return round(float(kw) * 1000) if kw is not None else None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())
