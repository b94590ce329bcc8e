from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kraken2mqtt.kraken import poll_policy as pp
from kraken2mqtt.kraken.snapshot import (
    AccountInfo,
    Device,
    DeviceKind,
    DevicesData,
    DeviceState,
    DispatchState,
    MeterPoint,
    PriceSlot,
    PriceTimeline,
    Property,
    Snapshot,
    Stream,
    TariffKind,
    Tariffs,
    TrackedDispatch,
)

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
LIVE_ONLY = frozenset({Stream.DISPATCHES, Stream.DEVICES})


def _ev(state: DeviceState) -> Device:
    return Device(id="ev", kind=DeviceKind.VEHICLE, state=state)


def _snap(
    *, devices: tuple[Device, ...] = (), dispatches: tuple[TrackedDispatch, ...] = (), at: datetime = T0
) -> Snapshot:
    snap = Snapshot(deployment="octopus-gb", account_number="A-1")
    snap = snap.with_data(Stream.DEVICES, at, devices=DevicesData(devices=devices))
    return snap.with_data(Stream.DISPATCHES, at, dispatches=dispatches)


def _dispatch(start: datetime, end: datetime) -> TrackedDispatch:
    return TrackedDispatch(start=start, end=end, state=DispatchState.PLANNED)


def test_live_interval_by_situation() -> None:
    assert pp.live_interval(_snap(), T0, pending_command=False) == (pp.SLOW, "no devices")
    plugged = _snap(devices=(_ev(DeviceState.SMART_CONTROL_CAPABLE),))
    assert pp.live_interval(plugged, T0, pending_command=False)[0] == pp.PLUGGED_IN
    charging = _snap(devices=(_ev(DeviceState.BOOSTING),))
    assert pp.live_interval(charging, T0, pending_command=False)[0] == pp.DISPATCHING
    away = _snap(devices=(_ev(DeviceState.NOT_PLUGGED_IN),))
    assert pp.live_interval(away, T0, pending_command=False)[0] == pp.IDLE
    assert pp.live_interval(away, T0, pending_command=True)[0] == pp.FAST
    running = _snap(dispatches=(_dispatch(T0 - timedelta(hours=1), T0 + timedelta(hours=1)),))
    assert pp.live_interval(running, T0, pending_command=False)[0] == pp.DISPATCHING
    edge = _snap(dispatches=(_dispatch(T0 + timedelta(seconds=60), T0 + timedelta(hours=1)),))
    assert pp.live_interval(edge, T0, pending_command=False) == (pp.FAST, "dispatch edge")
    after_end = _snap(dispatches=(_dispatch(T0 - timedelta(hours=1), T0 - timedelta(seconds=100)),))
    assert pp.live_interval(after_end, T0, pending_command=False)[0] == pp.FAST


def test_due_and_next_wake() -> None:
    snap = _snap(devices=(_ev(DeviceState.SMART_CONTROL_CAPABLE),))
    plan = pp.plan(snap, T0 + timedelta(seconds=10), streams=LIVE_ONLY)
    assert plan.due == frozenset()
    assert plan.next_at == T0 + timedelta(seconds=pp.PLUGGED_IN)
    plan = pp.plan(snap, T0 + timedelta(seconds=pp.PLUGGED_IN), streams=LIVE_ONLY)
    assert plan.due == LIVE_ONLY and plan.next_at == T0 + timedelta(seconds=pp.PLUGGED_IN)


def test_wakes_before_dispatch_edge() -> None:
    start = T0 + timedelta(minutes=10)
    snap = _snap(dispatches=(_dispatch(start, start + timedelta(hours=2)),))
    plan = pp.plan(snap, T0 + timedelta(seconds=5), streams=LIVE_ONLY)
    assert plan.due == frozenset()
    assert plan.next_at == start - pp.EDGE_BEFORE


def test_slowdown_stretches_intervals() -> None:
    snap = _snap(devices=(_ev(DeviceState.NOT_PLUGGED_IN),))
    plan = pp.plan(snap, T0 + timedelta(seconds=1), streams=LIVE_ONLY, slowdown=2.0)
    assert plan.next_at == T0 + timedelta(seconds=2 * pp.IDLE)
    assert pp.plan(snap, T0 + timedelta(seconds=pp.IDLE), streams=LIVE_ONLY, slowdown=2.0).due == frozenset()


def test_failure_backoff_then_normal() -> None:
    snap = _snap(devices=(_ev(DeviceState.NOT_PLUGGED_IN),))
    t1 = T0 + timedelta(seconds=pp.IDLE)
    failed = snap.with_failure(Stream.DEVICES, t1, "HTTP 500").with_failure(Stream.DISPATCHES, t1, "HTTP 500")
    plan = pp.plan(failed, t1 + timedelta(seconds=1), streams=LIVE_ONLY)
    assert plan.due == frozenset() and plan.next_at == t1 + timedelta(seconds=pp.RETRY_BASE)
    again = failed.with_failure(Stream.DEVICES, t1 + timedelta(seconds=60), "x")
    plan = pp.plan(again, t1 + timedelta(seconds=61), streams=frozenset({Stream.DEVICES}))
    assert plan.next_at == t1 + timedelta(seconds=60 + 2 * pp.RETRY_BASE)


def _hh(until: datetime) -> Tariffs:
    slots = []
    t = T0.replace(hour=0)
    while t < until:
        slots.append(PriceSlot(start=t, end=t + timedelta(minutes=30), value=Decimal("10")))
        t += timedelta(minutes=30)
    return Tariffs.model_validate(
        {"import": PriceTimeline(kind=TariffKind.HALF_HOURLY, slots=tuple(slots), timezone="Europe/London")}
    )


