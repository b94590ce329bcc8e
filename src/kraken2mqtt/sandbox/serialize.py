"""What each Kraken type reads from the simulated account (``sim_account`` dataclasses).

:mod:`default_resolver` resolves every field below the root from a simulated object: a field is the
object's snake_case attribute, written as its scalar type says (Decimal as a string, ISO datetimes).
``FIELDS`` lists only what differs, per GraphQL type: attributes of another name (``attr``), constants,
and fields computed from the object and the :class:`Call` (the root field's time, the field's arguments).
``TYPES`` says which member of an interface or union a simulated object is. The root resolvers run with
the account lock held and hand graphql-core a deep copy of what they return, so it resolves these fields
from a snapshot after the lock is released.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.sandbox.connections import connection, page_info
from kraken2mqtt.sandbox.default_resolver import Call, Of, attr, dec, iso, snake
from kraken2mqtt.sandbox.sim_account import VAT, SimDevice, SimMarketAgreement, SimMeterPoint, SimSmartMeter
from kraken2mqtt.sandbox.tariff_rates import active_agreements

Json = dict[str, Any]

DEVICE_TYPENAMES = {
    "vehicle": "SmartFlexVehicle",
    "charge_point": "SmartFlexChargePoint",
    "battery": "SmartFlexBattery",
    "inverter": "SmartFlexInverter",
    "heat_pump": "SmartFlexHeatPump",
    "storage_heaters": "SmartFlexStorageHeaters",
    "generic": "SmartFlexDevice",
}
STATUS_TYPENAMES = {
    "vehicle": "SmartFlexVehicleStatus",
    "charge_point": "SmartFlexChargePointStatus",
    "heat_pump": "SmartFlexHeatPumpStatus",
}
TARIFF_TYPENAMES = {
    "STANDARD": "StandardTariff",
    "DAY_NIGHT": "DayNightTariff",
    "THREE_RATE": "ThreeRateTariff",
    "HALF_HOURLY": "HalfHourlyTariff",
    "PREPAY": "PrepayTariff",
}
DE_VAT = 1.19


@dataclass(frozen=True)
class Reading:
    """A value read at a time (DecimalReading, TargetTemperature, ZoneTemperature, ...)."""

    value: Any
    timestamp: datetime
    zone: str | None = None


@dataclass(frozen=True)
class Quantity:
    """A value with its unit (Energy, Power, Temperature)."""

    value: float
    unit: str


def reading(value: Any, now: datetime) -> Reading | None:
    return None if value is None else Reading(value, now)


def net(x: float | None, vat: float = VAT) -> float | None:
    return None if x is None else round(x / vat, 4)


def _int(x: float | None) -> int | None:
    return None if x is None else int(x)


def _pre_vat(name: str) -> Callable[[Any, Call], float | None]:
    return lambda o, _c: net(getattr(o, name))


def _active(a: SimMarketAgreement, now: datetime) -> bool:
    return a.valid_from <= now and (a.valid_to is None or now < a.valid_to)


def smart_devices(mp: SimMeterPoint) -> list[SimSmartMeter]:
    return ([mp.smart_meter] if mp.smart_meter else []) + mp.other_smart_devices


def _supply_product_name(o: Of) -> str:
    product = o.owner.get(o.item.product_code)
    return str(product.display_name if product else o.item.product_code)


def _soc_limit(d: SimDevice, c: Call) -> Json | None:
    if d.upper_soc_limit is None:
        return None
    violated = bool(d.preferences and any(s.max > d.upper_soc_limit for s in d.preferences.schedules))
    return {"upperSocLimit": d.upper_soc_limit, "isLimitViolated": violated, "timestamp": iso(c.now)}


def itself(o: Any, _c: Call) -> Any:
    """A field that is the same object seen as another type."""
    return o


def _min_soc(d: SimDevice, _c: Call) -> int | None:
    return None if d.preference_setting is None else _int(d.preference_setting.min)


def _max_soc(d: SimDevice, _c: Call) -> int | None:
    return None if d.preference_setting is None else _int(d.preference_setting.max)


def _online(t: Any, _c: Call) -> str:
    return "ONLINE" if t.battery_online else "OFFLINE"


def _temp(v: float) -> Json:
    return {"value": dec(v), "unit": "DEGREES_CELSIUS"}


def charging_sessions(d: SimDevice, c: Call) -> Json:
    """Newest first, cursors are the session starts; only ``first`` is honoured."""
    sessions = sorted(d.charging_sessions, key=lambda s: s.start, reverse=True)
    first = c.args.get("first")
    edges = [{"cursor": iso(s.start), "node": s} for s in (sessions if first is None else sessions[:first])]
    return {"edges": edges, "pageInfo": page_info(edges, len(edges) < len(sessions), False)}


# -- tables shared by several types -----------------------------------------------------------------------
TARIFF = {  # the ElectricityTariffType members, over the SimTariff
    "id": attr("tariff_code"),
    "fullName": attr("display_name"),
    "description": lambda t, _c: f"{t.display_name} (sandbox)",
    "unitRates": lambda t, _c: sorted(t.unit_rates, key=lambda r: r.valid_from),
    **{f"preVat{n}": _pre_vat(snake(n)) for n in ("StandingCharge", "UnitRate", "DayRate", "NightRate")},
    "preVatOffPeakRate": _pre_vat("off_peak_rate"),
    **dict.fromkeys([f"{r}EpgApplied" for r in ("unitRate", "dayRate", "nightRate", "offPeakRate")], False),
}
SUPPLY_AGREEMENT = {  # CommonAgreementType and DE's Agreement, over Of(SimMarketAgreement, products)
    "agreedAt": attr("valid_from"),
    "isActive": lambda o, c: _active(o.item, c.now),
    "isRevoked": False,
}
DEVICE = {  # the SmartFlexDeviceInterface members, over the SimDevice
    "status": lambda d, _c: d,
    "alerts": lambda d, _c: sorted(d.alerts, key=lambda a: a[1], reverse=True),
    "vehicleBatterySize": attr("battery_size_kwh"),
    "chargePointPowerOutput": attr("charge_point_power_kw"),
    "vehicleVariant": lambda d, _c: None if d.battery_size_kwh is None else d,
    "chargePointVariant": lambda d, _c: None if d.charge_point_power_kw is None else d,
    "chargingPreferences": lambda d, _c: d,
    "chargingSessions": charging_sessions,
}
STATUS = {  # the SmartFlexDeviceStatusInterface members, over the SimDevice
    "current": attr("lifecycle"),
    "currentState": attr("state"),
    "isSuspended": attr("suspended"),
    "stateOfCharge": lambda d, c: reading(d.sim_soc_pct, c.now),
    "activePower": lambda d, c: reading(d.sim_power_kw, c.now),
    "stateOfChargeLimit": _soc_limit,
    "testDispatchFailureReason": "NONE",
    "mode": lambda _d, c: Reading("HEATING", c.now),
    "activity": lambda _d, c: Reading("PRE_HEATING", c.now),
    "currentTemperatures": lambda d, c: [Reading(v, c.now, z) for z, v in d.hp_zone_temperatures.items()],
    "targetTemperature": lambda d, c: reading(d.hp_target_temperature, c.now),
}
DISPATCH = {  # UpsideDispatchType and its meta, over Of(SimDispatch, "planned" | "completed")
    "delta": attr("delta_kwh"),
    "meta": lambda o, _c: o,
    "startDt": lambda o, _c: iso(o.item.start),
    "endDt": lambda o, _c: iso(o.item.end),
    "deltaKwh": lambda o, _c: round(o.item.delta_kwh),
    "source": lambda o, _c: o.item.source if o.owner == "planned" else None,
    "location": lambda o, _c: None if o.owner == "planned" else o.item.location,
}
NOW = {"retrievedAt": lambda _o, c: c.now}

FIELDS: Mapping[str, Mapping[str, Any]] = {
    # -- accounts and properties ---------------------------------------------------------------------------
    "AccountUserType": {  # over the SimAccount
        "id": attr("user_id"),
        "preferredName": attr("given_name"),
        "liveSecretKey": None,
        "accounts": lambda a, _c: [a],
    },
    "AccountType": {
        "id": attr("number"),
        "status": "ACTIVE",
        "electricityAgreements": lambda acc, c: [
            Of(a, mp) for p in acc.properties for mp in p.meter_points for a in active_agreements(mp, c.now)
        ],
        # "when active is set to false it actually means 'return both active and inactive agreements'"
        "marketSupplyAgreements": lambda acc, c: connection(
            [
                Of(a, acc.products)
                for a in acc.market_agreements
                if c.args.get("active") is False or _active(a, c.now)
            ],
            c.args,
        ),
        "paymentSchedules": lambda acc, _c: connection(acc.payment_schedules, {}),
        "agreements": lambda acc, _c: [Of(a, acc.products) for a in acc.market_agreements],
    },
    "PaymentScheduleType": {"isVariablePaymentAmount": False},
    "PropertyType": {
        "coordinates": {"latitude": 51.5, "longitude": -0.12},
        "electricityMeterPoints": attr("meter_points"),
        "smartDeviceNetworks": lambda p, _c: [p],
    },
    "SmartMeterDeviceNetworkType": {  # over the SimProperty
        "id": lambda p, _c: f"SDN-{p.id}",
        "smartDevices": lambda p, _c: [sm for mp in p.meter_points for sm in smart_devices(mp)],
    },
    "ElectricityMeterPointType": {
        "id": attr("mpan"),
        "agreements": lambda mp, c: [Of(a, mp) for a in active_agreements(mp, c.now)],
        "meters": lambda mp, _c: [mp],
        "profileClass": 1,
        "ssc": "0393",
        "status": "ON_SUPPLY",
        "isDueTariffRenewal": False,
        "canRenewTariff": False,
    },
    "ElectricityMeterType": {  # over the SimMeterPoint
        "id": attr("meter_serial"),
        "serialNumber": attr("meter_serial"),
        "meterType": "MAIN",
        "smartImportElectricityMeter": lambda mp, _c: mp.smart_meter if mp.direction == "IMPORT" else None,
        "smartExportElectricityMeter": lambda mp, _c: mp.smart_meter if mp.direction == "EXPORT" else None,
        "smartDevices": lambda mp, _c: smart_devices(mp),
        "isReadyForTopup": lambda mp, _c: bool(mp.smart_meter and mp.smart_meter.payment_mode == "PREPAY"),
        "isTradPrepay": False,
    },
    "SmartMeterDeviceType": {
        "id": attr("device_id"),
        "status": "COMMISSIONED",
        "weeklyDebtRecoveryRateInPence": 0,
    },
    # -- tariffs and agreements ----------------------------------------------------------------------------
    "ElectricityAgreementType": {  # over Of(SimAgreement, SimMeterPoint)
        "agreedFrom": attr("valid_from"),
        "agreedTo": attr("valid_to"),
        "isRevoked": False,
        "meterPoint": lambda o, _c: {
            "id": o.owner.mpan,
            "mpan": o.owner.mpan,
            "direction": o.owner.direction,
            "ssc": "0393",
        },
    },
    **dict.fromkeys(TARIFF_TYPENAMES.values(), TARIFF),
    "UnitRate": {"preVatValue": _pre_vat("value")},
    "CommonAgreementType": SUPPLY_AGREEMENT
    | {
        "id": lambda o, _c: str(o.item.id),
        "agreedFrom": attr("valid_from"),
        "agreedTo": attr("valid_to"),
        "terminatedAt": None,
        "product": itself,
        "params": "{}",
    },
    "SupplyProductType": {  # over Of(SimMarketAgreement, products)
        "id": attr("product_code"),
        "code": attr("product_code"),
        **dict.fromkeys(("displayName", "fullName", "description"), lambda o, _c: _supply_product_name(o)),
        "tags": [],
    },
    "Agreement": SUPPLY_AGREEMENT  # DE
    | {
        "product": lambda o, _c: o.owner.get(o.item.product_code),
        "netMonthlyStandingCharge": lambda o, _c: net(o.item.monthly_standing_charge, DE_VAT),
        "unitRateInformation": lambda o, _c: (
            o.item if o.item.tou_rates or o.item.unit_rate_per_kwh is not None else None
        ),
        "standingChargeGrossRateInformation": lambda o, _c: (
            []
            if o.item.monthly_standing_charge is None
            else [
                {
                    "date": o.item.valid_from.date().isoformat(),
                    "grossRate": dec(o.item.monthly_standing_charge),
                    "rateValidToDate": None,
                    "vatRate": "0.19",
                }
            ]
        ),
        "isTerminated": False,
        "isAffectedByPriceBrake": False,
    },
    "SimpleProductUnitRateInformation": {  # over the SimMarketAgreement
        "latestGrossUnitRateCentsPerKwh": attr("unit_rate_per_kwh"),
        "netUnitRateCentsPerKwh": lambda a, _c: net(a.unit_rate_per_kwh, DE_VAT),
        "grossRateInformation": [],
    },
    "TimeOfUseProductUnitRateInformation": {"rates": attr("tou_rates")},
    "TimeOfUseTimeslotUnitRate": {  # over a (name, active from, active to, gross rate) of tou_rates
        "timeslotName": lambda r, _c: r[0],
        "timeslotActivationRules": lambda r, _c: [{"activeFromTime": r[1], "activeToTime": r[2]}],
        "latestGrossUnitRateCentsPerKwh": lambda r, _c: r[3],
        "netUnitRateCentsPerKwh": lambda r, _c: net(r[3], DE_VAT),
        "grossRateInformation": [],
    },
    "Product": {
        "id": attr("code"),
        "fullName": attr("display_name"),
        "description": attr("display_name"),
        "productRates": attr("rates"),
    },
    "ProductRateType": {
        "bandCategory": attr("band"),
        "bandSubcategory": attr("band"),
        "pricePerUnit": attr("price_per_unit"),
    },
    # -- SmartFlex devices ---------------------------------------------------------------------------------
    **dict.fromkeys(DEVICE_TYPENAMES.values(), DEVICE),
    **dict.fromkeys([*STATUS_TYPENAMES.values(), "SmartFlexDeviceStatus"], STATUS),
    "SmartFlexDeviceAlert": {"message": lambda a, _c: a[0], "publishedAt": lambda a, _c: a[1]},
    "FlexDevicePreferenceSetting": {"scheduleSettings": lambda ps, _c: [ps]},
    "ElectricVehicleModelType": {
        "vehicleId": 1,
        "year": None,
        "batterySize": attr("battery_size_kwh"),
        "isIntegrationLive": True,
    },
    "ChargePointVariantModelType": {
        "variantId": 1,
        "powerInKw": attr("charge_point_power_kw"),
        "amperage": 32,
        "isIntegrationLive": True,
    },
    "SmartFlexVehicleChargingPreferences": {"minimumSoc": _min_soc, "maximumSoc": _max_soc},
    "SmartFlexChargingSession": {
        "energyAdded": lambda s, _c: Quantity(s.energy_added_kwh, "KILOWATT_HOUR"),
        "cost": lambda s, _c: {"amount": dec(s.cost_pence), "currency": "GBP"},
        "stateOfChargeChange": attr("soc_change"),
        "stateOfChargeFinal": attr("soc_final"),
        "targetType": "ABSOLUTE_STATE_OF_CHARGE",
        "dispatches": lambda s, _c: [s],
    },
    "SmartFlexDispatch": {"energyAddedKwh": attr("energy_added_kwh")},  # over the SimChargingSession
    "SmartFlexInverterTelemetry": dict.fromkeys(("battery", "inverter", "grid", "solar", "site"), itself),
    "BatteryTelemetry": {
        "stateOfCharge": attr("battery_soc"),
        "powerInKw": attr("battery_power_kw"),
        "connectionStatus": _online,
    },
    "InverterTelemetry": {"powerInKw": attr("inverter_power_kw"), "connectionStatus": _online},
    "GridTelemetry": {"powerInKw": attr("grid_power_kw")},
    "SolarTelemetry": {"powerInKw": attr("solar_power_kw")},
    "SiteTelemetry": {"consumptionInKw": attr("site_consumption_kw"), "exportInKw": attr("site_export_kw")},
    # -- the legacy KrakenFlex API -------------------------------------------------------------------------
    "KrakenFlexDeviceType": {  # registeredKrakenflexDevice and the legacy mutation payloads
        "krakenflexDeviceId": attr("id"),
        "vehicleMake": lambda d, _c: d.make if d.kind == "vehicle" else None,
        "vehicleModel": lambda d, _c: d.model if d.kind == "vehicle" else None,
        "vehicleBatterySizeInKwh": attr("battery_size_kwh"),
        "chargePointMake": lambda d, _c: d.make if d.kind == "charge_point" else None,
        "chargePointModel": lambda d, _c: d.model if d.kind == "charge_point" else None,
        "chargePointPowerInKw": attr("charge_point_power_kw"),
        "status": attr("lifecycle"),
        "hasToken": True,
        "createdAt": lambda _d, c: c.now - timedelta(days=30),
        "stateOfChargeLimit": lambda d, c: (
            None
            if d.upper_soc_limit is None
            else {"upperSocLimit": d.upper_soc_limit, "isLimitViolated": False, "timestamp": iso(c.now)}
        ),
        "testDispatchFailureReason": "NONE",
    },
    "VehicleChargingPreferencesType": {"minimumSocPercentage": _min_soc, "maximumSocPercentage": _max_soc},
    "BatteryDeviceType": {
        "krakenflexDeviceId": attr("id"),
        "params": {"variantId": "1"},
        "chargingPreferences": {"minimumSocPercentage": 10, "maximumSocPercentage": 100},
        "deviceStatus": itself,
    },
    "DeviceStatusType": {  # over the SimDevice
        "pluggedIn": True,
        "maxImportInKw": 5.0,
        "maxExportInKw": 5.0,
        "status": "LIVE",
        "readings": attr("telemetry"),
    },
    "DeviceStatusReadingsType": {
        "socPercentage": lambda t, c: Reading(t.battery_soc, c.now),
        "activePowerInKw": lambda t, c: Reading(t.battery_power_kw, c.now),
    },
    "HeatPumpDeviceType": {  # heatPumpDevice / heatPumpStatus, over the SimLegacyHeatPump
        "params": lambda h, _c: {"heatPumpId": h.heat_pump_id},
        "deviceType": "HEAT_PUMPS",
    },
    "HeatPumpStatusType": {
        "isConnected": attr("connected"),
        "climateControlStatus": itself,
        "waterTemperatureStatus": itself,
    },
    "ClimateControlDetailsType": {
        "climateControlEnabled": attr("climate_enabled"),
        "currentClimateControlTemperature": attr("current_climate_c"),
        "targetClimateControlTemperature": attr("target_climate_c"),
    },
    "WaterTemperatureDetailsType": {
        "waterTemperatureEnabled": attr("water_enabled"),
        "currentWaterTemperature": attr("current_water_c"),
    },
    # -- heat pump controllers (over the SimHeatPumpController, its SimSensors and SimZones) -----------------
    "SensorStatus": {"connectivity": itself, "telemetry": itself},
    "SensorConnectivity": NOW,
    "SensorTelemetry": NOW
    | {
        "temperatureInCelsius": attr("temperature_c"),
        "humidityPercentage": attr("humidity"),
        "rssi": -60,
        "voltage": 3.0,
    },
    "ZoneStatus": {"telemetry": itself},
    "ZoneTelemetry": NOW | {"setpointInCelsius": attr("setpoint_c"), "relaySwitchedOn": attr("relay_on")},
    "ControllerAndZoneConfiguration": {
        "controller": itself,
        "zones": lambda c, _c: [Of(z, c) for z in c.zones],
        "heatPump": itself,
    },
    "ControllerConfiguration": {"state": ["NORMAL_MODE"], "heatPumpTimezone": "Europe/London"},
    "ZoneInformation": {"configuration": itself, "schedules": []},
    "ZoneConfiguration": {  # over Of(SimZone, SimHeatPumpController)
        "code": attr("zone"),
        "zoneType": "HEAT",
        "enabled": True,
        "displayName": lambda o, _c: o.item.display_name or o.item.zone,
        "primarySensor": lambda o, _c: (
            o.owner.sensors[0].code if o.owner.sensors and o.item.zone != "WATER" else None
        ),
        "callForHeat": attr("heat_demand"),
        "emergency": False,
        "currentOperation": lambda o, _c: {
            "mode": o.item.mode,
            "setpointInCelsius": o.item.setpoint_c,
            "action": "ON",
            "end": None,
        },
        "previousOperation": None,
    },
    "HeatPumpConfiguration": {
        "hardwareVersion": "1",
        "faultCodes": [],
        "maxWaterSetpoint": 60.0,
        "minWaterSetpoint": 40.0,
        "heatingFlowTemperature": {
            "currentTemperature": _temp(45.0),
            "allowableRange": {"minimum": _temp(30.0), "maximum": _temp(55.0)},
        },
        "weatherCompensation": {
            "enabled": True,
            "currentRange": {"minimum": _temp(30.0), "maximum": _temp(45.0)},
        },
        "manifoldEnabled": False,
        "hasHeatPumpCompatibleCylinder": True,
    },
    "LiveTelemetry": {
        "readAt": lambda _h, c: c.now,
        "coefficientOfPerformance": attr("cop"),
        "powerInput": lambda h, _c: Quantity(h.power_input_kw, "KILOWATT"),
        "heatOutput": lambda h, _c: Quantity(h.heat_output_kw, "KILOWATT"),
        "outdoorTemperature": lambda h, _c: Quantity(h.outdoor_temperature_c, "DEGREES_CELSIUS"),
    },
    # -- dispatches, events, prepay, signals ---------------------------------------------------------------
    "UpsideDispatchType": DISPATCH,
    "UpsideDispatchMetaType": DISPATCH,
    "SavingSessionsType": {  # over the SimAccount
        "account": itself,
        "events": attr("saving_events"),
        "eventCount": lambda a, _c: len(a.saving_events),
    },
    "SavingSessionsAccountType": {
        "hasJoinedCampaign": True,
        "canJoinCampaign": True,
        "isBusinessAccount": False,
        "isTesterAccount": False,
        "joinedEvents": lambda a, _c: [e for e in a.saving_events if e.joined],
    },
    "SavingSessionsEventType": {  # over the SimSavingEvent, as below
        "startAt": attr("start"),
        "endAt": attr("end"),
        "rewardPerKwhInOctoPoints": attr("reward_per_kwh_points"),
        "totalParticipants": 0,
        "devEvent": False,
    },
    "SavingSessionsAccountJoinedEventsType": {
        "eventId": attr("id"),
        "startAt": attr("start"),
        "endAt": attr("end"),
    },
    "AutoTopupConfigType": {"accountNumber": lambda o, _c: o.owner},  # over Of(config, account number)
    "AutoTopupTriggerType": {
        "autoTopupConfigId": attr("config_id"),
        "createdAt": attr("triggered_at"),
        "updatedAt": attr("triggered_at"),
    },
    "PrepayBalanceSnapshotType": {
        "creditInPence": attr("credit_pence"),
        "debtInPence": attr("debt_pence"),
        "emergencyCreditInPence": attr("emergency_credit_pence"),
        "asAt": lambda b, c: b.as_at or c.now,
    },
    "GreennessForecastPeriod": {
        "greennessScore": attr("score"),
        "greennessIndex": attr("index"),
        "highlightFlag": attr("highlight"),
    },
}
TYPES: Mapping[str, Callable[[Any], str]] = {
    "SmartFlexDeviceInterface": lambda d: DEVICE_TYPENAMES[d.kind],
    "SmartFlexDeviceStatusInterface": lambda d: STATUS_TYPENAMES.get(d.kind, "SmartFlexDeviceStatus"),
    "ElectricityTariffType": lambda t: TARIFF_TYPENAMES[t.kind],
    "UnitRateInformation": lambda a: (
        "TimeOfUseProductUnitRateInformation" if a.tou_rates else "SimpleProductUnitRateInformation"
    ),
}
