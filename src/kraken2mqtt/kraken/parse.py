"""Kraken response JSON → snapshot models.

The snapshot models declare where each field is read in a response (``validation_alias``: ``status.current``);
this module checks the shape at the top of each stream and does what is not a field copy (which account, the
legacy vehicle, the nights of ``greenerNightsForecast``). A wrong *shape* at the top of a stream (an object
where a list belongs, a missing required key) raises :class:`ParseError`, so the poller keeps that stream's
last good data. A malformed *item* inside a list (one dispatch, one device) is skipped and logged, so one bad
entry cannot hide the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError

from kraken2mqtt.kraken.snapshot import (
    AccountInfo,
    AutoTopupConfig,
    AutoTopupTrigger,
    Device,
    DeviceKind,
    DevicesData,
    Dispatch,
    EventsData,
    GreennessPeriod,
    HeatPumpController,
    LegacyBattery,
    LegacyHeatPumpStatus,
    Preferences,
    PreferenceSchedule,
    PrepayBalance,
    PrepayData,
    RateLimitData,
    SavingSession,
    SocLimit,
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


def account_info(
    account: Any,
    *,
    euids: Any = None,
    agreement_ids: Iterable[str] = (),
    product_codes: Iterable[str] = (),
) -> AccountInfo:
    acc = obj(account, "account")
    if not acc.get("number"):
        raise ParseError("account: no number")
    items(acc.get("properties"), "properties")
    return AccountInfo.model_validate(
        {
            **acc,
            "heat_pump_controller_euids": tuple(str(e) for e in items(euids, "controllerEuids") if e),
            "agreement_ids": tuple(agreement_ids),
            "product_codes": tuple(product_codes),
        }
    )


# ---------------------------------------------------------------------------------------- dispatches


#: ``SmartFlexDispatch.type`` -> the ``meta.source`` of the account-wide lists (what billing and signals use).
SOURCE_OF_TYPE = {"SMART": "smart-charge", "BOOST": "bump-charge", "TEST": "test-charge"}


def _dispatch(raw: dict[str, Any]) -> Dispatch:
    d = Dispatch.model_validate(raw)
    if d.source is None and d.type is not None:
        source = SOURCE_OF_TYPE.get(d.type.upper())
        if source is None:
            log_unknown_once("dispatch type", d.type)
        return d.model_copy(update={"source": source})
    return d


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


def devices(value: Any) -> tuple[Device, ...]:
    return each(items(value, "devices"), Device.model_validate, "device")


_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def legacy_vehicle(raw: Any, preferences: Any = None) -> Device | None:
    """``registeredKrakenflexDevice`` (one EV per account) as a :class:`Device`."""
    dev = opt_obj(raw, "registeredKrakenflexDevice")
    if not dev or not dev.get("krakenflexDeviceId"):
        return None
    prefs = opt_obj(preferences, "vehicleChargingPreferences") or {}
    schedules = tuple(
        PreferenceSchedule(
            day_of_week=day,
            time=str(prefs.get("weekdayTargetTime" if i < 5 else "weekendTargetTime") or ""),
            max=prefs.get("weekdayTargetSoc" if i < 5 else "weekendTargetSoc"),
        )
        for i, day in enumerate(_DAYS)
    )
    limit = dev.get("stateOfChargeLimit")
    return Device(
        id=str(dev["krakenflexDeviceId"]),
        kind=DeviceKind.CHARGE_POINT if dev.get("chargePointMake") else DeviceKind.VEHICLE,
        typename="KrakenFlexDeviceType",
        device_type="ELECTRIC_VEHICLES",
        provider=dev.get("provider"),
        make=dev.get("vehicleMake") or dev.get("chargePointMake"),
        model=dev.get("vehicleModel") or dev.get("chargePointModel"),
        lifecycle=str(dev.get("status") or "") or "unknown",
        suspended=dev.get("suspended"),
        soc_limit=SocLimit.model_validate(limit) if isinstance(limit, dict) else None,
        test_dispatch_failure_reason=dev.get("testDispatchFailureReason"),
        preferences=Preferences(mode="CHARGE", unit="PERCENTAGE", schedules=schedules) if prefs else None,
        battery_size_kwh=dev.get("vehicleBatterySizeInKwh"),
        charge_point_power_kw=dev.get("chargePointPowerInKw"),
        legacy=True,
    )


def legacy_battery(raw: Any) -> LegacyBattery | None:
    dev = opt_obj(raw, "batteryDevice")
    return LegacyBattery.model_validate(dev) if dev else None


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
    return None if hp is None else LegacyHeatPumpStatus.model_validate(hp)


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
    return HeatPumpController.model_validate({**st, **lv, "euid": euid})


# -------------------------------------------------------------------------------------------- prepay


def prepay(balance: Any, configs: Any, triggers: Any = None) -> PrepayData:
    bal = opt_obj(balance, "prepayBalanceSnapshot")
    return PrepayData(
        balance=PrepayBalance.model_validate(bal) if bal else None,
        topup_configs=each(
            edges(configs, "autoTopupConfigs"), AutoTopupConfig.model_validate, "autoTopupConfig"
        ),
        triggers=each(
            edges(triggers, "autoTopupTriggers"), AutoTopupTrigger.model_validate, "autoTopupTrigger"
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
        return GreennessPeriod.model_validate(
            {
                **g,
                "start": datetime.combine(day, GREENER_NIGHT[0], _UK),
                "end": datetime.combine(day + timedelta(days=1), GREENER_NIGHT[1], _UK),
                "highlight": g.get("isGreenerNight"),
            }
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
        lambda e: SavingSession.model_validate({**e, "joined": str(e["id"]) in joined}),
        "saving session",
    )
    periods = each(items(greenness, "greennessForecast"), GreennessPeriod.model_validate, "greenness period")
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
        resets = datetime.fromtimestamp(float(ttl), UTC)
    return RateLimitData.model_validate({**raw, "resets_at": resets})
