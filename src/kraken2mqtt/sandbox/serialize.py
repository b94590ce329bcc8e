"""SimAccount dataclasses -> GraphQL-shaped dicts (camelCase keys, ``__typename`` on abstract members).

Called with the account lock held; the dicts it returns are snapshots, so graphql-core can finish resolving
them after the lock is released. Decimals are emitted as strings (as in the 002 examples).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import GraphQLError

from kraken2mqtt.sandbox.sim_account import (
    UK,
    VAT,
    SimAccount,
    SimAgreement,
    SimDevice,
    SimGreenness,
    SimHeatPumpController,
    SimMarketAgreement,
    SimMeterPoint,
    SimPaymentSchedule,
    SimProduct,
    SimSmartMeter,
    SimTariff,
)

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


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat()


def dec(x: float | None) -> str | None:
    """A Decimal as a plain string: 1.0, -7.5, 0.125."""
    if x is None:
        return None
    s = f"{x:.6f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def hhmmss(t: str | None) -> str | None:
    """'07:00' / '07:00:00' -> '07:00:00'."""
    if t is None:
        return None
    parts = t.split(":")
    return f"{int(parts[0]):02d}:{int(parts[1]):02d}:00"


def parse_dt(value: Any) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)  # "If no UTC offset is included, UTC is assumed."


# -- connections --------------------------------------------------------------------------------------------
def _cursor(i: int) -> str:
    return base64.b64encode(f"arrayconnection:{i}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise GraphQLError(f"Invalid cursor {cursor!r}.") from exc


def connection(nodes: Sequence[Any], args: Mapping[str, Any], *, totals: bool = True) -> Json:
    """A Relay connection over ``nodes`` honouring first/last/before/after."""
    n = len(nodes)
    start, end = 0, n
    if args.get("after"):
        start = _uncursor(args["after"]) + 1
    if args.get("before"):
        end = min(end, _uncursor(args["before"]))
    if args.get("first") is not None:
        end = min(end, start + max(0, int(args["first"])))
    if args.get("last") is not None:
        start = max(start, end - max(0, int(args["last"])))
    edges = [{"cursor": _cursor(i), "node": nodes[i]} for i in range(start, end)]
    out: Json = {
        "edges": edges,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": end < n,
            "hasPreviousPage": start > 0,
        },
    }
    if totals:
        out["totalCount"] = n
        out["edgeCount"] = len(edges)
    return out


# -- tariffs ---------------------------------------------------------------------------------------------
def tariff(t: SimTariff) -> Json:
    out: Json = {
        "__typename": TARIFF_TYPENAMES[t.kind],
        "id": t.tariff_code,
        "displayName": t.display_name,
        "fullName": t.display_name,
        "description": f"{t.display_name} (sandbox)",
        "productCode": t.product_code,
        "tariffCode": t.tariff_code,
        "standingCharge": t.standing_charge,
        "preVatStandingCharge": round(t.standing_charge / VAT, 4),
        "isExport": t.is_export,
    }

    def pre(v: float | None) -> float | None:
        return None if v is None else round(v / VAT, 4)

    if t.kind in ("STANDARD", "PREPAY"):
        out |= {"unitRate": t.unit_rate, "preVatUnitRate": pre(t.unit_rate)}
        if t.kind == "STANDARD":
            out["unitRateEpgApplied"] = False
    if t.kind in ("DAY_NIGHT", "THREE_RATE"):
        out |= {
            "dayRate": t.day_rate,
            "nightRate": t.night_rate,
            "preVatDayRate": pre(t.day_rate),
            "preVatNightRate": pre(t.night_rate),
            "dayRateEpgApplied": False,
            "nightRateEpgApplied": False,
        }
    if t.kind == "THREE_RATE":
        out |= {"offPeakRate": t.off_peak_rate, "preVatOffPeakRate": pre(t.off_peak_rate)}
        out["offPeakRateEpgApplied"] = False
    if t.kind == "HALF_HOURLY":
        out["unitRates"] = [
            {
                "validFrom": iso(r.valid_from),
                "validTo": iso(r.valid_to),
                "value": r.value,
                "preVatValue": pre(r.value),
            }
            for r in sorted(t.unit_rates, key=lambda r: r.valid_from)
        ]
        out["agileCalculationInfo"] = None
    return out


def rate_at(t: SimTariff, slot: datetime) -> float | None:
    """The unit rate in force for the half-hour starting at ``slot`` (sandbox rule for multi-rate tariffs:
    night = 00:00-07:00 UK local; three-rate off-peak = 13:00-16:00 UK local)."""
    if t.kind == "HALF_HOURLY":
        return next((r.value for r in t.unit_rates if r.valid_from <= slot < r.valid_to), None)
    if t.kind in ("STANDARD", "PREPAY"):
        return t.unit_rate
    hour = slot.astimezone(UK).hour
    if t.kind == "THREE_RATE" and 13 <= hour < 16:
        return t.off_peak_rate
    return t.night_rate if hour < 7 else t.day_rate


def active_agreements(mp: SimMeterPoint, now: datetime) -> list[SimAgreement]:
    """'Filters out expired agreements by default.'"""
    return [a for a in mp.agreements if a.valid_to is None or a.valid_to > now]


def applicable_rates(mp: SimMeterPoint, start: datetime, end: datetime) -> list[Json]:
    nodes: list[Json] = []
    slot = start.replace(minute=0 if start.minute < 30 else 30, second=0, microsecond=0)
    while slot < end:
        nxt = slot + timedelta(minutes=30)
        agreement = next(
            (a for a in mp.agreements if a.valid_from <= slot and (a.valid_to is None or slot < a.valid_to)),
            None,
        )
        value = rate_at(agreement.tariff, slot) if agreement else None
        if value is not None:
            nodes.append(
                {"validFrom": iso(max(slot, start)), "validTo": iso(min(nxt, end)), "value": dec(value)}
            )
        slot = nxt
    return nodes


def agreement(a: SimAgreement, mp: SimMeterPoint, now: datetime) -> Json:
    return {
        "id": a.id,
        "validFrom": iso(a.valid_from),
        "validTo": iso(a.valid_to),
        "agreedFrom": iso(a.valid_from),
        "agreedTo": iso(a.valid_to),
        "isRevoked": False,
        "tariff": tariff(a.tariff),
        "meterPoint": {"id": mp.mpan, "mpan": mp.mpan, "direction": mp.direction, "ssc": "0393"},
    }


def meter_point(mp: SimMeterPoint, now: datetime) -> Json:
    smart = _smart_device(mp.smart_meter) if mp.smart_meter is not None else None
    meter = {
        "id": mp.meter_serial,
        "serialNumber": mp.meter_serial,
        "meterType": "MAIN",
        "smartImportElectricityMeter": smart if mp.direction == "IMPORT" else None,
        "smartExportElectricityMeter": smart if mp.direction == "EXPORT" else None,
        "smartDevices": ([smart] if smart else []) + [_smart_device(o) for o in mp.other_smart_devices],
        "isReadyForTopup": bool(smart and smart["paymentMode"] == "PREPAY"),
        "isTradPrepay": False,
    }
    return {
        "id": mp.mpan,
        "mpan": mp.mpan,
        "direction": mp.direction,
        "agreements": [agreement(a, mp, now) for a in active_agreements(mp, now)],
        "meters": [meter],
        "gspGroupId": mp.gsp_group_id,
        "profileClass": 1,
        "ssc": "0393",
        "status": "ON_SUPPLY",
        "isDueTariffRenewal": False,
        "canRenewTariff": False,
    }


def _smart_device(sm: SimSmartMeter) -> Json:
    return {
        "id": sm.device_id,
        "deviceId": sm.device_id,
        "type": sm.type,
        "status": "COMMISSIONED",
        "paymentMode": sm.payment_mode,
        "manufacturer": sm.manufacturer,
        "model": sm.model,
        "firmwareVersion": sm.firmware_version,
        "serialNumber": sm.serial_number,
        "weeklyDebtRecoveryRateInPence": 0,
    }


def properties(account: SimAccount, now: datetime) -> list[Json]:
    out = []
    for p in account.properties:
        mps = [meter_point(mp, now) for mp in p.meter_points]
        smart = [m for mp in mps for m in mp["meters"][0]["smartDevices"]]
        out.append(
            {
                "id": p.id,
                "postcode": p.postcode,
                "address": p.address,
                "coordinates": {"latitude": 51.5, "longitude": -0.12},
                "electricityMeterPoints": mps,
                "smartDeviceNetworks": [{"id": f"SDN-{p.id}", "smartDevices": smart}],
            }
        )
    return out


def supply_product(code: str, product: SimProduct | None) -> Json:
    name = product.display_name if product else code
    return {
        "id": code,
        "code": code,
        "displayName": name,
        "fullName": name,
        "description": name,
        "marketName": None,
        "term": None,
        "availableFrom": None,
        "availableTo": None,
        "tags": [],
    }


def common_agreement(a: SimMarketAgreement, account: SimAccount, now: datetime) -> Json:
    return {
        "__typename": "CommonAgreementType",
        "id": str(a.id),
        "validFrom": iso(a.valid_from),
        "validTo": iso(a.valid_to),
        "agreedAt": iso(a.valid_from),
        "terminatedAt": None,
        "agreedFrom": iso(a.valid_from),
        "agreedTo": iso(a.valid_to),
        "isActive": a.valid_from <= now and (a.valid_to is None or now < a.valid_to),
        "isRevoked": False,
        "product": supply_product(a.product_code, account.products.get(a.product_code)),
        "params": "{}",
    }


def product(p: SimProduct) -> Json:
    return {
        "id": p.code,
        "code": p.code,
        "displayName": p.display_name,
        "fullName": p.display_name,
        "description": p.display_name,
        "isVariable": p.is_variable,
        "term": None,
        "availableTo": None,
        "productRates": [
            {
                "__typename": "ProductRateType",
                "validFrom": iso(r.valid_from),
                "validTo": iso(r.valid_to),
                "bandCategory": r.band,
                "bandSubcategory": r.band,
                "pricePerUnit": dec(r.price_per_unit),
                "gsp": None,
                "paymentMethod": None,
            }
            for r in p.rates
        ],
    }


def _de_unit_rates(a: SimMarketAgreement) -> Json | None:
    """``unitRateInformation`` in the shape OEG reads (simple or time-of-use, gross ct/kWh)."""
    if a.tou_rates:
        return {
            "__typename": "TimeOfUseProductUnitRateInformation",
            "rates": [
                {
                    "timeslotName": name,
                    "timeslotActivationRules": [{"activeFromTime": start, "activeToTime": end}],
                    "latestGrossUnitRateCentsPerKwh": dec(rate),
                    "netUnitRateCentsPerKwh": dec(round(rate / 1.19, 4)),
                    "grossRateInformation": [],
                }
                for name, start, end, rate in a.tou_rates
            ],
        }
    if a.unit_rate_per_kwh is None:
        return None
    return {
        "__typename": "SimpleProductUnitRateInformation",
        "latestGrossUnitRateCentsPerKwh": dec(a.unit_rate_per_kwh),
        "netUnitRateCentsPerKwh": dec(round(a.unit_rate_per_kwh / 1.19, 4)),
        "grossRateInformation": [],
    }


def de_agreement(a: SimMarketAgreement, account: SimAccount, now: datetime) -> Json:
    p = account.products.get(a.product_code)
    return {
        "id": a.id,
        "product": product(p) if p else None,
        "monthlyStandingCharge": a.monthly_standing_charge,
        "netMonthlyStandingCharge": None
        if a.monthly_standing_charge is None
        else round(a.monthly_standing_charge / 1.19, 4),
        "unitRatePerKwh": a.unit_rate_per_kwh,
        "unitRateInformation": _de_unit_rates(a),
        "standingChargeGrossRateInformation": (
            []
            if a.monthly_standing_charge is None
            else [
                {
                    "date": a.valid_from.date().isoformat(),
                    "grossRate": dec(a.monthly_standing_charge),
                    "rateValidToDate": None,
                    "vatRate": "0.19",
                }
            ]
        ),
        "estimatedMonthlyBillInEuros": None,
        "estimatedAnnualConsumption": None,
        "validFrom": iso(a.valid_from),
        "validTo": iso(a.valid_to),
        "agreedAt": iso(a.valid_from),
        "isRevoked": False,
        "isActive": a.valid_from <= now and (a.valid_to is None or now < a.valid_to),
        "isTerminated": False,
        "isAffectedByPriceBrake": False,
    }


def payment_schedule(s: SimPaymentSchedule) -> Json:
    return {
        "id": s.id,
        "paymentAmount": s.payment_amount,
        "paymentDay": s.payment_day,
        "isVariablePaymentAmount": False,
        "scheduleType": s.schedule_type,
        "validFrom": s.valid_from.isoformat(),
        "validTo": s.valid_to.isoformat() if s.valid_to else None,
    }


def account(acc: SimAccount, now: datetime) -> Json:
    props = properties(acc, now)
    elec_agreements = [
        agreement(a, mp, now)
        for p in acc.properties
        for mp in p.meter_points
        for a in active_agreements(mp, now)
    ]
    market = [common_agreement(a, acc, now) for a in acc.market_agreements]
    market_active = [m for m in market if m["isActive"]]
    schedules = [payment_schedule(s) for s in acc.payment_schedules]

    def market_supply_agreements(_info: Any, active: bool | None = None, **page: Any) -> Json:
        # "when active is set to false it actually means 'return both active and inactive agreements'"
        return connection(market if active is False else market_active, page)

    return {
        "__typename": "AccountType",
        "id": acc.number,
        "number": acc.number,
        "status": "ACTIVE",
        "brand": acc.brand,
        "balance": acc.balance,
        "properties": props,
        "electricityAgreements": elec_agreements,
        "marketSupplyAgreements": market_supply_agreements,
        "paymentSchedules": connection(schedules, {}),
        "ledgers": [
            {
                "id": lg.id,
                "number": lg.number,
                "name": lg.name,
                "ledgerType": lg.ledger_type,
                "balance": lg.balance,
            }
            for lg in acc.ledgers
        ],
        "agreements": market,
    }


# -- devices ---------------------------------------------------------------------------------------------
def device(d: SimDevice, now: datetime) -> Json:
    status: Json = {
        "__typename": STATUS_TYPENAMES.get(d.kind, "SmartFlexDeviceStatus"),
        "current": d.lifecycle,
        "currentState": d.state,
        "isSuspended": d.suspended,
    }
    if d.kind in ("vehicle", "charge_point"):
        reading_at = iso(now)
        status["stateOfCharge"] = (
            None if d.sim_soc_pct is None else {"value": dec(d.sim_soc_pct), "timestamp": reading_at}
        )
        status["activePower"] = (
            None if d.sim_power_kw is None else {"value": dec(d.sim_power_kw), "timestamp": reading_at}
        )
        status["stateOfChargeLimit"] = (
            None
            if d.upper_soc_limit is None
            else {
                "upperSocLimit": d.upper_soc_limit,
                "isLimitViolated": bool(
                    d.preferences and any(s.max > d.upper_soc_limit for s in d.preferences.schedules)
                ),
                "timestamp": iso(now),
            }
        )
        status["testDispatchFailureReason"] = "NONE"
    if d.kind == "heat_pump":
        status["mode"] = {"value": "HEATING", "timestamp": iso(now)}
        status["activity"] = {"value": "PRE_HEATING", "timestamp": iso(now)}
        status["currentTemperatures"] = [
            {"zone": z, "value": dec(v), "timestamp": iso(now)} for z, v in d.hp_zone_temperatures.items()
        ]
        status["targetTemperature"] = (
            None
            if d.hp_target_temperature is None
            else {"value": dec(d.hp_target_temperature), "timestamp": iso(now)}
        )
    out: Json = {
        "__typename": DEVICE_TYPENAMES[d.kind],
        "id": d.id,
        "name": d.name,
        "deviceType": d.device_type,
        "provider": d.provider,
        "integrationDeviceId": d.integration_device_id,
        "propertyId": d.property_id,
        "status": status,
        "alerts": [
            {"__typename": "SmartFlexDeviceAlert", "message": m, "publishedAt": iso(t)}
            for m, t in sorted(d.alerts, key=lambda a: a[1], reverse=True)
        ],
        "preferences": None,
        "preferenceSetting": None,
        "onboardingWizard": None,
    }
    if d.preferences is not None:
        p = d.preferences
        out["preferences"] = {
            "__typename": "SmartFlexDevicePreferences",
            "mode": p.mode,
            "unit": p.unit,
            "targetType": p.target_type,
            "schedules": [
                {
                    "dayOfWeek": s.day_of_week,
                    "time": hhmmss(s.time),
                    "max": s.max,
                    "min": s.min,
                    "upperLimit": s.upper_limit,
                }
                for s in p.schedules
            ],
        }
    if d.preference_setting is not None:
        ps = d.preference_setting
        out["preferenceSetting"] = {
            "__typename": "FlexDevicePreferenceSetting",
            "id": ps.id,
            "deviceType": ps.device_type,
            "mode": ps.mode,
            "unit": ps.unit,
            "scheduleSettings": [
                {
                    "__typename": "FlexDevicePreferenceScheduleSetting",
                    "id": ps.id,
                    "min": dec(ps.min),
                    "max": dec(ps.max),
                    "step": dec(ps.step),
                    "timeFrom": hhmmss(ps.time_from),
                    "timeTo": hhmmss(ps.time_to),
                    "timeStep": ps.time_step,
                }
            ],
        }
    if d.kind not in ("storage_heaters", "generic"):
        out["make"] = d.make
        out["model"] = d.model
    if d.kind in ("vehicle", "charge_point"):
        out["vehicleBatterySize"] = dec(d.battery_size_kwh) if d.battery_size_kwh is not None else None
        out["chargePointPowerOutput"] = (
            dec(d.charge_point_power_kw) if d.charge_point_power_kw is not None else None
        )
        out["vehicleVariant"] = (
            None
            if d.battery_size_kwh is None
            else {
                "vehicleId": 1,
                "model": d.model,
                "year": None,
                "batterySize": dec(d.battery_size_kwh),
                "isIntegrationLive": True,
            }
        )
        out["chargePointVariant"] = (
            None
            if d.charge_point_power_kw is None
            else {
                "variantId": 1,
                "model": d.model,
                "powerInKw": dec(d.charge_point_power_kw),
                "amperage": 32,
                "isIntegrationLive": True,
            }
        )
        out["chargingPreferences"] = {
            "weekdayTargetSoc": d.weekday_target_soc,
            "weekdayTargetTime": hhmmss(d.weekday_target_time),
            "weekendTargetSoc": d.weekend_target_soc,
            "weekendTargetTime": hhmmss(d.weekend_target_time),
            "minimumSoc": None if d.preference_setting is None else _int(d.preference_setting.min),
            "maximumSoc": None if d.preference_setting is None else _int(d.preference_setting.max),
        }
        sessions = [
            {
                "cursor": iso(s.start),
                "node": {
                    "__typename": "SmartFlexChargingSession",
                    "start": iso(s.start),
                    "end": iso(s.end),
                    "energyAdded": {"value": dec(s.energy_added_kwh), "unit": "KILOWATT_HOUR"},
                    "cost": {"amount": dec(s.cost_pence), "currency": "GBP"},
                    "stateOfChargeChange": dec(s.soc_change),
                    "stateOfChargeFinal": dec(s.soc_final),
                    "type": s.type,
                    "targetType": "ABSOLUTE_STATE_OF_CHARGE",
                    "dispatches": [
                        {
                            "start": iso(s.start),
                            "end": iso(s.end),
                            "type": s.type,
                            "energyAddedKwh": dec(s.energy_added_kwh),
                        }
                    ],
                },
            }
            for s in sorted(d.charging_sessions, key=lambda s: s.start, reverse=True)
        ]

        def charging_sessions(_info: Any, **args: Any) -> Json:
            edges = sessions[: args["first"]] if args.get("first") is not None else sessions
            return {
                "edges": edges,
                "pageInfo": {
                    "startCursor": edges[0]["cursor"] if edges else None,
                    "endCursor": edges[-1]["cursor"] if edges else None,
                    "hasNextPage": len(edges) < len(sessions),
                    "hasPreviousPage": False,
                },
            }

        out["chargingSessions"] = charging_sessions
    if d.kind == "inverter" and d.telemetry is not None:
        t = d.telemetry
        online = "ONLINE" if t.battery_online else "OFFLINE"
        out["telemetry"] = {
            "battery": {
                "stateOfCharge": dec(t.battery_soc),
                "powerInKw": dec(t.battery_power_kw),
                "connectionStatus": online,
            },
            "inverter": {"powerInKw": dec(t.inverter_power_kw), "connectionStatus": online},
            "grid": {"powerInKw": dec(t.grid_power_kw)},
            "solar": {"powerInKw": dec(t.solar_power_kw)},
            "site": {"consumptionInKw": dec(t.site_consumption_kw), "exportInKw": dec(t.site_export_kw)},
        }
    if d.kind == "heat_pump":
        out["powerInKw"] = dec(d.power_in_kw)
    return out


def _int(x: float | None) -> int | None:
    return None if x is None else int(x)


def legacy_device(d: SimDevice, now: datetime) -> Json:
    """KrakenFlexDeviceType (registeredKrakenflexDevice and the legacy mutation payloads)."""
    return {
        "krakenflexDeviceId": d.id,
        "provider": d.provider,
        "vehicleMake": d.make if d.kind == "vehicle" else None,
        "vehicleModel": d.model if d.kind == "vehicle" else None,
        "vehicleBatterySizeInKwh": dec(d.battery_size_kwh),
        "chargePointMake": d.make if d.kind == "charge_point" else None,
        "chargePointModel": d.model if d.kind == "charge_point" else None,
        "chargePointPowerInKw": dec(d.charge_point_power_kw),
        "status": d.lifecycle,
        "suspended": d.suspended,
        "hasToken": True,
        "createdAt": iso(now - timedelta(days=30)),
        "stateOfChargeLimit": None
        if d.upper_soc_limit is None
        else {"upperSocLimit": d.upper_soc_limit, "isLimitViolated": False, "timestamp": iso(now)},
        "testDispatchFailureReason": "NONE",
    }


def controller_status(c: SimHeatPumpController, now: datetime) -> Json:
    return {
        "sensors": [
            {
                "code": s.code,
                "connectivity": {"online": s.online, "retrievedAt": iso(now)},
                "telemetry": {
                    "temperatureInCelsius": s.temperature_c,
                    "humidityPercentage": s.humidity,
                    "rssi": -60,
                    "voltage": 3.0,
                    "retrievedAt": iso(now),
                },
            }
            for s in c.sensors
        ],
        "zones": [
            {
                "zone": z.zone,
                "telemetry": {
                    "setpointInCelsius": z.setpoint_c,
                    "mode": z.mode,
                    "relaySwitchedOn": z.relay_on,
                    "heatDemand": z.heat_demand,
                    "retrievedAt": iso(now),
                },
            }
            for z in c.zones
        ],
    }


def controller_configuration(c: SimHeatPumpController, now: datetime) -> Json:
    def temp(v: float) -> Json:
        return {"value": dec(v), "unit": "DEGREES_CELSIUS"}

    return {
        "controller": {
            "connected": c.connected,
            "state": ["NORMAL_MODE"],
            "heatPumpTimezone": "Europe/London",
        },
        "zones": [
            {
                "configuration": {
                    "code": z.zone,
                    "zoneType": "HEAT",
                    "enabled": True,
                    "displayName": z.display_name or z.zone,
                    "primarySensor": c.sensors[0].code if c.sensors and z.zone != "WATER" else None,
                    "callForHeat": z.heat_demand,
                    "heatDemand": z.heat_demand,
                    "emergency": False,
                    "currentOperation": {
                        "mode": z.mode,
                        "setpointInCelsius": z.setpoint_c,
                        "action": "ON",
                        "end": None,
                    },
                    "previousOperation": None,
                },
                "schedules": [],
            }
            for z in c.zones
        ],
        "heatPump": {
            "model": c.model,
            "serialNumber": c.serial_number,
            "hardwareVersion": "1",
            "faultCodes": [],
            "maxWaterSetpoint": 60.0,
            "minWaterSetpoint": 40.0,
            "heatingFlowTemperature": {
                "currentTemperature": temp(45.0),
                "allowableRange": {"minimum": temp(30.0), "maximum": temp(55.0)},
            },
            "weatherCompensation": {
                "enabled": True,
                "currentRange": {"minimum": temp(30.0), "maximum": temp(45.0)},
            },
            "manifoldEnabled": False,
            "hasHeatPumpCompatibleCylinder": True,
        },
    }


def live_performance(c: SimHeatPumpController, now: datetime) -> Json:
    return {
        "readAt": iso(now),
        "coefficientOfPerformance": dec(c.cop),
        "powerInput": {"value": dec(c.power_input_kw), "unit": "KILOWATT"},
        "heatOutput": {"value": dec(c.heat_output_kw), "unit": "KILOWATT"},
        "outdoorTemperature": {"value": dec(c.outdoor_temperature_c), "unit": "DEGREES_CELSIUS"},
    }


def lifetime_performance(c: SimHeatPumpController, now: datetime) -> Json:
    """``heatPumpLifetimePerformance`` (GB backend; HAOE heat_pump_status_and_config_query)."""
    return {
        "readAt": iso(now),
        "seasonalCoefficientOfPerformance": dec(c.cop),
        "heatOutput": {"value": dec(c.heat_output_kw * 24 * 365), "unit": "KILOWATT_HOURS"},
        "energyInput": {"value": dec(c.power_input_kw * 24 * 365), "unit": "KILOWATT_HOURS"},
    }


#: A greener night runs 23:00 to 06:00 UK time (HAOE bafdb0d maps ``date`` to that window).
GREENER_NIGHT_HOURS = (23, 6)


def greener_nights(periods: Sequence[SimGreenness]) -> list[Json]:
    """``greenerNightsForecast`` (GB backend; HAOE greener_night_forecast_query): one entry per night, the
    mean greenness score of the hours from 23:00 to 06:00 UK time that the forecast covers; a night is
    greener when its index is HIGH."""
    nights: dict[str, list[SimGreenness]] = {}
    start_h, end_h = GREENER_NIGHT_HOURS
    for g in periods:
        local = g.valid_from.astimezone(UK)
        if local.hour >= start_h:
            nights.setdefault(local.date().isoformat(), []).append(g)
        elif local.hour < end_h:
            nights.setdefault((local.date() - timedelta(days=1)).isoformat(), []).append(g)
    out = []
    for day, hours in sorted(nights.items()):
        score = round(sum(h.score for h in hours) / len(hours))
        index = "HIGH" if score >= 67 else "MEDIUM" if score >= 34 else "LOW"
        out.append(
            {"date": day, "isGreenerNight": index == "HIGH", "greennessScore": score, "greennessIndex": index}
        )
    return out


def telemetry(
    acc: SimAccount, now: datetime, start: datetime | None, end: datetime | None, grouping: str | None
) -> list[Json]:
    """Sandbox smart-meter telemetry: demand from ``acc.site_demand_w`` with a gentle ripple."""
    step = {"TEN_SECONDS": 10, "ONE_MINUTE": 60, "THIRTY_MINUTES": 1800}.get(grouping or "TEN_SECONDS", 10)
    if start is None and end is None:
        times = [now.replace(microsecond=0) - timedelta(seconds=now.second % 10)]
    else:
        t0 = start or (now - timedelta(hours=1))
        t1 = min(end or now, now)
        times = []
        t = t0
        while t < t1 and len(times) < 2000:
            times.append(t)
            t += timedelta(seconds=step)
    out = []
    for t in times:
        demand = acc.site_demand_w * (1 + 0.1 * math.sin(t.timestamp() / 600))
        delta_wh = demand * step / 3600
        out.append(
            {
                "readAt": iso(t),
                "demand": dec(round(demand, 1)),
                "consumption": dec(round(1_000_000 + t.timestamp() / 10, 1)),
                "export": dec(0.0),
                "consumptionDelta": dec(round(delta_wh, 3)),
                "costDelta": dec(round(delta_wh / 1000 * 20 / VAT, 4)),
                "costDeltaWithTax": dec(round(delta_wh / 1000 * 20, 4)),
            }
        )
    return out
