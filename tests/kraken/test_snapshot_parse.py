from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from kraken2mqtt.kraken import parse
from kraken2mqtt.kraken.snapshot import (
    DeviceKind,
    DeviceState,
    DeviceType,
    Dispatch,
    GreennessIndex,
    Lifecycle,
    Snapshot,
    Stream,
)

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["-1.5", -1.5, "-1.50"])
def test_decimal_accepts_string_and_number(raw: Any) -> None:
    d = Dispatch(start="2026-01-15T12:00:00Z", end="2026-01-15T13:00:00Z", delta_kwh=raw)
    assert d.delta_kwh == Decimal("-1.5")


@pytest.mark.parametrize(
    "raw",
    ["2026-01-15T12:00:00Z", "2026-01-15T12:00:00.000Z", "2026-01-15T13:00:00+01:00", "2026-01-15T12:00:00"],
)
def test_datetimes_are_utc_aware(raw: str) -> None:
    d = Dispatch(start=raw, end="2026-01-15T13:00:00Z")
    assert d.start == T0
    assert d.start.tzinfo is UTC


def test_float_decimal_has_no_binary_noise() -> None:
    d = Dispatch(start=T0, end=T0, delta_kwh=0.1)
    assert str(d.delta_kwh) == "0.1"


def _device(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "__typename": "SmartFlexVehicle",
        "id": "ev-1",
        "name": "Car",
        "deviceType": "ELECTRIC_VEHICLES",
        "provider": "ENODE",
        "status": {
            "current": "LIVE",
            "currentState": "SMART_CONTROL_IN_PROGRESS",
            "isSuspended": False,
            "stateOfChargeLimit": {"upperSocLimit": 90, "isLimitViolated": False, "timestamp": "x"},
        },
        "alerts": [{"message": "hi", "publishedAt": "2026-01-15T11:00:00Z"}],
        "preferences": {
            "mode": "CHARGE",
            "unit": "PERCENTAGE",
            "targetType": "ABSOLUTE_STATE_OF_CHARGE",
            "schedules": [{"dayOfWeek": "MONDAY", "time": "07:00", "max": 80.0, "min": None}],
        },
        "vehicleVariant": {"model": "M3", "batterySize": "60.0"},
    }
    raw.update(over)
    return raw


def test_ev_device_parses() -> None:
    (dev,) = parse.devices([_device()])
    assert dev.kind == DeviceKind.VEHICLE
    assert dev.lifecycle == Lifecycle.LIVE
    assert dev.state == DeviceState.SMART_CONTROL_IN_PROGRESS
    assert dev.plugged_in is True and dev.charging is True
    assert dev.soc_limit is not None and dev.soc_limit.upper_soc_limit == 90
    assert dev.battery_size_kwh == Decimal("60.0")
    assert dev.preferences is not None and dev.preferences.schedules[0].max == Decimal("80")
    assert dev.alerts[0].published_at == datetime(2026, 1, 15, 11, tzinfo=UTC)


def test_unknown_enums_and_types_become_unknown_and_are_logged_once() -> None:
    raw = _device(
        __typename="SmartFlexHovercraft",
        deviceType="HOVERCRAFTS",
        provider="ACME_NEW",
        status={"current": "SOMETHING_NEW", "currentState": "LEVITATING", "isSuspended": None},
    )
    with capture_logs() as logs:
        devs = parse.devices([raw, {**raw, "id": "ev-2"}])
    assert len(devs) == 2
    dev = devs[0]
    assert dev.kind == DeviceKind.UNKNOWN
    assert dev.device_type == DeviceType.UNKNOWN and dev.device_type_raw == "HOVERCRAFTS"
    assert dev.lifecycle == Lifecycle.UNKNOWN
    assert dev.state == DeviceState.UNKNOWN and dev.state_raw == "LEVITATING"
    assert dev.provider == "ACME_NEW"  # open set, kept verbatim
    assert dev.plugged_in is None
    unknown = [e for e in logs if e["event"] == "kraken.unknown_value"]
    kinds = [(e["kind"], e["value"]) for e in unknown]
    assert len(kinds) == len(set(kinds)) == 4  # each logged once despite two devices


