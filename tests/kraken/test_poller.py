"""The poller against the fake Kraken server over real HTTP, on a ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import KrakenClient, RequestEvent
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.snapshot import DeviceKind, DeviceState, DispatchState, Snapshot, Stream, TariffKind
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.sim_account import SimDispatch
from kraken2mqtt.store import StateStore
from tests.kraken.conftest import API_KEY, MakeClient

TOPUP_DEVICE = "A1-BC-D2-00-01-23-EF-4G"


@pytest.fixture
async def deployment_client(
    clock: ManualClock,
) -> AsyncIterator[Callable[[str], tuple[FakeKraken, KrakenClient]]]:
    fakes: list[FakeKraken] = []
    clients: list[KrakenClient] = []

    def make(deployment: str) -> tuple[FakeKraken, KrakenClient]:
        fk = FakeKraken(deployment=deployment, clock=clock, api_key=API_KEY)
        fk.start()
        fakes.append(fk)
        client = KrakenClient(
            fk.url,
            Credentials(api_key=SecretStr(API_KEY)),
            deployment=deployment,
            clock=clock,
            budget=RequestBudget(clock, points_per_hour=3600, burst=100),
            timeout=2.0,
        )
        clients.append(client)
        return fk, client

    yield make
    for c in clients:
        await c.aclose()
    for f in fakes:
        f.stop()


async def test_gb_full_snapshot(fake: FakeKraken, make_client: MakeClient, clock: ManualClock) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock, topup_device_id=TOPUP_DEVICE)
    result = await poller.poll_once()
    assert result.failed == frozenset()
    snap = poller.snapshot
    assert snap.account_number == "A-SANDBOX1" and snap.mode == "full"
    assert snap.account is not None and snap.account.esme_device_id == "12-34-5A-FF-FF-6B-C7-89"
    assert snap.account.heat_pump_controller_euids == ("00:1e:5e:09:02:ab:cd:ef",)
    assert snap.tariffs is not None and snap.tariffs.import_ is not None
    assert snap.tariffs.import_.kind == TariffKind.HALF_HOURLY and len(snap.tariffs.import_.slots) == 48
    assert snap.tariffs.export is not None and snap.tariffs.export.price_at(clock.now()) == Decimal("15.0")
    assert snap.devices is not None
    kinds = [d.kind for d in snap.devices.devices]
    assert kinds == [DeviceKind.VEHICLE, DeviceKind.INVERTER, DeviceKind.HEAT_PUMP]
    ev = snap.devices.devices[0]
    assert ev.plugged_in and ev.preferences is not None and len(ev.preferences.schedules) == 7
    assert ev.soc_percent == Decimal(45) and ev.active_power_kw == Decimal(0)
    assert ev.battery_size_kwh == Decimal(60) and ev.charge_point_power_kw == Decimal("7.4")
    inverter = snap.devices.devices[1]
    assert inverter.telemetry is not None and inverter.telemetry.battery_soc == Decimal("55.0")
    assert [d.state for d in snap.dispatches] == [
        DispatchState.COMPLETED,
        DispatchState.PLANNED,
        DispatchState.PLANNED,
    ]
    # Planned dispatches come from flexPlannedDispatches(deviceId) of the EV, with their type.
    assert [(d.type, d.device_id) for d in snap.dispatches[1:]] == [("SMART", ev.id)] * 2
    assert all(d.energy_kwh is not None and d.energy_kwh > 0 for d in snap.dispatches[1:])
    assert snap.dropped == {}
    assert snap.heat_pumps is not None and snap.heat_pumps.legacy is not None
    (ctrl,) = snap.heat_pumps.controllers
    assert [z.zone for z in ctrl.zones] == ["WATER", "ZONE1"]
    assert snap.prepay is not None and snap.prepay.balance is not None and snap.prepay.balance.credit == 1850
    assert snap.prepay.topup_configs[0].topup_amount == 2000
    assert (
        snap.events is not None and len(snap.events.saving_sessions) == 1 and len(snap.events.greenness) == 48
    )
    assert snap.rate_limit is not None and snap.rate_limit.limit is not None
    assert poller.client.budget.server is not None  # the allowance fed the budget
    # one request per document: token, viewer, account, heat-pump controllers, devices (no EV known yet,
    # so its planned dispatches in a request of their own), events, heat pump, prepay
    assert fake.stats.requests == {
        "ObtainKrakenToken": 1,
        "Viewer": 1,
        "PollAccountGb": 1,
        "HeatPumpControllersGb": 1,
        "PollDevicesGb": 1,
        "FlexPlannedDispatches": 1,
        "PollEventsGb": 1,
        "PollHeatPumpGb": 1,
        "PollPrepayGb": 1,
    }
    sig = poller.signals()
    assert not sig.dispatching_now and sig.next_dispatch_start == snap.dispatches[1].start
    assert sig.import_rate is not None and sig.stale == frozenset()
    # Next cycle: only the live query (devices and the EV's dispatches in one), and the prepay triggers once
    # a config is known.
    clock.advance(1800)
    await poller.poll_once()
    assert fake.stats.requests["PollLiveGb"] == 1
    assert fake.stats.requests["FlexPlannedDispatches"] == 1
    assert fake.stats.requests["PollPrepayTriggersGb"] == 1
    assert fake.stats.requests["PollAccountGb"] == 1
    assert poller.snapshot.prepay is not None and len(poller.snapshot.prepay.triggers) == 1


@pytest.mark.parametrize(
    ("deployment", "expected_ops"),
    [
        (
            "octopus-de",
            {
                "ObtainKrakenToken",
                "Viewer",
                "PollAccountDe",
                "PollAgreementDe",
                "PollDevicesDe",
                "FlexPlannedDispatches",
            },
        ),
        ("red-energy-au", {"ObtainKrakenToken", "Viewer", "PollAccountAu", "PollProductAu"}),
    ],
)
async def test_other_deployments(
    deployment: str,
    expected_ops: set[str],
    deployment_client: Callable[[str], tuple[FakeKraken, KrakenClient]],
    clock: ManualClock,
) -> None:
    fk, client = deployment_client(deployment)
    poller = Poller(client, deployment=deployment, clock=clock)
    result = await poller.poll_once()
    assert result.failed == frozenset()
    assert set(fk.stats.requests) == expected_ops
    snap = poller.snapshot
    assert snap.tariffs is not None and snap.tariffs.import_ is not None
    if deployment == "octopus-de":
        assert snap.mode == "full"
        assert snap.tariffs.import_.price_at(clock.now()) == Decimal("29.5")
        assert snap.devices is not None and snap.devices.devices[0].kind == DeviceKind.VEHICLE
        assert len(snap.dispatches) == 3
        assert snap.rate_limit is not None
    else:
        assert snap.mode == "tariff-only"
        assert snap.tariffs.import_.rates == {"PEAK": Decimal("28.6"), "OFF_PEAK": Decimal("19.8")}
        assert snap.devices is None and snap.dispatches == ()
        assert snap.rate_limit is not None  # rateLimitInfo rides with the account query
        clock.advance(3600)
        await poller.poll_once()
        assert sum(fk.stats.requests.values()) == 4  # nothing more due within the hour


async def test_japan_sends_nothing(
    deployment_client: Callable[[str], tuple[FakeKraken, KrakenClient]], clock: ManualClock
) -> None:
    fk, client = deployment_client("octopus-jp")
    poller = Poller(client, deployment="octopus-jp", clock=clock, account_number="A-SANDBOXJP")
    result = await poller.poll_once()
    assert result.polled == frozenset() and poller.snapshot.mode == "commands-only"
    assert sum(fk.stats.requests.values()) == 0
    assert result.plan.next_at == clock.now() + timedelta(hours=1)


async def test_server_errors_keep_last_good_data_with_age(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(attempts=1), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    good = poller.snapshot
    for op in ("PollLiveGb", "PollDevicesGb", "FlexPlannedDispatches"):
        fake.faults.inject("http_500", times=50, operation=op)
    clock.advance(1800)
    result = await poller.poll_once()
    assert {Stream.DISPATCHES, Stream.DEVICES} <= result.failed
    snap = poller.snapshot
    assert snap.devices == good.devices and snap.dispatches == good.dispatches
    assert snap.stream(Stream.DEVICES).error is not None
    assert snap.age(Stream.DEVICES, clock.now()) == 1800.0
    clock.advance(3600)
    await poller.poll_once()
    sig = poller.signals()
    assert Stream.DEVICES in sig.stale and (sig.ages[Stream.DEVICES] or 0) > 1800
    fake.faults.clear()
    clock.advance(600)
    await poller.poll_once()
    assert poller.snapshot.stream(Stream.DEVICES).error is None
    assert Stream.DEVICES not in poller.signals().stale


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "wrong_shape"},
        {"kind": "invalid_json"},
        {
            "kind": "raw",
            "body": {"data": {"flexPlannedDispatches": {"oops": 1}, "completedDispatches": [], "devices": 7}},
        },
        {"kind": "raw", "body": {"data": None, "errors": "nope"}},
        {"kind": "reset"},
    ],
)
async def test_bad_responses_never_crash(
    fault: dict[str, Any], fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(attempts=1), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    good = poller.snapshot
    kind = fault.pop("kind")
    fake.faults.inject(kind, operation="PollLiveGb", **fault)
    clock.advance(1800)
    result = await poller.poll_once()
    assert Stream.DISPATCHES in result.failed
    assert poller.snapshot.devices == good.devices and poller.snapshot.dispatches == good.dispatches


async def test_brownout_on_one_field(fake: FakeKraken, make_client: MakeClient, clock: ManualClock) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    good_devices = poller.snapshot.devices
    fake.account.planned_dispatches.clear()
    fake.faults.inject("brownout", operation="PollLiveGb", field="devices")
    clock.advance(1800)
    result = await poller.poll_once()
    assert result.failed == {Stream.DEVICES}
    assert poller.snapshot.devices == good_devices
    assert "KT-CT-1113" in (poller.snapshot.stream(Stream.DEVICES).error or "")
    assert [d.state for d in poller.snapshot.dispatches] == [
        DispatchState.COMPLETED,
        DispatchState.CANCELLED,
        DispatchState.CANCELLED,
    ]


async def test_unknown_enum_values_from_server(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    body = {
        "data": {
            "flexPlannedDispatches": [],
            "completedDispatches": [],
            "rateLimitInfo": {
                "pointsAllowanceRateLimit": {"limit": 100, "remainingPoints": 99, "usedPoints": 1}
            },
            "devices": [
                {
                    "__typename": "SmartFlexTeleporter",
                    "id": "x1",
                    "deviceType": "TELEPORTERS",
                    "provider": "NEWCO",
                    "status": {"current": "BEAMING", "currentState": "DEMATERIALISED", "isSuspended": False},
                    "alerts": [],
                },
                {
                    "__typename": "SmartFlexVehicle",
                    "id": "ev",
                    "deviceType": "ELECTRIC_VEHICLES",
                    "provider": "ENODE",
                    "status": {"current": "LIVE", "currentState": "NOT_PLUGGED_IN", "isSuspended": False},
                },
            ],
        }
    }
    fake.faults.inject("raw", operation="PollLiveGb", body=body)
    clock.advance(1800)
    result = await poller.poll_once()
    assert result.failed == frozenset()
    assert poller.snapshot.devices is not None
    odd, ev = poller.snapshot.devices.devices
    assert (
        odd.kind == DeviceKind.UNKNOWN
        and odd.state == DeviceState.UNKNOWN
        and odd.state_raw == "DEMATERIALISED"
    )
    assert ev.plugged_in is False


async def test_planned_dispatch_vanishing_at_start_stays_started(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    now = clock.now()
    fake.account.planned_dispatches[:] = [
        SimDispatch(now + timedelta(minutes=3), now + timedelta(hours=1), -7.0)
    ]
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    assert poller.snapshot.dispatches[-1].state == DispatchState.PLANNED
    fake.account.planned_dispatches.clear()  # Kraken drops it just before it starts
    clock.advance(120)
    await poller.poll_once()
    clock.advance(120)
    await poller.poll_once()
    last = poller.snapshot.dispatches[-1]
    assert last.state == DispatchState.STARTED and last.held
    sig = poller.signals()
    assert sig.dispatching_now and sig.current_dispatch_end == now + timedelta(hours=1)


async def test_restart_has_data_before_first_poll(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock, tmp_path: Path
) -> None:
    with StateStore(tmp_path / "state") as store:
        first = Poller(make_client(), deployment="octopus-gb", clock=clock, store=store)
        await first.poll_once()
        before = first.snapshot
    requests = sum(fake.stats.requests.values())
    clock.advance(120)
    with StateStore(tmp_path / "state") as store:
        second = Poller(make_client(), deployment="octopus-gb", clock=clock, store=store)
        assert await second.restore()
        snap = second.snapshot
        assert sum(fake.stats.requests.values()) == requests  # no request yet
        assert snap.account_number == before.account_number
        assert snap.tariffs == before.tariffs and snap.devices == before.devices
        assert snap.dispatches == before.dispatches
        assert snap.age(Stream.TARIFFS, clock.now()) == 120.0
        assert second.changed.is_set()
        assert second.signals().next_dispatch_start == first.signals().next_dispatch_start
        await second.poll_once()
        # only the live streams were due: no rediscovery, no tariff fetch
        assert fake.stats.requests["Viewer"] == 1 and fake.stats.requests["PollAccountGb"] == 1


async def test_run_loop_signals_changes(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    changes: list[frozenset[Stream]] = []

    def on_change(snap: Snapshot, changed: frozenset[Stream]) -> None:
        changes.append(changed)

    stop = asyncio.Event()
    start = clock.now()

    def tick() -> bool:
        """Called once per planning step: drives the simulation from the poller's own loop."""
        if clock.now() >= start + timedelta(hours=1):
            fake.account.devices[0].sim_plugged_in = False
        if clock.now() >= start + timedelta(hours=2):
            stop.set()
        return False

    poller = Poller(
        make_client(), deployment="octopus-gb", clock=clock, on_change=on_change, pending_commands=tick
    )
    await asyncio.wait_for(poller.run(stop), timeout=20)
    assert Stream.TARIFFS in changes[0]
    assert any(Stream.DEVICES in c for c in changes[1:])  # the unplug was noticed
    ev = poller.snapshot.devices.devices[0] if poller.snapshot.devices else None
    assert ev is not None and ev.plugged_in is False
    assert clock.slept and min(clock.slept) >= 1.0