def test_tariffs_polled_in_the_afternoon_until_tomorrow_arrives() -> None:
    streams = frozenset({Stream.ACCOUNT, Stream.TARIFFS})
    base = Snapshot(deployment="octopus-gb", account_number="A-1")
    morning = T0.replace(hour=9)
    today_only = base.with_data(Stream.ACCOUNT, morning, account=AccountInfo(number="A-1")).with_data(
        Stream.TARIFFS, morning, tariffs=_hh(T0.replace(hour=0) + timedelta(days=1))
    )
    assert pp.plan(today_only, morning + timedelta(hours=5), streams=streams).due == frozenset()
    assert Stream.TARIFFS in pp.plan(today_only, T0.replace(hour=16), streams=streams).due
    polled = today_only.with_data(Stream.TARIFFS, T0.replace(hour=16), tariffs=today_only.tariffs)
    plan = pp.plan(polled, T0.replace(hour=16, minute=5), streams=streams)
    assert plan.next_at == T0.replace(hour=16, minute=30)
    arrived = polled.with_data(
        Stream.TARIFFS, T0.replace(hour=16, minute=30), tariffs=_hh(T0.replace(hour=0) + timedelta(days=2))
    )
    plan = pp.plan(arrived, T0.replace(hour=17), streams=streams)
    assert plan.due == frozenset()
    assert plan.next_at == T0.replace(hour=16, minute=30) + timedelta(seconds=pp.TARIFFS)


def test_streams_per_deployment_capabilities() -> None:
    gb = pp.streams_for("octopus-gb")
    assert {Stream.DISPATCHES, Stream.DEVICES, Stream.PREPAY, Stream.EVENTS, Stream.HEAT_PUMPS} <= gb
    de = pp.streams_for("octopus-de")
    assert Stream.DISPATCHES in de and Stream.PREPAY not in de and Stream.HEAT_PUMPS not in de
    au = pp.streams_for("red-energy-au")
    assert au == {Stream.ACCOUNT, Stream.TARIFFS, Stream.RATE_LIMIT}
    assert pp.streams_for("octopus-jp") == frozenset()
    plan = pp.plan(Snapshot(deployment="octopus-jp"), T0)
    assert plan.due == frozenset() and plan.next_at == T0 + timedelta(seconds=pp.NOTHING)


def test_prepay_and_heat_pump_only_when_present() -> None:
    snap = Snapshot(deployment="octopus-gb", account_number="A-1")
    plain = snap.with_data(Stream.ACCOUNT, T0, account=AccountInfo(number="A-1"))
    plan = pp.plan(plain, T0, streams=frozenset({Stream.PREPAY, Stream.HEAT_PUMPS, Stream.ACCOUNT}))
    assert Stream.PREPAY not in plan.due and Stream.HEAT_PUMPS in plan.due  # heat pump probed once
    probed = plain.with_data(Stream.HEAT_PUMPS, T0)
    plan = pp.plan(probed, T0 + timedelta(hours=2), streams=frozenset({Stream.PREPAY, Stream.HEAT_PUMPS}))
    assert plan.due == frozenset()
    prepay_acc = AccountInfo(
        number="A-1",
        properties=(
            Property(
                id="1",
                meter_points=(
                    MeterPoint(mpan="1", direction="IMPORT", esme_device_id="E", payment_mode="PREPAY"),
                ),
            ),
        ),
        heat_pump_controller_euids=("eu",),
    )
    rich = snap.with_data(Stream.ACCOUNT, T0, account=prepay_acc)
    plan = pp.plan(rich, T0, streams=frozenset({Stream.PREPAY, Stream.HEAT_PUMPS}))
    assert plan.due == {Stream.PREPAY, Stream.HEAT_PUMPS}


def test_events_are_polled_hourly_on_their_own() -> None:
    """Events are an optional document of their own now: no ride-along (it would only add requests)."""
    streams = LIVE_ONLY | {Stream.EVENTS}
    snap = _snap(devices=(_ev(DeviceState.NOT_PLUGGED_IN),)).with_data(Stream.EVENTS, T0)
    t = T0 + timedelta(seconds=pp.EVENTS - 600)
    snap = snap.with_data(Stream.DEVICES, t - timedelta(seconds=pp.IDLE)).with_data(
        Stream.DISPATCHES, t - timedelta(seconds=pp.IDLE)
    )
    assert pp.plan(snap, t, streams=streams).due == LIVE_ONLY
    assert Stream.EVENTS in pp.plan(snap, T0 + timedelta(seconds=pp.EVENTS), streams=streams).due


def test_stays_fast_just_after_a_dispatch_ends() -> None:
    end = T0 - timedelta(seconds=30)
    done = TrackedDispatch(start=end - timedelta(hours=1), end=end, state=DispatchState.COMPLETED)
    snap = _snap(devices=(_ev(DeviceState.SMART_CONTROL_CAPABLE),), dispatches=(done,))
    assert pp.live_interval(snap, T0, pending_command=False) == (pp.FAST, "dispatch edge")
    later = T0 + pp.EDGE_AFTER
    assert pp.live_interval(snap, later, pending_command=False)[0] == pp.PLUGGED_IN
    cancelled = done.model_copy(update={"state": DispatchState.CANCELLED})
    snap = _snap(devices=(_ev(DeviceState.SMART_CONTROL_CAPABLE),), dispatches=(cancelled,))
    assert pp.live_interval(snap, T0, pending_command=False)[0] == pp.PLUGGED_IN