def test_malformed_device_skipped_others_kept() -> None:
    with capture_logs() as logs:
        devs = parse.devices([{"name": "no id"}, _device(), "garbage"])
    assert [d.id for d in devs] == ["ev-1"]
    assert sum(e["event"] == "kraken.item_skipped" for e in logs) == 2


def test_wrong_shapes_raise_parse_error() -> None:
    with pytest.raises(parse.ParseError):
        parse.devices({"not": "a list"})
    with pytest.raises(parse.ParseError):
        parse.dispatches("nope", "plannedDispatches")
    with pytest.raises(parse.ParseError):
        parse.account_info([1, 2])
    with pytest.raises(parse.ParseError):
        parse.viewer_accounts({"viewer": None})


def test_dispatches_meta_and_inverted_interval() -> None:
    raw = [
        {
            "start": "2026-01-15T23:00:00Z",
            "end": "2026-01-16T00:30:00Z",
            "delta": -10.5,
            "meta": {"source": "smart-charge"},
        },
        {"start": "2026-01-15T23:00:00Z", "end": "2026-01-15T22:00:00Z", "delta": "-1"},
        {"start": "2026-01-15T20:00:00Z", "end": "2026-01-15T21:00:00Z", "deltaKwh": -3, "meta": None},
    ]
    out = parse.dispatches(raw, "plannedDispatches")
    assert len(out) == 2
    assert out[0].source == "smart-charge" and out[0].delta_kwh == Decimal("-10.5")
    assert out[1].delta_kwh == Decimal("-3")


def test_inverter_and_heat_pump_device() -> None:
    inverter = {
        "__typename": "SmartFlexInverter",
        "id": "inv",
        "deviceType": "BATTERIES",
        "provider": "BYD",
        "status": {"current": "LIVE", "currentState": "SMART_CONTROL_CAPABLE", "isSuspended": False},
        "telemetry": {
            "battery": {"stateOfCharge": "55.0", "powerInKw": "-1.2", "connectionStatus": "ONLINE"},
            "grid": {"powerInKw": -0.4},
            "solar": {"powerInKw": None},
            "site": {"consumptionInKw": "0.8", "exportInKw": "0"},
            "inverter": {"powerInKw": "0", "connectionStatus": "FLAKY"},
        },
    }
    hp = {
        "__typename": "SmartFlexHeatPump",
        "id": "hp",
        "deviceType": "HEAT_PUMPS",
        "provider": "DAIKIN",
        "powerInKw": "5.0",
        "status": {
            "current": "LIVE",
            "currentState": "SMART_CONTROL_CAPABLE",
            "mode": {"value": "HEATING"},
            "currentTemperatures": [{"zone": "ZONE1", "value": "19.5"}],
            "targetTemperature": {"value": 20},
        },
    }
    inv, heat = parse.devices([inverter, hp])
    assert inv.telemetry is not None
    assert inv.telemetry.battery_soc == Decimal("55.0")
    assert inv.telemetry.grid_power_kw == Decimal("-0.4")
    assert inv.telemetry.solar_power_kw is None
    assert inv.telemetry.inverter_connection.value == "unknown"
    assert heat.kind == DeviceKind.HEAT_PUMP and heat.max_power_kw == Decimal("5.0")
    assert heat.heat_pump is not None and heat.heat_pump.zone_temperatures == (("ZONE1", Decimal("19.5")),)