async def test_wake_replans_with_pending_command(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    pending = {"value": False}
    poller = Poller(
        make_client(), deployment="octopus-gb", clock=clock, pending_commands=lambda: pending["value"]
    )
    result = await poller.poll_once()
    assert result.plan.live_interval == 300.0
    pending["value"] = True
    poller.wake()
    clock.advance(60)
    result = await poller.poll_once()
    assert result.plan.live_interval == 60.0 and Stream.DEVICES in result.polled


async def test_request_counting_hook(fake: FakeKraken, make_client: MakeClient, clock: ManualClock) -> None:
    seen: list[RequestEvent] = []
    poller = Poller(make_client(on_request=seen.append), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    assert [e.operation for e in seen if e.operation != "ObtainKrakenToken"] == [
        "Viewer",
        "PollAccountGb",
        "HeatPumpControllersGb",
        "PollDevicesGb",
        "FlexPlannedDispatches",
        "PollEventsGb",
        "PollHeatPumpGb",
        "PollPrepayGb",  # the ESME: no auto top-up config there
        "PollPrepayGb",  # the meter's other smart device: the config is there
    ]


async def test_legacy_battery_probe_when_devices_lists_none(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    """devices() lists nothing: the legacy KrakenFlex battery is probed once (the legacy EV queries are gone:
    registeredKrakenflexDevice / vehicleChargingPreferences, removal on or after 2024-11-01)."""
    empty: dict[str, Any] = {"data": {"completedDispatches": [], "devices": [], "rateLimitInfo": None}}
    fake.faults.inject("raw", operation="PollDevicesGb", body=empty)
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    assert fake.stats.requests["PollLegacyDevicesGb"] == 1
    assert not any("registeredKrakenflexDevice" in (r.query or "") for r in fake.requests)
    clock.advance(1800)
    await poller.poll_once()
    assert fake.stats.requests["PollLegacyDevicesGb"] == 1


async def test_failed_discovery_backs_off(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    fake.faults.inject("http_503", times=3, operation="Viewer")
    poller = Poller(make_client(attempts=1), deployment="octopus-gb", clock=clock)
    result = await poller.poll_once()
    assert poller.snapshot.account_number is None
    assert poller.snapshot.stream(Stream.ACCOUNT).error is not None
    assert result.plan.next_at == clock.now() + timedelta(seconds=60)
    await poller.poll_once()  # not due yet: nothing sent
    assert fake.stats.requests["Viewer"] == 1
    for _ in range(3):
        clock.advance((poller.last_plan.next_at - clock.now()).total_seconds() if poller.last_plan else 0)
        await poller.poll_once()
    assert poller.snapshot.account_number == "A-SANDBOX1"
    assert fake.stats.requests["Viewer"] == 4
    assert poller.snapshot.tariffs is not None


def _live_body(errors: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    ev = {
        "__typename": "SmartFlexVehicle",
        "id": "00000000-0000-4000-8000-00000000e001",
        "deviceType": "ELECTRIC_VEHICLES",
        "provider": "ENODE",
        "status": {"current": "LIVE", "currentState": "SMART_CONTROL_CAPABLE", "isSuspended": False},
    }
    base: dict[str, Any] = {"devices": [ev], "flexPlannedDispatches": [], "completedDispatches": []}
    return {"data": {**base, **data}, "errors": errors}


def _field_error(field: str, code: str, message: str) -> dict[str, Any]:
    # The live error shape: errorCode / errorType in extensions, the failing root field in path.
    return {
        "message": message,
        "path": [field],
        "extensions": {"errorCode": code, "errorType": "APPLICATION"},
    }


async def test_kt_ct_4301_on_dispatch_fields_means_no_dispatches(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    assert any(d.state == DispatchState.PLANNED for d in poller.snapshot.dispatches)
    errors = [
        _field_error("flexPlannedDispatches", "KT-CT-4301", "Unable to find device for given account."),
        _field_error("completedDispatches", "KT-CT-4301", "Unable to find device for given account."),
    ]
    body = _live_body(errors, flexPlannedDispatches=None, completedDispatches=None)
    fake.faults.inject("raw", operation="PollLiveGb", body=body)
    clock.advance(1800)
    result = await poller.poll_once()
    assert Stream.DISPATCHES not in result.failed
    assert poller.snapshot.stream(Stream.DISPATCHES).error is None
    assert not any(d.state == DispatchState.PLANNED for d in poller.snapshot.dispatches)  # cancelled


@pytest.mark.parametrize("code", ["KT-CT-4340", "KT-CT-4341"])
async def test_transient_dispatch_errors_keep_the_last_data(
    code: str, fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    good = poller.snapshot.dispatches
    field = "flexPlannedDispatches" if code == "KT-CT-4340" else "completedDispatches"
    body = _live_body([_field_error(field, code, "Unable to fetch dispatches.")], **{field: None})
    fake.faults.inject("raw", operation="PollLiveGb", body=body)
    clock.advance(1800)
    result = await poller.poll_once()
    assert result.failed == {Stream.DISPATCHES}
    assert poller.snapshot.dispatches == good
    assert code in (poller.snapshot.stream(Stream.DISPATCHES).error or "")
    assert poller.snapshot.stream(Stream.DEVICES).error is None  # the devices arrived all the same
    clock.advance(60)
    await poller.poll_once()  # retried after 60 s, not after the normal interval
    assert poller.snapshot.stream(Stream.DISPATCHES).error is None


async def test_auto_top_up_config_is_found_on_the_meters_other_smart_device(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    """Issue 13: the config sits on the meter's PPMID, not on the ESME; meters.smartDevices (documented on
    the meter type, 002) lists both. The device found is remembered: later polls ask only it."""
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    prepay = poller.snapshot.prepay
    assert prepay is not None and prepay.topup_device_id == TOPUP_DEVICE
    assert [c.topup_amount for c in prepay.topup_configs] == [2000]
    assert poller.snapshot.account is not None
    assert poller.snapshot.account.smart_device_ids == ("12-34-5A-FF-FF-6B-C7-89", TOPUP_DEVICE)
    asked = [
        r.variables.get("topupDevice")
        for r in fake.requests
        if r.operation_name == "PollPrepayGb" and r.variables
    ]
    assert asked == ["12-34-5A-FF-FF-6B-C7-89", TOPUP_DEVICE]
    clock.advance(1800)
    await poller.poll_once()
    later = [r.variables for r in fake.requests if r.operation_name == "PollPrepayTriggersGb" and r.variables]
    assert [v.get("topupDevice") for v in later] == [TOPUP_DEVICE]
    assert poller.snapshot.prepay is not None and len(poller.snapshot.prepay.triggers) == 1


async def test_germany_devices_and_dispatches_per_device(
    deployment_client: Callable[[str], tuple[FakeKraken, KrakenClient]], clock: ManualClock
) -> None:
    fk, client = deployment_client("octopus-de")
    poller = Poller(client, deployment="octopus-de", clock=clock)
    await poller.poll_once()
    clock.advance(1800)
    await poller.poll_once()
    sent = " ".join(line.split("#", 1)[0] for r in fk.requests for line in (r.query or "").splitlines())
    for gone in ("plannedDispatches(", "SmartFlexHeatPump", "vehicleVariant", "unitRatePerKwh"):
        assert gone not in sent
    assert "marketSupplyAgreements(active: true, first:" in sent
    snap = poller.snapshot
    assert snap.dropped == {}
    assert fk.stats.requests["PollLiveDe"] == 1
    assert snap.devices is not None and snap.devices.devices[0].soc_percent is not None
    assert [d.type for d in snap.dispatches if d.state == DispatchState.PLANNED] == ["SMART", "SMART"]
