"""Queries against the demo accounts, using the sample documents in ./documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.sim_account import (
    SimAccount,
    SimAgreement,
    SimDevice,
    SimDispatch,
    SimTariff,
    agile_curve,
)
from tests.sandbox.conftest import ACCOUNT, T0, Gql, error_codes

DOCS = Path(__file__).parent / "documents"
ESME = "12-34-5A-FF-FF-6B-C7-89"
EUID = "00:1e:5e:09:02:ab:cd:ef"
EV = "00000000-0000-4000-8000-00000000e001"


def doc(name: str) -> str:
    return (DOCS / f"{name}.graphql").read_text(encoding="utf-8")


def ok(g: Gql, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    out = g(query, variables, **kw)
    assert "errors" not in out, out["errors"]
    data = out["data"]
    assert isinstance(data, dict)
    return data


def test_devices_every_implementation(authed: Gql, fk: FakeKraken) -> None:
    extra = [
        SimDevice(
            "cp-1",
            "charge_point",
            "Zappi",
            "CHARGE_POINTS",
            "ENODE",
            make="myenergi",
            model="Zappi",
            charge_point_power_kw=7.4,
            upper_soc_limit=90,
        ),
        SimDevice("bat-1", "battery", "Battery", "BATTERIES", "BYD", make="BYD", model="HVS"),
        SimDevice("sh-1", "storage_heaters", "Heaters", "STORAGE_HEATERS", "ENODE"),
        SimDevice("gen-1", "generic", "Thing", "BATTERIES", "ENODE", property_id="2"),
    ]
    fk.account.devices.extend(extra)
    fk.account.devices[0].alerts.append(("Charge limit below target", T0 - timedelta(hours=1)))
    data = ok(authed, doc("Devices"), {"accountNumber": ACCOUNT})
    devices = {d["__typename"]: d for d in data["devices"]}
    assert set(devices) == {
        "SmartFlexVehicle",
        "SmartFlexInverter",
        "SmartFlexHeatPump",
        "SmartFlexChargePoint",
        "SmartFlexBattery",
        "SmartFlexStorageHeaters",
        "SmartFlexDevice",
    }
    ev = devices["SmartFlexVehicle"]
    assert ev["status"]["__typename"] == "SmartFlexVehicleStatus"
    assert ev["status"]["currentState"] == "SMART_CONTROL_CAPABLE"
    assert ev["alerts"] == [
        {"message": "Charge limit below target", "publishedAt": "2026-01-15T16:00:00+00:00"}
    ]
    assert len(ev["preferences"]["schedules"]) == 7 and ev["preferences"]["unit"] == "PERCENTAGE"
    setting = ev["preferenceSetting"]["scheduleSettings"][0]
    assert setting == {
        "id": 1,
        "min": "10.0",
        "max": "100.0",
        "step": "1.0",
        "timeFrom": "04:00:00",
        "timeTo": "11:00:00",
        "timeStep": 30,
    }
    assert ev["vehicleVariant"]["batterySize"] == "60.0"
    session = ev["chargingSessions"]["edges"][0]["node"]
    assert session["type"] == "SMART" and session["energyAdded"] == {"value": "14.0", "unit": "KILOWATT_HOUR"}
    inv = devices["SmartFlexInverter"]
    assert inv["telemetry"]["battery"] == {
        "stateOfCharge": "55.0",
        "powerInKw": "0.0",
        "connectionStatus": "ONLINE",
    }
    assert inv["telemetry"]["grid"]["powerInKw"] == "-0.4"  # negative = importing
    hp = devices["SmartFlexHeatPump"]
    assert hp["status"]["__typename"] == "SmartFlexHeatPumpStatus"
    assert hp["status"]["mode"]["value"] == "HEATING" and hp["powerInKw"] == "5.0"
    assert devices["SmartFlexChargePoint"]["status"]["stateOfChargeLimit"]["upperSocLimit"] == 90
    assert devices["SmartFlexChargePoint"]["chargePointVariant"]["powerInKw"] == "7.4"
    assert devices["SmartFlexDevice"]["status"]["__typename"] == "SmartFlexDeviceStatus"
    # filters
    only = ok(authed, doc("Devices"), {"accountNumber": ACCOUNT, "deviceId": "bat-1"})["devices"]
    assert [d["id"] for d in only] == ["bat-1"]
    assert [
        d["id"] for d in ok(authed, doc("Devices"), {"accountNumber": ACCOUNT, "propertyId": "2"})["devices"]
    ] == ["gen-1"]
    assert error_codes(authed(doc("Devices"), {"accountNumber": "A-OTHER"})) == ["KT-CT-4177"]


def test_dispatches(authed: Gql, fk: FakeKraken) -> None:
    fk.account.planned_dispatches.append(
        SimDispatch(T0 + timedelta(hours=1), T0 + timedelta(hours=2), -3.25, source="bump-charge")
    )
    data = ok(authed, doc("Dispatches"), {"accountNumber": ACCOUNT})
    planned = data["plannedDispatches"]
    assert [p["start"] for p in planned] == sorted(p["start"] for p in planned)  # time order
    first = planned[0]
    assert first == {
        "start": "2026-01-15T18:00:00+00:00",
        "end": "2026-01-15T19:00:00+00:00",
        "delta": "-3.25",
        "meta": {"source": "bump-charge", "location": None},
    }
    (done,) = data["completedDispatches"]
    assert done["meta"] == {"source": None, "location": "AT_HOME"} and done["delta"] == "-7.0"


def test_flex_planned_dispatches_only_when_enabled(clock: ManualClock) -> None:
    q = f'query {{ flexPlannedDispatches(deviceId: "{EV}") {{ start end type energyAddedKwh }} }}'
    with FakeKraken(clock=clock, extra_fields=["flexPlannedDispatches"]) as fk, httpx.Client() as c:
        g = Gql(fk, c)
        g.login()
        rows = ok(g, q)["flexPlannedDispatches"]
        assert rows[0]["type"] == "SMART" and rows[0]["energyAddedKwh"] == "10.5"
    # GB and DE serve it live (sandbox.schema.LIVE_ROOT_FIELDS); Red Energy has no devices.
    with FakeKraken(clock=clock, deployment="red-energy-au") as fk, httpx.Client() as c:
        g = Gql(fk, c)
        g.login()
        assert "data" not in g(q)


def test_agile_tariff_today_and_tomorrow(authed: Gql) -> None:
    data = ok(authed, doc("AccountTariffs"), {"accountNumber": ACCOUNT})
    mps = data["account"]["properties"][0]["electricityMeterPoints"]
    imp, exp = mps
    assert imp["direction"] == "IMPORT" and exp["direction"] == "EXPORT"
    assert imp["meters"][0]["smartImportElectricityMeter"] == {
        "deviceId": ESME,
        "type": "ESME",
        "paymentMode": "PREPAY",
    }
    tariff = imp["agreements"][0]["tariff"]
    assert tariff["__typename"] == "HalfHourlyTariff" and not tariff["isExport"]
    rates = tariff["unitRates"]
    assert len(rates) == 96  # after 16:00: today and tomorrow
    assert (
        rates[0]["validFrom"] == "2026-01-15T00:00:00+00:00"
        and rates[-1]["validTo"] == "2026-01-17T00:00:00+00:00"
    )
    assert exp["agreements"][0]["tariff"] == {
        "__typename": "StandardTariff",
        "tariffCode": "E-1R-OUTGOING-FIX-12M-19-05-13-A",
        "productCode": "OUTGOING-FIX-12M-19-05-13",
        "isExport": True,
        "standingCharge": 0.0,
        "unitRate": 15.0,
    }


def test_demo_before_four_pm_has_only_today_and_injected_prices() -> None:
    morning = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    rates = SimAccount.demo(morning).properties[0].meter_points[0].agreements[0].tariff.unit_rates
    assert len(rates) == 48
    given = [(morning, morning + timedelta(minutes=30), 12.5)]
    injected = SimAccount.demo(morning, import_rates=given).properties[0].meter_points[0].agreements[0].tariff
    assert [(r.valid_from, r.value) for r in injected.unit_rates] == [(morning, 12.5)]
    assert len(agile_curve(datetime(2026, 3, 29).date())) == 46  # clock change day (UK)


@pytest.mark.parametrize(
    ("tariff", "expected"),
    [
        (SimTariff("STANDARD", "P", "T", unit_rate=24.5), {"__typename": "StandardTariff", "unitRate": 24.5}),
        (
            SimTariff("DAY_NIGHT", "P", "T", day_rate=30.0, night_rate=9.0),
            {"__typename": "DayNightTariff", "dayRate": 30.0, "nightRate": 9.0},
        ),
        (
            SimTariff("THREE_RATE", "P", "T", day_rate=30.0, night_rate=9.0, off_peak_rate=15.0),
            {"__typename": "ThreeRateTariff", "dayRate": 30.0, "nightRate": 9.0, "offPeakRate": 15.0},
        ),
        (SimTariff("PREPAY", "P", "T", unit_rate=26.0), {"__typename": "PrepayTariff", "unitRate": 26.0}),
    ],
)
def test_other_tariff_types(authed: Gql, fk: FakeKraken, tariff: SimTariff, expected: dict[str, Any]) -> None:
    mp = fk.account.properties[0].meter_points[0]
    mp.agreements = [SimAgreement(7, T0 - timedelta(days=1), None, tariff)]
    got = ok(authed, doc("AccountTariffs"), {"accountNumber": ACCOUNT})
    t = got["account"]["properties"][0]["electricityMeterPoints"][0]["agreements"][0]["tariff"]
    assert {k: t[k] for k in expected} == expected
    rates = ok(
        authed,
        doc("ApplicableRates"),
        {
            "accountNumber": ACCOUNT,
            "mpxn": mp.mpan,
            "startAt": "2026-01-15T00:00:00Z",
            "endAt": "2026-01-16T00:00:00Z",
        },
    )["applicableRates"]
    assert rates["totalCount"] == 48


def test_expired_agreements_are_filtered(authed: Gql, fk: FakeKraken) -> None:
    mp = fk.account.properties[0].meter_points[1]
    mp.agreements[0].valid_to = T0 - timedelta(days=1)
    got = ok(authed, doc("AccountTariffs"), {"accountNumber": ACCOUNT})
    assert got["account"]["properties"][0]["electricityMeterPoints"][1]["agreements"] == []


def test_applicable_rates_paginate(authed: Gql) -> None:
    base = {
        "accountNumber": ACCOUNT,
        "mpxn": "1900000000001",
        "startAt": "2026-01-15T00:00:00Z",
        "endAt": "2026-01-16T00:00:00+00:00",
    }
    page = ok(authed, doc("ApplicableRates"), base | {"first": 30})["applicableRates"]
    assert page["totalCount"] == 48 and len(page["edges"]) == 30 and page["pageInfo"]["hasNextPage"]
    assert isinstance(page["edges"][0]["node"]["value"], str)  # Decimal as string
    rest = ok(authed, doc("ApplicableRates"), base | {"first": 30, "after": page["pageInfo"]["endCursor"]})
    assert (
        len(rest["applicableRates"]["edges"]) == 18 and not rest["applicableRates"]["pageInfo"]["hasNextPage"]
    )
    export = ok(authed, doc("ApplicableRates"), base | {"mpxn": "1900000000002"})["applicableRates"]
    assert {e["node"]["value"] for e in export["edges"]} == {"15.0"}


def test_prepay(authed: Gql, fk: FakeKraken) -> None:
    data = ok(
        authed, doc("Prepay"), {"esme": ESME, "acc": ACCOUNT, "dev": "A1-BC-D2-00-01-23-EF-4G", "config": "1"}
    )
    assert data["prepayBalanceSnapshot"]["creditInPence"] == 1850
    assert data["prepayBalanceSnapshot"]["asAt"] == "2026-01-15T17:00:00+00:00"
    assert data["autoTopupConfigs"]["edges"][0]["node"]["topupAmount"] == 2000
    assert data["autoTopupTriggers"]["edges"][0]["node"]["status"] == "INITIATED"
    assert data["account"]["paymentSchedules"]["edges"][0]["node"]["scheduleType"] == "BALANCE_TRIGGERED"


def test_signals(authed: Gql) -> None:
    data = ok(
        authed, doc("Signals"), {"esme": ESME, "start": "2026-01-15T16:00:00Z", "end": "2026-01-15T16:01:00Z"}
    )
    assert len(data["greennessForecast"]) == 48
    assert {g["greennessIndex"] for g in data["greennessForecast"]} <= {"LOW", "MEDIUM", "HIGH"}
    # energyMixData is no longer sent (removal on or after 2026-06-01 on the AU page).
    assert len(data["smartMeterTelemetry"]) == 6  # 10 s grouping over one minute
    assert float(data["smartMeterTelemetry"][0]["demand"]) > 0
    assert data["savingSessions"]["eventCount"] == 1
    latest = ok(authed, f'query {{ smartMeterTelemetry(deviceId: "{ESME}") {{ readAt demand }} }}')
    assert len(latest["smartMeterTelemetry"]) == 1


def test_heat_pump_queries(authed: Gql) -> None:
    data = ok(authed, doc("HeatPump"), {"accountNumber": ACCOUNT, "euid": EUID})
    assert data["heatPumpStatus"]["climateControlStatus"]["targetClimateControlTemperature"] == "20.0"
    assert data["octoHeatPumpControllerEuids"] == data["controllerEuids"] == [EUID]
    zones = [z["zone"] for z in data["octoHeatPumpControllerStatus"]["zones"]]
    assert zones == ["WATER", "ZONE1"] == [z["zone"] for z in data["heatPumpControllerStatus"]["zones"]]
    assert data["octoHeatPumpControllerStatus"]["sensors"][0]["telemetry"]["temperatureInCelsius"] == 19.5
    assert data["octoHeatPumpControllerConfiguration"]["controller"]["state"] == ["NORMAL_MODE"]
    live = data["octoHeatPumpLivePerformance"]
    assert live["coefficientOfPerformance"] == "3.4" and live["powerInput"] == {
        "value": "1.1",
        "unit": "KILOWATT",
    }


def test_legacy_device_queries(authed: Gql) -> None:
    data = ok(authed, doc("LegacyDevice"), {"accountNumber": ACCOUNT})
    assert data["batteryDevice"]["deviceStatus"]["readings"]["socPercentage"]["value"] == 55.0


def test_rate_limit_info_document(clock: ManualClock) -> None:
    with FakeKraken(clock=clock, deployment="red-energy-au") as fk, httpx.Client() as c:
        g = Gql(fk, c)
        g.login()
        info = ok(g, doc("RateLimitInfoFull"))["rateLimitInfo"]
        assert info["pointsAllowanceRateLimit"]["limit"] == 10_000
        assert info["fieldSpecificRateLimits"]["totalCount"] == 0


def test_au_tariff_via_agreements_and_product(clock: ManualClock) -> None:
    with FakeKraken(clock=clock, deployment="red-energy-au") as fk, httpx.Client() as c:
        g = Gql(fk, c)
        g.login()
        number = fk.account.number
        agreements = ok(g, doc("AuTariff"), {"accountNumber": number}, op="AuAgreements")["account"][
            "agreements"
        ]
        assert agreements[0]["isActive"] and agreements[0]["product"]["code"] == "RE-LIVING-ENERGY"
        product = ok(g, doc("AuTariff"), {"code": "RE-LIVING-ENERGY"}, op="AuProduct")["product"]
        assert [(r["bandCategory"], r["pricePerUnit"]) for r in product["productRates"]] == [
            ("PEAK", "28.6"),
            ("OFF_PEAK", "19.8"),
        ]
        assert ok(g, doc("AuTariff"), {"id": "3001"}, op="AuAgreement")["agreement"]["product"] == {
            "code": "RE-LIVING-ENERGY"
        }
        assert error_codes(g(doc("AuTariff"), {"code": "NOPE"}, op="AuProduct")) == ["KT-AU-9510"]
        assert error_codes(g(doc("AuTariff"), {"id": "9"}, op="AuAgreement")) == ["KT-CT-1501"]
        assert "data" not in g('query { devices(accountNumber: "x") { id } }')


def test_de_tariff_via_agreement(clock: ManualClock) -> None:
    with FakeKraken(clock=clock, deployment="octopus-de") as fk, httpx.Client() as c:
        g = Gql(fk, c)
        g.login()
        edges = ok(g, doc("DeAgreement"), {"accountNumber": fk.account.number}, op="DeAgreements")
        agreement_id = edges["account"]["marketSupplyAgreements"]["edges"][0]["node"]["id"]
        got = ok(g, doc("DeAgreement"), {"id": agreement_id}, op="DeAgreement")["agreement"]
        assert got["unitRatePerKwh"] == 29.5 and got["isActive"] and got["product"]["code"] == "OE-DYNAMIC"
        devices = ok(g, doc("Devices"), {"accountNumber": fk.account.number})["devices"]
        assert [d["__typename"] for d in devices] == ["SmartFlexVehicle"]


def test_jp_has_no_queries_but_mutations(clock: ManualClock) -> None:
    with FakeKraken(clock=clock, deployment="octopus-jp") as fk, httpx.Client() as c:
        g = Gql(fk, c)
        g.login()
        assert "data" not in g("query { viewer { id } }")
        ev = fk.account.devices[0].id
        out = g(
            doc("Mutations"), {"input": {"deviceId": ev, "action": "SUSPEND"}}, op="UpdateDeviceSmartControl"
        )
        assert out["data"]["updateDeviceSmartControl"]["status"]["isSuspended"] is True


def test_every_sdl_root_field_has_a_resolver(fk: FakeKraken) -> None:
    from kraken2mqtt.kraken.capabilities import ROOT_FIELD_SOURCES, UNDOCUMENTED_FIELDS

    assert set(fk.resolvers.table()) == set(ROOT_FIELD_SOURCES) | UNDOCUMENTED_FIELDS


def test_demo_builders_per_deployment() -> None:
    numbers = {
        d: SimAccount.for_deployment(d, T0).number
        for d in ("octopus-gb", "octopus-de", "red-energy-au", "octopus-jp")
    }
    assert numbers["octopus-gb"] == ACCOUNT and len(set(numbers.values())) == 4
    assert SimAccount.for_deployment("red-energy-au", T0).devices == []
    with pytest.raises(ValueError, match="unknown deployment"):
        SimAccount.for_deployment("octopus-mars", T0)


def test_account_can_be_swapped_between_polls(authed: Gql, fk: FakeKraken) -> None:
    fk.account = SimAccount.demo(T0)
    fk.account.planned_dispatches.clear()
    assert ok(authed, doc("Dispatches"), {"accountNumber": ACCOUNT})["plannedDispatches"] == []


def test_the_backend_path_serves_heat_pumps_and_greener_nights(authed: Gql, fk: FakeKraken) -> None:
    """GB's backend endpoint schema (``octopus-gb-backend``) at ``/backend/v1/graphql/``; the main path
    answers its backend-only fields as the live main endpoint would (400, unknown field)."""
    query = (
        "query($a: String!, $p: ID!, $e: ID!) {"
        " heatPumpControllersAtLocation(accountNumber: $a, propertyId: $p) { controller { euid } }"
        " heatPumpLivePerformance(accountNumber: $a, euid: $e) { coefficientOfPerformance"
        " outdoorTemperature { value unit } heatOutput { value unit } powerInput { value unit } readAt }"
        " greenerNightsForecast { date isGreenerNight greennessScore greennessIndex } }"
    )
    euid = fk.account.heat_pump_controllers[0].euid
    variables = {"a": ACCOUNT, "p": fk.account.properties[0].id, "e": euid}
    headers = {"Authorization": authed.token or "", "User-Agent": "kraken2mqtt/test"}
    resp = authed.client.post(fk.backend_url, json={"query": query, "variables": variables}, headers=headers)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["heatPumpControllersAtLocation"] == [{"controller": {"euid": euid}}]
    live = data["heatPumpLivePerformance"]
    assert live["coefficientOfPerformance"] == "3.4" and live["outdoorTemperature"]["value"] == "7.5"
    nights = data["greenerNightsForecast"]
    assert nights and {n["greennessIndex"] for n in nights} <= {"LOW", "MEDIUM", "HIGH"}
    assert all(n["isGreenerNight"] == (n["greennessIndex"] == "HIGH") for n in nights)
    main = authed.post(query, variables)
    assert main.status_code == 400 and "data" not in main.json()