def test_legacy_vehicle_and_battery() -> None:
    data = parse.devices_data(
        [],
        legacy_ev={"krakenflexDeviceId": "kf1", "vehicleMake": "Tesla", "status": "LIVE", "suspended": False},
        legacy_prefs={"weekdayTargetSoc": 80, "weekdayTargetTime": "07:00", "weekendTargetSoc": 70},
        battery={
            "krakenflexDeviceId": "b1",
            "deviceStatus": {"pluggedIn": True, "readings": {"socPercentage": {"value": 61.0}}},
        },
    )
    (ev,) = data.devices
    assert ev.legacy and ev.kind == DeviceKind.VEHICLE and ev.lifecycle == Lifecycle.LIVE
    assert ev.preferences is not None and ev.preferences.schedules[5].max == Decimal("70")
    assert data.legacy_battery is not None and data.legacy_battery.soc_percent == Decimal("61.0")


def test_events_prepay_rate_limit() -> None:
    ev = parse.events(
        {
            "account": {"hasJoinedCampaign": True, "joinedEvents": [{"eventId": 2}]},
            "events": [
                {"id": 2, "code": "B", "startAt": "2026-01-16T17:00:00Z", "endAt": "2026-01-16T18:00:00Z"},
                {"id": 1, "code": "A", "startAt": "2026-01-15T17:00:00Z", "endAt": "2026-01-15T18:00:00Z"},
            ],
        },
        [
            {
                "validFrom": "2026-01-15T13:00:00Z",
                "validTo": "2026-01-15T14:00:00Z",
                "greennessIndex": "ULTRA",
            },
            {
                "validFrom": "2026-01-15T12:00:00Z",
                "validTo": "2026-01-15T13:00:00Z",
                "greennessIndex": "HIGH",
            },
        ],
        {"carbonIntensityIndex": "MODERATE"},
    )
    assert [s.code for s in ev.saving_sessions] == ["A", "B"]
    assert [s.joined for s in ev.saving_sessions] == [False, True]
    assert [g.index for g in ev.greenness] == [GreennessIndex.HIGH, GreennessIndex.UNKNOWN]
    pp = parse.prepay(
        {
            "creditInPence": 1850,
            "debtInPence": 0,
            "emergencyCreditInPence": 500,
            "asAt": "2026-01-15T12:00:00Z",
        },
        {"edges": [{"node": {"id": "1", "topupAmount": 2000, "effectiveFrom": "2025-01-01T00:00:00Z"}}]},
        {"edges": [{"node": {"id": "t1", "triggeredAt": "2026-01-12T09:00:00Z", "status": "NEWSTATUS"}}]},
    )
    assert pp.balance is not None and pp.balance.credit == 1850
    cfg = pp.current_config(T0)
    assert cfg is not None and cfg.topup_amount == 2000
    assert pp.triggers[0].status == "NEWSTATUS"
    gb = parse.rate_limit({"rateLimit": {"limit": 100, "remainingPoints": 90, "usedPoints": 10}})
    assert gb is not None and gb.remaining == 90
    de = parse.rate_limit(
        {
            "rateLimitInfo": {
                "pointsAllowanceRateLimit": {
                    "limit": 5,
                    "remainingPoints": 0,
                    "ttl": 1768478400,
                    "isBlocked": True,
                }
            }
        }
    )
    assert de is not None and de.blocked and de.resets_at == datetime(2026, 1, 15, 12, tzinfo=UTC)


def test_snapshot_failure_keeps_data_and_age() -> None:
    snap = Snapshot(deployment="octopus-gb")
    snap = snap.with_data(Stream.DEVICES, T0, devices=parse.devices_data([_device()]))
    later = T0.replace(hour=13)
    failed = snap.with_failure(Stream.DEVICES, later, "HTTP 500")
    assert failed.devices == snap.devices
    assert failed.age(Stream.DEVICES, later) == 3600.0
    st = failed.stream(Stream.DEVICES)
    assert st.error == "HTTP 500" and st.failures == 1
    assert failed.with_failure(Stream.DEVICES, later, "again").stream(Stream.DEVICES).failures == 2
    with pytest.raises(Exception, match="frozen"):
        failed.account_number = "x"  # type: ignore[misc]
