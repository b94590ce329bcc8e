"""Every mutation of digest §6 against the demo account, including refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.sim_account import DAYS
from tests.sandbox.conftest import ACCOUNT, Gql, error_codes

MUTATIONS = (Path(__file__).parent / "documents" / "Mutations.graphql").read_text(encoding="utf-8")
EV = "00000000-0000-4000-8000-00000000e001"
INVERTER = "00000000-0000-4000-8000-00000000b001"


def run(g: Gql, op: str, input_: dict[str, Any] | None) -> dict[str, Any]:
    return g(MUTATIONS, {"input": input_}, op=op)


def field(out: dict[str, Any], name: str) -> Any:
    assert "errors" not in out, out["errors"]
    return out["data"][name]


def schedules(max_soc: float = 80, time: str = "07:00") -> list[dict[str, Any]]:
    return [{"dayOfWeek": d, "time": time, "max": max_soc} for d in DAYS]


def test_update_boost_charge_and_refusals(authed: Gql, fk: FakeKraken) -> None:
    ev = fk.account.device(EV)
    assert ev is not None
    got = field(run(authed, "UpdateBoostCharge", {"deviceId": EV, "action": "BOOST"}), "updateBoostCharge")
    assert got["status"]["currentState"] == "BOOSTING"
    out = run(authed, "UpdateBoostCharge", {"deviceId": EV, "action": "BOOST"})
    assert error_codes(out) == ["KT-CT-4357"]
    assert out["errors"][0]["extensions"]["boostChargeRefusalReasons"] == ["BC_BOOST_CHARGE_IN_PROGRESS"]
    got = field(run(authed, "UpdateBoostCharge", {"deviceId": EV, "action": "CANCEL"}), "updateBoostCharge")
    assert got["status"]["currentState"] == "SMART_CONTROL_CAPABLE"
    ev.suspended = True
    out = run(authed, "UpdateBoostCharge", {"deviceId": EV, "action": "BOOST"})
    assert out["data"] == {"updateBoostCharge": None}
    assert out["errors"][0]["extensions"]["boostChargeRefusalReasons"] == ["BC_DEVICE_SUSPENDED"]
    ev.suspended, ev.sim_plugged_in = False, False
    out = run(authed, "UpdateBoostCharge", {"deviceId": EV, "action": "BOOST"})
    assert out["errors"][0]["extensions"]["boostChargeRefusalReasons"] == ["BC_DEVICE_DISCONNECTED"]
    assert error_codes(run(authed, "UpdateBoostCharge", {"deviceId": "nope", "action": "BOOST"})) == [
        "KT-CT-4301"
    ]
    assert [m[0] for m in fk.mutations] == ["updateBoostCharge", "updateBoostCharge"]
    assert fk.mutations[0][1] == {"deviceId": EV, "action": "BOOST"}


def test_update_device_smart_control(authed: Gql, fk: FakeKraken) -> None:
    got = field(
        run(authed, "UpdateDeviceSmartControl", {"deviceId": EV, "action": "SUSPEND"}),
        "updateDeviceSmartControl",
    )
    assert got["status"] == {"current": "LIVE", "currentState": "SMART_CONTROL_OFF", "isSuspended": True}
    got = field(
        run(authed, "UpdateDeviceSmartControl", {"deviceId": EV, "action": "UNSUSPEND"}),
        "updateDeviceSmartControl",
    )
    assert got["status"]["isSuspended"] is False
    bad = run(authed, "UpdateDeviceSmartControl", {"deviceId": EV, "action": "PAUSE"})
    assert bad["data"] is None and "SmartControlAction" in bad["errors"][0]["message"]  # variable coercion
    assert error_codes(run(authed, "UpdateDeviceSmartControl", {"deviceId": "x", "action": "SUSPEND"})) == [
        "KT-CT-4301"
    ]


def test_set_device_preferences(authed: Gql, fk: FakeKraken) -> None:
    base = {"deviceId": EV, "mode": "CHARGE", "unit": "PERCENTAGE"}
    got = field(
        run(authed, "SetDevicePreferences", base | {"schedules": schedules(90, "06:30")}),
        "setDevicePreferences",
    )
    prefs = got["preferences"]
    assert prefs["schedules"][0] == {"dayOfWeek": "MONDAY", "time": "06:30:00", "min": None, "max": 90.0}
    ev = fk.account.device(EV)
    assert ev is not None and ev.preferences is not None and ev.preferences.schedules[6].time == "06:30"
    cases = {
        "max 105 must be between 10 and 100": schedules(105),
        "max 5 must be between 10 and 100": schedules(5),
        "max 80.5 must be a multiple of 1": schedules(80.5),
        "must be a multiple of 30 minutes": schedules(80, "06:15"),
        "must be between 04:00 and 11:00": schedules(80, "12:00"),
        "is not HH:MM": schedules(80, "7am"),
    }
    for expected, sch in cases.items():
        out = run(authed, "SetDevicePreferences", base | {"schedules": sch})
        assert error_codes(out) == ["KT-CT-4321"], expected
        assert expected in out["errors"][0]["extensions"]["errorDescription"]
    out = run(authed, "SetDevicePreferences", base | {"unit": "CELSIUS", "schedules": schedules()})
    assert "unit must be PERCENTAGE" in out["errors"][0]["extensions"]["errorDescription"]
    out = run(authed, "SetDevicePreferences", base | {"deviceId": INVERTER, "schedules": schedules()})
    assert error_codes(out) == ["KT-CT-4321"]
    assert [m[0] for m in fk.mutations] == ["setDevicePreferences"]


def test_update_device_grid_export(authed: Gql, fk: FakeKraken) -> None:
    field(
        run(authed, "UpdateDeviceGridExport", {"deviceId": INVERTER, "enabled": False}),
        "updateDeviceGridExport",
    )
    inverter = fk.account.device(INVERTER)
    assert inverter is not None and inverter.grid_export_enabled is False
    assert error_codes(run(authed, "UpdateDeviceGridExport", {"deviceId": EV, "enabled": True})) == [
        "KT-CT-4386"
    ]


def test_legacy_boost_suspend_resume(authed: Gql, fk: FakeKraken) -> None:
    acct = {"accountNumber": ACCOUNT}
    got = field(run(authed, "TriggerBoostCharge", acct), "triggerBoostCharge")
    assert got["krakenflexDevice"]["krakenflexDeviceId"] == EV
    assert error_codes(run(authed, "TriggerBoostCharge", acct)) == ["KT-CT-4356"]
    field(run(authed, "DeleteBoostCharge", acct), "deleteBoostCharge")
    assert error_codes(run(authed, "DeleteBoostCharge", acct)) == ["KT-CT-4354"]
    assert (
        field(run(authed, "SuspendControl", acct), "suspendControl")["krakenflexDevice"]["suspended"] is True
    )
    assert error_codes(run(authed, "SuspendControl", acct)) == ["KT-CT-4358"]
    out = run(authed, "TriggerBoostCharge", acct)
    assert out["errors"][0]["extensions"]["boostChargeRefusalReasons"] == ["BC_DEVICE_SUSPENDED"]
    assert (
        field(run(authed, "ResumeControl", acct), "resumeControl")["krakenflexDevice"]["suspended"] is False
    )
    assert error_codes(run(authed, "ResumeControl", acct)) == ["KT-CT-4359"]
    assert error_codes(run(authed, "TriggerBoostCharge", {"accountNumber": "A-OTHER"})) == ["KT-CT-4177"]
    fk.account.devices = [d for d in fk.account.devices if d.kind != "vehicle"]
    for op in (
        "TriggerBoostCharge",
        "DeleteBoostCharge",
        "SuspendControl",
        "ResumeControl",
        "SetVehicleChargePreferences",
    ):
        assert error_codes(run(authed, op, acct)) == ["KT-CT-4301"], op


def test_set_vehicle_charge_preferences(authed: Gql, fk: FakeKraken) -> None:
    inp = {
        "accountNumber": ACCOUNT,
        "weekdayTargetSoc": 70,
        "weekendTargetSoc": 90,
        "weekdayTargetTime": "06:30",
        "weekendTargetTime": "09:00",
    }
    field(run(authed, "SetVehicleChargePreferences", inp), "setVehicleChargePreferences")
    # vehicleChargingPreferences, which read them back, is past its removal date (2024-11-01).
    ev = fk.account.legacy_device()
    assert ev is not None and (ev.weekday_target_soc, ev.weekday_target_time) == (70, "06:30")
    out = run(authed, "SetVehicleChargePreferences", inp | {"weekdayTargetSoc": 101})
    assert error_codes(out) == ["KT-CT-4321"]


@pytest.mark.parametrize(
    ("op", "input_", "check"),
    [
        ("SetClimateControlState", {"enable": False}, lambda hp: hp.climate_enabled is False),
        ("SetHotWaterState", {"enable": False}, lambda hp: hp.water_enabled is False),
        ("SetRoomTemperature", {"temperature": "21.5"}, lambda hp: hp.target_climate_c == 21.5),
        ("SetRoomTemperature", {"temperature": 19}, lambda hp: hp.target_climate_c == 19.0),
    ],
)
def test_heat_pump_mutations(
    authed: Gql, fk: FakeKraken, op: str, input_: dict[str, Any], check: Any
) -> None:
    got = field(run(authed, op, {"accountNumber": ACCOUNT} | input_), op[0].lower() + op[1:])
    assert got["heatPumpDevice"]["krakenflexDeviceId"] == "kf-hp-1"
    assert check(fk.account.legacy_heat_pump)


def test_heat_pump_mutation_refusals(authed: Gql, fk: FakeKraken) -> None:
    out = run(authed, "SetRoomTemperature", {"accountNumber": ACCOUNT, "temperature": 45})
    assert error_codes(out) == ["KT-CT-4329"]
    fk.account.legacy_heat_pump = None
    assert error_codes(run(authed, "SetHotWaterState", {"accountNumber": ACCOUNT, "enable": True})) == [
        "KT-CT-4301"
    ]


def test_update_auto_top_up_amount(authed: Gql, fk: FakeKraken) -> None:
    inp = {"accountNumber": ACCOUNT, "amount": 3000, "ledgerNumber": "L-SANDBOX1"}
    got = field(run(authed, "UpdateAutoTopUpAmount", inp), "updateAutoTopUpAmount")
    assert got["schedule"]["paymentAmount"] == 3000 and got["schedule"]["validFrom"] == "2026-01-15"
    assert error_codes(run(authed, "UpdateAutoTopUpAmount", inp | {"ledgerId": "1"})) == ["KT-CT-3820"]
    assert error_codes(run(authed, "UpdateAutoTopUpAmount", {"accountNumber": ACCOUNT, "amount": 1})) == [
        "KT-CT-3821"
    ]
    assert error_codes(run(authed, "UpdateAutoTopUpAmount", inp | {"amount": 0})) == ["KT-CT-3941"]
    fk.account.payment_schedules[-1].schedule_type = "BACS_TRANSFER"
    assert error_codes(run(authed, "UpdateAutoTopUpAmount", inp)) == ["KT-CT-3953"]
    fk.account.payment_schedules.clear()
    assert error_codes(run(authed, "UpdateAutoTopUpAmount", inp)) == ["KT-CT-3815"]


def test_mutations_need_auth(gql: Gql) -> None:
    out = run(gql, "UpdateBoostCharge", {"deviceId": EV, "action": "BOOST"})
    assert error_codes(out) == ["KT-CT-1112"]
