"""Kraken response JSON → snapshot models.

A wrong *shape* at the top of a stream (an object where a list belongs, a missing required key) raises
:class:`ParseError`, so the poller keeps that stream's last good data. A malformed *item* inside a list (one
dispatch, one device) is skipped and logged, so one bad entry cannot hide the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError

from kraken2mqtt.kraken.snapshot import (
    AccountInfo,
    Alert,
    AutoTopupConfig,
    AutoTopupTrigger,
    Device,
    DeviceKind,
    DevicesData,
    Dispatch,
    EventsData,
    GreennessPeriod,
    HeatPumpController,
    HeatPumpDeviceStatus,
    InverterTelemetry,
    LegacyBattery,
    LegacyHeatPumpStatus,
    MeterPoint,
    Preferences,
    PreferenceSchedule,
    PrepayBalance,
    PrepayData,
    Property,
    RateLimitData,
    SavingSession,
    SensorState,
    SocLimit,
    ZoneState,
    log_unknown_once,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")


class ParseError(ValueError):
    """A response did not have the shape we asked for."""


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def opt_obj(value: Any, what: str) -> dict[str, Any] | None:
    return None if value is None else obj(value, what)


def items(value: Any, what: str) -> list[Any]:
    """A GraphQL list (null → empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def edges(value: Any, what: str) -> list[Any]:
    """The nodes of a Relay connection (null → empty)."""
    if value is None:
        return []
    conn = obj(value, what)
    return [obj(e, what).get("node") for e in items(conn.get("edges"), what) if e is not None]


def each(raw: Iterable[Any], build: Callable[[dict[str, Any]], T], what: str) -> tuple[T, ...]:
    """Build every item, skipping (and logging) the ones that do not fit."""
    out: list[T] = []
    for item in raw:
        if item is None:
            continue
        try:
            out.append(build(obj(item, what)))
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            log.warning("kraken.item_skipped", what=what, error=_short(exc))
    return tuple(out)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def sub(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` when it is an object, else an empty dict (optional nested objects)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# ------------------------------------------------------------------------------------------- account


def viewer_accounts(data: Mapping[str, Any]) -> list[str]:
    viewer = obj(data.get("viewer"), "viewer")
    numbers = [_str(a.get("number")) for a in items(viewer.get("accounts"), "viewer.accounts") if a]
    return [n for n in numbers if n]


def _meter_point(raw: dict[str, Any]) -> MeterPoint:
    serials: list[str] = []
    esme: str | None = None
    mode: str | None = None
    others: list[str] = []
    for meter in items(raw.get("meters"), "meters"):
        if not isinstance(meter, dict):
            continue
        if meter.get("serialNumber"):
            serials.append(str(meter["serialNumber"]))
        smart = meter.get("smartImportElectricityMeter")
        if isinstance(smart, dict) and smart.get("deviceId") and esme is None:
            esme = str(smart["deviceId"])
            mode = _str(smart.get("paymentMode"))
        for dev in items(meter.get("smartDevices"), "smartDevices"):
            if isinstance(dev, dict) and dev.get("deviceId") and str(dev["deviceId"]) not in others:
                others.append(str(dev["deviceId"]))
                if mode is None and dev.get("type") == "ESME":
                    mode = _str(dev.get("paymentMode"))
    return MeterPoint(
        mpan=str(raw["mpan"]),
        direction=raw.get("direction") or "unknown",
        gsp_group_id=_str(raw.get("gspGroupId")),
        meter_serials=tuple(serials),
        esme_device_id=esme,
        payment_mode=mode,
        smart_device_ids=tuple(others),
    )


def _property(raw: dict[str, Any]) -> Property:
    return Property(
        id=str(raw.get("id")),
        postcode=_str(raw.get("postcode")),
        meter_points=each(
            items(raw.get("electricityMeterPoints"), "meterPoints"), _meter_point, "meterPoint"
        ),
    )


def account_info(
    account: Any,
    *,
    euids: Any = None,
    agreement_ids: Iterable[str] = (),
    product_codes: Iterable[str] = (),
) -> AccountInfo:
    acc = obj(account, "account")
    number = acc.get("number")
    if not number:
        raise ParseError("account: no number")
    return AccountInfo(
        number=str(number),
        properties=each(items(acc.get("properties"), "properties"), _property, "property"),
        heat_pump_controller_euids=tuple(str(e) for e in items(euids, "controllerEuids") if e),
        agreement_ids=tuple(agreement_ids),
        product_codes=tuple(product_codes),
    )


# ---------------------------------------------------------------------------------------- dispatches


#: ``SmartFlexDispatch.type`` -> the ``meta.source`` of the account-wide lists (what billing and signals use).
SOURCE_OF_TYPE = {"SMART": "smart-charge", "BOOST": "bump-charge", "TEST": "test-charge"}


def _dispatch(raw: dict[str, Any]) -> Dispatch:
    meta = sub(raw, "meta")
    delta = raw.get("delta")
    if delta is None and raw.get("deltaKwh") is not None:
        delta = raw["deltaKwh"]
    kind = _str(raw.get("type"))
    source = _str(meta.get("source"))
    if source is None and kind is not None:
        source = SOURCE_OF_TYPE.get(kind.upper())
        if source is None:
            log_unknown_once("dispatch type", kind)
    return Dispatch(
        start=raw["start"],
        end=raw["end"],
        delta_kwh=delta,
        source=source,
        location=_str(meta.get("location")),
        type=kind,
        energy_kwh=raw.get("energyAddedKwh"),
    )


def dispatches(value: Any, what: str) -> tuple[Dispatch, ...]:
    return tuple(
        d for d in each(items(value, what), _dispatch, what) if d.end > d.start or _bad_interval(d, what)
    )


def flex_dispatches(value: Any, device_id: str) -> tuple[Dispatch, ...]:
    """``flexPlannedDispatches(deviceId)``: one device's planned dispatches (``start end type
    energyAddedKwh``)."""
    return tuple(
        d.model_copy(update={"device_id": device_id}) for d in dispatches(value, "flexPlannedDispatches")
    )


def _bad_interval(d: Dispatch, what: str) -> bool:
    log.warning("kraken.item_skipped", what=what, error="dispatch ends before it starts")
    return False


# ------------------------------------------------------------------------------------------- devices

_KIND_BY_TYPENAME = {
    "SmartFlexVehicle": DeviceKind.VEHICLE,
    "SmartFlexChargePoint": DeviceKind.CHARGE_POINT,
    "SmartFlexBattery": DeviceKind.BATTERY,
    "SmartFlexInverter": DeviceKind.INVERTER,
    "SmartFlexHeatPump": DeviceKind.HEAT_PUMP,
    "SmartFlexStorageHeaters": DeviceKind.STORAGE_HEATERS,
    "SmartFlexDevice": DeviceKind.GENERIC,
}


def _kind(typename: Any) -> DeviceKind:
    kind = _KIND_BY_TYPENAME.get(str(typename))
    if kind is None:
        log_unknown_once("device typename", typename)
        return DeviceKind.UNKNOWN
    return kind


def _soc_limit(raw: Any) -> SocLimit | None:
    if not isinstance(raw, dict):
        return None
    return SocLimit(
        upper_soc_limit=raw.get("upperSocLimit"),
        is_limit_violated=raw.get("isLimitViolated"),
        timestamp=_str(raw.get("timestamp")),
    )


def _preferences(raw: Any) -> Preferences | None:
    if not isinstance(raw, dict) or not raw:
        return None
    schedules = each(
        items(raw.get("schedules"), "schedules"),
        lambda s: PreferenceSchedule(
            day_of_week=str(s["dayOfWeek"]),
            time=str(s["time"]),
            max=s.get("max"),
            min=s.get("min"),
            upper_limit=s.get("upperLimit"),
        ),
        "preference schedule",
    )
    return Preferences(
        mode=_str(raw.get("mode")),
        unit=_str(raw.get("unit")),
        target_type=_str(raw.get("targetType")),
        schedules=schedules,
    )


def _telemetry(raw: Any) -> InverterTelemetry | None:
    if not isinstance(raw, dict):
        return None

    def part(name: str) -> dict[str, Any]:
        value = raw.get(name)
        return value if isinstance(value, dict) else {}

    battery, inverter, site = part("battery"), part("inverter"), part("site")
    return InverterTelemetry(
        battery_soc=battery.get("stateOfCharge"),
        battery_power_kw=battery.get("powerInKw"),
        battery_connection=battery.get("connectionStatus") or "unknown",
        inverter_power_kw=inverter.get("powerInKw"),
        inverter_connection=inverter.get("connectionStatus") or "unknown",
        grid_power_kw=part("grid").get("powerInKw"),
        solar_power_kw=part("solar").get("powerInKw"),
        site_consumption_kw=site.get("consumptionInKw"),
        site_export_kw=site.get("exportInKw"),
    )


def _heat_pump_status(status: dict[str, Any]) -> HeatPumpDeviceStatus | None:
    if not any(k in status for k in ("mode", "activity", "currentTemperatures", "targetTemperature")):
        return None
    temps: list[tuple[str, Decimal]] = []
    for zt in items(status.get("currentTemperatures"), "currentTemperatures"):
        if isinstance(zt, dict) and zt.get("zone") is not None and zt.get("value") is not None:
            try:
                temps.append((str(zt["zone"]), Decimal(str(zt["value"]))))
            except ArithmeticError:
                log.warning("kraken.item_skipped", what="zone temperature", error="not a decimal")

    def value_of(name: str) -> Any:
        v = status.get(name)
        return v.get("value") if isinstance(v, dict) else None

    return HeatPumpDeviceStatus(
        mode=_str(value_of("mode")),
        activity=_str(value_of("activity")),
        zone_temperatures=tuple(temps),
        target_temperature=value_of("targetTemperature"),
    )


def _device(raw: dict[str, Any]) -> Device:
    status = sub(raw, "status")
    vehicle = sub(raw, "vehicleVariant")
    charger = sub(raw, "chargePointVariant")
    alerts = each(
        items(raw.get("alerts"), "alerts"),
        lambda a: Alert(message=_str(a.get("message")), published_at=a.get("publishedAt")),
        "alert",
    )
    return Device(
        id=str(raw["id"]),
        kind=_kind(raw.get("__typename")),
        typename=_str(raw.get("__typename")),
        name=_str(raw.get("name")),
        device_type=raw.get("deviceType") or "unknown",
        device_type_raw=_str(raw.get("deviceType")),
        provider=_str(raw.get("provider")),
        integration_device_id=_str(raw.get("integrationDeviceId")),
        property_id=_str(raw.get("propertyId")),
        make=_str(raw.get("make")),
        model=_str(raw.get("model")),
        lifecycle=status.get("current") or "unknown",
        state=status.get("currentState") or "unknown",
        state_raw=_str(status.get("currentState")),
        suspended=status.get("isSuspended"),
        soc_limit=_soc_limit(status.get("stateOfChargeLimit")),
        test_dispatch_failure_reason=_str(status.get("testDispatchFailureReason")),
        alerts=alerts,
        preferences=_preferences(raw.get("preferences")),
        battery_size_kwh=_first(raw.get("vehicleBatterySize"), vehicle.get("batterySize")),
        charge_point_power_kw=_first(raw.get("chargePointPowerOutput"), charger.get("powerInKw")),
        soc_percent=_reading(status.get("stateOfCharge")),
        active_power_kw=_reading(status.get("activePower")),
        max_power_kw=raw.get("powerInKw"),
        telemetry=_telemetry(raw.get("telemetry")),
        heat_pump=_heat_pump_status(status),
    )


def _reading(value: Any) -> Any:
    """A ``DecimalReading`` (``{value timestamp}``, as OEG selects it) or a bare number."""
    return value.get("value") if isinstance(value, dict) else value


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def devices(value: Any) -> tuple[Device, ...]:
    return each(items(value, "devices"), _device, "device")


def legacy_vehicle(raw: Any, preferences: Any = None) -> Device | None:
    """``registeredKrakenflexDevice`` (one EV per account) as a :class:`Device`."""
    dev = opt_obj(raw, "registeredKrakenflexDevice")
    if not dev or not dev.get("krakenflexDeviceId"):
        return None
    status = str(dev.get("status") or "")
    prefs = opt_obj(preferences, "vehicleChargingPreferences")
    schedules: tuple[PreferenceSchedule, ...] = ()
    if prefs:
        days = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
        schedules = tuple(
            PreferenceSchedule(
                day_of_week=day,
                time=str(prefs.get("weekdayTargetTime" if i < 5 else "weekendTargetTime") or ""),
                max=prefs.get("weekdayTargetSoc" if i < 5 else "weekendTargetSoc"),
            )
            for i, day in enumerate(days)
        )
    return Device(
        id=str(dev["krakenflexDeviceId"]),
        kind=DeviceKind.CHARGE_POINT if dev.get("chargePointMake") else DeviceKind.VEHICLE,
        typename="KrakenFlexDeviceType",
        device_type="ELECTRIC_VEHICLES",
        device_type_raw=None,
        provider=_str(dev.get("provider")),
        make=_str(dev.get("vehicleMake") or dev.get("chargePointMake")),
        model=_str(dev.get("vehicleModel") or dev.get("chargePointModel")),
        lifecycle=status or "unknown",
        suspended=dev.get("suspended"),
        soc_limit=_soc_limit(dev.get("stateOfChargeLimit")),
        test_dispatch_failure_reason=_str(dev.get("testDispatchFailureReason")),
        preferences=Preferences(mode="CHARGE", unit="PERCENTAGE", schedules=schedules) if prefs else None,
        battery_size_kwh=dev.get("vehicleBatterySizeInKwh"),
        charge_point_power_kw=dev.get("chargePointPowerInKw"),
        legacy=True,
    )


def legacy_battery(raw: Any) -> LegacyBattery | None:
    dev = opt_obj(raw, "batteryDevice")
    if not dev:
        return None
    status = sub(dev, "deviceStatus")
    readings = sub(status, "readings")
    prefs = sub(dev, "chargingPreferences")

    def reading(name: str) -> Any:
        r = readings.get(name)
        return r.get("value") if isinstance(r, dict) else None

    return LegacyBattery(
        krakenflex_device_id=_str(dev.get("krakenflexDeviceId")),
        provider=_str(dev.get("provider")),
        suspended=status.get("suspended"),
        plugged_in=status.get("pluggedIn"),
        soc_percent=reading("socPercentage"),
        active_power_kw=reading("activePowerInKw"),
        energy_kwh=reading("energyInKwh"),
        min_soc_percent=prefs.get("minimumSocPercentage"),
        max_soc_percent=prefs.get("maximumSocPercentage"),
    )


def devices_data(
    smartflex: Any, *, legacy_ev: Any = None, legacy_prefs: Any = None, battery: Any = None
) -> DevicesData:
    devs = list(devices(smartflex))
    ev = legacy_vehicle(legacy_ev, legacy_prefs) if legacy_ev is not None else None
    if ev is not None and not any(d.is_ev for d in devs):
        devs.append(ev)
    return DevicesData(
        devices=tuple(devs),
        legacy_battery=legacy_battery(battery),
        legacy_vehicle_preferences=opt_obj(legacy_prefs, "vehicleChargingPreferences"),
    )


# ---------------------------------------------------------------------------------------- heat pumps


def legacy_heat_pump(raw: Any) -> LegacyHeatPumpStatus | None:
    hp = opt_obj(raw, "heatPumpStatus")
    if hp is None:
        return None
    climate = sub(hp, "climateControlStatus")
    water = sub(hp, "waterTemperatureStatus")
    return LegacyHeatPumpStatus(
        connected=hp.get("isConnected"),
        climate_control_enabled=climate.get("climateControlEnabled"),
        current_climate_c=climate.get("currentClimateControlTemperature"),
        target_climate_c=climate.get("targetClimateControlTemperature"),
        water_enabled=water.get("waterTemperatureEnabled"),
        current_water_c=water.get("currentWaterTemperature"),
    )


def controllers_at_location(raw: Any) -> tuple[str, ...]:
    """The euids of ``heatPumpControllersAtLocation`` (``[{controller: {euid}}]``), in order, once each."""
    out: list[str] = []
    for item in items(raw, "heatPumpControllersAtLocation"):
        if not isinstance(item, dict):
            continue
        euid = sub(item, "controller").get("euid")
        if euid is not None and str(euid) not in out:
            out.append(str(euid))
    return tuple(out)


def controller(euid: str, status: Any, live: Any) -> HeatPumpController:
    st = opt_obj(status, "octoHeatPumpControllerStatus") or {}
    lv = opt_obj(live, "octoHeatPumpLivePerformance") or {}

    def zone(z: dict[str, Any]) -> ZoneState:
        tel = sub(z, "telemetry")
        return ZoneState(
            zone=str(z["zone"]),
            setpoint_c=tel.get("setpointInCelsius"),
            mode=_str(tel.get("mode")),
            relay_on=tel.get("relaySwitchedOn"),
            heat_demand=tel.get("heatDemand"),
            retrieved_at=tel.get("retrievedAt"),
        )

    def sensor(s: dict[str, Any]) -> SensorState:
        conn = sub(s, "connectivity")
        tel = sub(s, "telemetry")
        return SensorState(
            code=str(s["code"]),
            online=conn.get("online"),
            temperature_c=tel.get("temperatureInCelsius"),
            humidity_percent=tel.get("humidityPercentage"),
        )

    def value(name: str) -> Any:
        v = lv.get(name)
        return v.get("value") if isinstance(v, dict) else None

    return HeatPumpController(
        euid=euid,
        zones=each(items(st.get("zones"), "zones"), zone, "zone"),
        sensors=each(items(st.get("sensors"), "sensors"), sensor, "sensor"),
        live_read_at=lv.get("readAt"),
        cop=lv.get("coefficientOfPerformance"),
        power_input_kw=value("powerInput"),
        heat_output_kw=value("heatOutput"),
        outdoor_temperature_c=value("outdoorTemperature"),
    )


# -------------------------------------------------------------------------------------------- prepay


def prepay(balance: Any, configs: Any, triggers: Any = None) -> PrepayData:
    bal = opt_obj(balance, "prepayBalanceSnapshot")
    return PrepayData(
        balance=(
            PrepayBalance(
                credit=bal["creditInPence"],
                debt=bal.get("debtInPence") or 0,
                emergency_credit=bal.get("emergencyCreditInPence"),
                as_at=bal.get("asAt"),
            )
            if bal
            else None
        ),
        topup_configs=each(
            edges(configs, "autoTopupConfigs"),
            lambda c: AutoTopupConfig(
                id=str(c["id"]),
                device_id=_str(c.get("deviceId")),
                topup_amount=c.get("topupAmount"),
                effective_from=c.get("effectiveFrom"),
                effective_to=c.get("effectiveTo"),
            ),
            "autoTopupConfig",
        ),
        triggers=each(
            edges(triggers, "autoTopupTriggers"),
            lambda t: AutoTopupTrigger(
                id=str(t["id"]),
                triggered_at=t.get("triggeredAt"),
                status=_str(t.get("status")),
                source=_str(t.get("source")),
                failure_reason=_str(t.get("failureReason")),
            ),
            "autoTopupTrigger",
        ),
    )


# -------------------------------------------------------------------------------------------- events


#: A greener night (``greenerNightsForecast.date``) runs from 23:00 on that date to 06:00 the next morning,
#: UK time (HAOE bafdb0d / api_client @ 4c25c726 async_get_greener_nights_forecast).
GREENER_NIGHT = (time(23, 0), time(6, 0))
_UK = ZoneInfo("Europe/London")


def greener_nights(raw: Any) -> tuple[GreennessPeriod, ...]:
    """``greenerNightsForecast`` as greenness periods, one per night; ``highlight`` is ``isGreenerNight``."""

    def night(g: dict[str, Any]) -> GreennessPeriod:
        day = date.fromisoformat(str(g["date"])[:10])
        start = datetime.combine(day, GREENER_NIGHT[0], _UK)
        end = datetime.combine(day + timedelta(days=1), GREENER_NIGHT[1], _UK)
        return GreennessPeriod(
            start=start,
            end=end,
            score=g.get("greennessScore"),
            index=g.get("greennessIndex") or "unknown",
            highlight=bool(g.get("isGreenerNight")),
        )

    return tuple(
        sorted(each(items(raw, "greenerNightsForecast"), night, "greener night"), key=lambda g: g.start)
    )


def events(saving: Any, greenness: Any, energy_mix: Any = None) -> EventsData:
    ss = opt_obj(saving, "savingSessions") or {}
    account = sub(ss, "account")
    joined = {
        str(j.get("eventId"))
        for j in items(account.get("joinedEvents"), "joinedEvents")
        if isinstance(j, dict)
    }
    sessions = each(
        items(ss.get("events"), "savingSessions.events"),
        lambda e: SavingSession(
            id=str(e["id"]),
            code=_str(e.get("code")),
            start=e["startAt"],
            end=e["endAt"],
            status=_str(e.get("status")),
            reward_per_kwh_points=e.get("rewardPerKwhInOctoPoints"),
            joined=str(e["id"]) in joined,
        ),
        "saving session",
    )
    periods = each(
        items(greenness, "greennessForecast"),
        lambda g: GreennessPeriod(
            start=g["validFrom"],
            end=g["validTo"],
            score=g.get("greennessScore"),
            index=g.get("greennessIndex") or "unknown",
            highlight=bool(g.get("highlightFlag")),
        ),
        "greenness period",
    )
    mix = opt_obj(energy_mix, "energyMixData") or {}
    return EventsData(
        saving_sessions=tuple(sorted(sessions, key=lambda s: s.start)),
        has_joined_saving_campaign=account.get("hasJoinedCampaign"),
        greenness=tuple(sorted(periods, key=lambda g: g.start)),
        carbon_intensity_index=_str(mix.get("carbonIntensityIndex")),
    )


# ---------------------------------------------------------------------------------------- rate limit


def rate_limit(data: Mapping[str, Any]) -> RateLimitData | None:
    """From ``rateLimitInfo.pointsAllowanceRateLimit`` (GB, DE, AU: what the live clients read), or the
    docs-only ``rateLimit`` (GB)."""
    if isinstance(data.get("rateLimit"), dict):
        raw = data["rateLimit"]
        ttl = None
    elif isinstance(data.get("rateLimitInfo"), dict):
        raw = data["rateLimitInfo"].get("pointsAllowanceRateLimit")
        if not isinstance(raw, dict):
            return None
        ttl = raw.get("ttl")
    else:
        return None
    resets: datetime | None = None
    if isinstance(ttl, int | float) and not isinstance(ttl, bool):
        from datetime import UTC

        resets = datetime.fromtimestamp(float(ttl), UTC)
    return RateLimitData(
        limit=raw.get("limit"),
        remaining=raw.get("remainingPoints"),
        used=raw.get("usedPoints"),
        resets_at=resets,
        blocked=bool(raw.get("isBlocked")),
    )
