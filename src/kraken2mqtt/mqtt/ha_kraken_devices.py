"""The Home Assistant devices of Kraken's devices: EVs and charge points, inverters, heat pumps."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cached_property
from typing import Any, cast

from kraken2mqtt.controls import SPECS, Control
from kraken2mqtt.kraken.snapshot import (
    Device,
    DeviceKind,
    DeviceState,
    DispatchState,
    HeatPumpController,
    HeatPumpDeviceStatus,
    Stream,
)
from kraken2mqtt.mqtt.ha_discovery import ENUM, Entity, HaDevice, iso, on_off, slug
from kraken2mqtt.mqtt.ha_tables import (
    CONFIG,
    DIAGNOSTIC,
    MEASUREMENT,
    TIMESTAMP,
    EntityDescription,
    EntityFamily,
    Table,
    from_table,
    num,
    to_float,
    watts,
    watts_sensor,
)
from kraken2mqtt.mqtt.ha_view import View, ready_by, shown, target_soc, zone_mode_value

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
        return shown(self.view, self.key, control, readback)

    @cached_property
    def hp(self) -> HeatPumpDeviceStatus | None:
        return self.dev.heat_pump

    @cached_property
    def setpoint(self) -> float | None:
        hp = self.hp
        return to_float(self.shown(Control.SETPOINT, num(hp.target_temperature) if hp else None))

    @cached_property
    def zone_mode(self) -> str | None:
        return cast(
            str | None, self.shown(Control.ZONE_MODE, zone_mode_value(self.hp.mode if self.hp else None))
        )

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
    return lambda c: num(read(c.controller)) if c.controller is not None else None


def _live_kw(read: Callable[[HeatPumpController], Decimal | None]) -> Callable[[KrakenCtx], int | None]:
    return lambda c: watts(read(c.controller)) if c.controller is not None else None


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
        lambda c: to_float(c.shown(Control.TARGET_SOC, target_soc(c.dev))),
        unit="%",
        category=CONFIG,
        control=Control.TARGET_SOC,
    ),
    EntityDescription(
        "ready_by",
        "text",
        "Ready by",
        lambda c: c.shown(Control.READY_BY, ready_by(c.dev)),
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
        lambda c: num(c.dev.soc_percent),
        "battery",
        "%",
        MEASUREMENT,
        exists=lambda c: c.dev.soc_percent is not None,
    ),
    EntityDescription(
        "active_power",
        "sensor",
        "Charging power",
        lambda c: watts(c.dev.active_power_kw),
        "power",
        "W",
        MEASUREMENT,
        exists=lambda c: c.dev.active_power_kw is not None,
    ),
)


INVERTER_ENTITIES: Table[KrakenCtx] = (
    EntityDescription(
        "battery_soc",
        "sensor",
        "Battery charge",
        lambda c: num(c.dev.telemetry.battery_soc) if c.dev.telemetry else None,
        "battery",
        "%",
        MEASUREMENT,
    ),
    watts_sensor(
        "battery_power",
        "Battery power",
        lambda c: watts(c.dev.telemetry.battery_power_kw) if c.dev.telemetry else None,
    ),
    watts_sensor(
        "grid_power",
        "Grid power",
        lambda c: watts(c.dev.telemetry.grid_power_kw) if c.dev.telemetry else None,
    ),
    watts_sensor(
        "solar_power",
        "Solar power",
        lambda c: watts(c.dev.telemetry.solar_power_kw) if c.dev.telemetry else None,
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
        lambda c: num(c.hp.target_temperature) if c.hp else None,
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
    watts_sensor("power_input", "Power input", _live_kw(lambda h: h.power_input_kw), _has_live),
    watts_sensor("heat_output", "Heat output", _live_kw(lambda h: h.heat_output_kw), _has_live),
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


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())
