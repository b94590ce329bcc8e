"""Home Assistant: device-based MQTT discovery and the state each device publishes (pure functions).

One retained ``<discovery_prefix>/device/<object_id>/config`` per device (``dev``, ``o``, ``cmps``) and one
JSON state topic ``<base>/<device>/state`` that every component of the device reads with a value template.
The same :class:`Entity` list drives both, so a component can never point at a state key that is not
published. Availability is the daemon's status topic AND a per-device topic that says whether the device's
data is fresh.

The modules under it, each named for what it does: ``ha_discovery`` (the discovery and state payloads and
the messages), ``ha_tables`` (entity descriptions as data), ``ha_view`` (what is shown at one instant),
``ha_plan`` (the plan document and the plan's entity), ``ha_account``, ``ha_kraken_devices`` and
``ha_local_devices`` (each kind of device's entities). This module assembles the devices (:func:`build`)
and is the one the rest of the project imports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from kraken2mqtt.kraken.snapshot import Device, DeviceKind
from kraken2mqtt.mqtt.ha_account import ACCOUNT_ENTITIES, FORECAST_ENTITIES, account_device, forecast_entities
from kraken2mqtt.mqtt.ha_discovery import (
    CLOCK_TOPIC,
    ENUM,
    ORIGIN,
    VALUE_PLATFORMS,
    Entity,
    HaDevice,
    Topics,
    clock_message,
    discovery_payload,
    entity_id,
    iso,
    messages,
    object_id,
    on_off,
    removed,
    slug,
    state_payload,
)
from kraken2mqtt.mqtt.ha_kraken_devices import (
    ALERT_ENTITIES,
    DEVICE_STATES,
    DISPATCH_TYPES,
    EV_ENTITIES,
    HEAT_PUMP_ENTITIES,
    INVERTER_ENTITIES,
    KRAKEN_ENTITIES,
    TEMPERATURE,
    KrakenCtx,
    kraken_device,
    kraken_slug,
    zone_name,
)
from kraken2mqtt.mqtt.ha_local_devices import LOCAL_ENTITIES, LOCAL_MANUFACTURER, LocalCtx, local_device
from kraken2mqtt.mqtt.ha_plan import PLAN_HOURS, plan_document, plan_entity, plan_signature
from kraken2mqtt.mqtt.ha_tables import (
    CONFIG,
    DIAGNOSTIC,
    MEASUREMENT,
    TIMESTAMP,
    EntityDescription,
    EntityFamily,
    Table,
    from_table,
)
from kraken2mqtt.mqtt.ha_view import ForecastShown, View, readbacks

__all__ = [
    "ACCOUNT_ENTITIES",
    "ALERT_ENTITIES",
    "CLOCK_TOPIC",
    "CONFIG",
    "DEVICE_STATES",
    "DIAGNOSTIC",
    "DISPATCH_TYPES",
    "ENUM",
    "EV_ENTITIES",
    "FORECAST_ENTITIES",
    "HEAT_PUMP_ENTITIES",
    "INVERTER_ENTITIES",
    "KRAKEN_ENTITIES",
    "LOCAL_ENTITIES",
    "LOCAL_MANUFACTURER",
    "MEASUREMENT",
    "ORIGIN",
    "PLAN_HOURS",
    "TEMPERATURE",
    "TIMESTAMP",
    "VALUE_PLATFORMS",
    "Entity",
    "EntityDescription",
    "EntityFamily",
    "ForecastShown",
    "HaDevice",
    "KrakenCtx",
    "LocalCtx",
    "Table",
    "Topics",
    "View",
    "account_device",
    "build",
    "clock_message",
    "discovery_payload",
    "entity_id",
    "forecast_entities",
    "from_table",
    "iso",
    "kraken_device",
    "kraken_slug",
    "local_device",
    "messages",
    "object_id",
    "on_off",
    "plan_document",
    "plan_entity",
    "plan_signature",
    "readbacks",
    "removed",
    "slug",
    "state_payload",
    "zone_name",
]


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
