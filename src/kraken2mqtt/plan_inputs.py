"""From what the daemon knows to the planner's inputs (pure): the snapshot's prices and dispatches, the
local devices' configured models and reported state, and the user's planner modes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from kraken2mqtt.devices.base import ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.kraken.deployments import DEPLOYMENTS
from kraken2mqtt.kraken.dispatches import OFF_PEAK_SOURCES
from kraken2mqtt.kraken.snapshot import Device as KrakenDevice
from kraken2mqtt.kraken.snapshot import DispatchState, Snapshot, Stream
from kraken2mqtt.planner.config import DevicePlanConfig, PlannerSettings
from kraken2mqtt.planner.model import (
    EV,
    Battery,
    BatteryModel,
    BatteryState,
    Comfort,
    DispatchWindow,
    EVModel,
    EVState,
    EVTarget,
    GridLimits,
    HeatPump,
    HeatPumpModel,
    HeatPumpState,
    HotWaterNeed,
    HotWaterTank,
    LoadProfile,
    PlanInputs,
    PlannedDevice,
    Prepay,
    RelayLoad,
    Tariff,
    TariffSlot,
    TemperaturePoint,
)
from kraken2mqtt.planner.money import GBP, Currency

#: Planner modes a user can pick per local device (``planner_mode`` control).
PLANNED = "auto"
#: Past prices handed to the planner for its forecast of unpublished slots.
HISTORY = timedelta(days=8)


def next_local(now: datetime, at: time, tz: str) -> datetime:
    """The next instant (after ``now``) at local time of day ``at``."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(now.tzinfo)


def tariff_from(snapshot: Snapshot, now: datetime, horizon_h: float) -> Tariff | None:
    tariffs = snapshot.tariffs
    if tariffs is None or tariffs.import_ is None:
        return None
    imp, exp = tariffs.import_, tariffs.export
    # Past prices too: the planner forecasts unpublished slots from a day and a week earlier.
    start = now.replace(minute=30 if now.minute >= 30 else 0, second=0, microsecond=0) - HISTORY
    slots = []
    for s in imp.slots_between(start, now + timedelta(hours=horizon_h)):
        export = exp.price_at(s.start) if exp is not None else None
        slots.append(TariffSlot(s.start, s.end, float(s.value), float(export) if export is not None else 0.0))
    if not any(slot.end > now for slot in slots):
        return None
    off_peak = imp.off_peak_rate if imp.dispatch_discount else None
    standing = float(imp.standing_charge) if imp.standing_charge is not None else 0.0
    return Tariff(tuple(slots), float(off_peak) if off_peak is not None else None, standing)


def dispatch_windows(snapshot: Snapshot, now: datetime) -> tuple[DispatchWindow, ...]:
    """The planned and running dispatches billed at the off-peak rate: not a boost (``type`` BOOST, source
    bump-charge), which is billed at the usual rate (HAOE counts only smart charges:
    intelligent/__init__.py @ 4c25c726 get_applicable_dispatch_periods)."""
    live = (DispatchState.PLANNED, DispatchState.STARTED)
    return tuple(
        DispatchWindow(d.start, d.end, d.source or "smart-charge")
        for d in snapshot.dispatches
        if d.state in live and d.end > now and d.source in OFF_PEAK_SOURCES
    )


#: Kraken's EV readings older than this are not used in place of the local device's.
KRAKEN_EV_MAX_AGE_S = 3600.0


def kraken_ev(snapshot: Snapshot, now: datetime) -> KrakenDevice | None:
    """The account's one smart-charging EV as Kraken last reported it (``stateOfCharge``, plugged in), when
    there is exactly one and its data is fresh: it stands in for what a local charger cannot report."""
    evs = [d for d in snapshot.ev_devices if not d.legacy]
    age = snapshot.age(Stream.DEVICES, now)
    if len(evs) != 1 or age is None or age > KRAKEN_EV_MAX_AGE_S:
        return None
    return evs[0]


def local_device(
    cfg: DeviceConfig,
    reported: ReportedState | None,
    now: datetime,
    tz: str,
    kraken: KrakenDevice | None = None,
) -> PlannedDevice | None:
    """The planner's model of a configured device, or None when it has no ``plan`` table. ``kraken``: the
    account's EV as Kraken reports it, used for an EV's SoC / plugged-in state the device does not report."""
    p = cfg.plan
    if p is None:
        return None
    kind = cfg.kind.value
    if kind == "ev":
        return _ev(cfg.id, p, reported, now, tz, kraken)
    if kind == "battery":
        assert p.capacity_kwh and p.max_charge_kw and p.max_discharge_kw
        model = BatteryModel(
            p.capacity_kwh,
            p.max_charge_kw,
            p.max_discharge_kw,
            p.charge_efficiency,
            p.discharge_efficiency,
            p.min_soc_pct,
            p.max_soc_pct,
            p.reserve_soc_pct,
            p.allow_export,
            cycle_cost_p=p.cycle_cost_p,
        )
        soc = reported.soc_pct if reported is not None and reported.soc_pct is not None else p.assumed_soc_pct
        power = reported.power_kw if reported is not None and reported.power_kw is not None else 0.0
        return Battery(cfg.id, model, BatteryState(min(100.0, max(0.0, soc)), power))
    if kind == "heat_pump":
        assert p.heat_loss_kw_per_k and p.thermal_mass_kwh_per_k and p.max_kw
        hp_model = HeatPumpModel(
            p.heat_loss_kw_per_k,
            p.thermal_mass_kwh_per_k,
            p.max_kw,
            cop_at_7c=p.cop_at_7c,
            # the device's compressor limits (devices/config.py), so plan and device agree
            min_kw=min(p.max_kw, p.min_kw or 0.25 * p.max_kw),
            min_run_h=cfg.min_run_minutes / 60.0,
            min_off_h=cfg.min_off_minutes / 60.0,
        )
        indoor = (
            reported.temperature_c
            if reported is not None and reported.temperature_c is not None
            else p.assumed_indoor_c
        )
        return HeatPump(cfg.id, hp_model, HeatPumpState(indoor), Comfort(p.comfort_min_c, p.comfort_max_c))
    if kind == "hot_water":
        assert p.capacity_kwh and p.heater_kw
        needs = tuple(HotWaterNeed(next_local(now, n.at, tz), n.kwh) for n in p.needs)
        return HotWaterTank(
            cfg.id,
            p.capacity_kwh,
            p.heater_kw,
            min(p.assumed_energy_kwh, p.capacity_kwh),
            p.heater_cop,
            needs=needs,
        )
    if kind == "relay":
        assert p.power_kw and p.energy_kwh is not None
        deadline = next_local(now, p.deadline, tz) if p.deadline is not None else None
        earliest = next_local(now, p.earliest, tz) if p.earliest is not None else None
        if earliest is not None and deadline is not None and earliest > deadline:
            earliest = None  # inside today's window already
        return RelayLoad(cfg.id, p.power_kw, p.energy_kwh, earliest, deadline)
    return None


def _ev(
    device_id: str,
    p: DevicePlanConfig,
    reported: ReportedState | None,
    now: datetime,
    tz: str,
    kraken: KrakenDevice | None = None,
) -> EV:
    assert p.capacity_kwh and p.max_kw
    model = EVModel(
        p.capacity_kwh,
        p.max_kw,
        min(p.min_kw, p.max_kw),
        p.efficiency,
        p.continuous,
        min_run_minutes=p.min_run_minutes,
    )
    if reported is not None and reported.soc_pct is not None:
        soc = reported.soc_pct
    elif kraken is not None and kraken.soc_percent is not None:
        soc = float(kraken.soc_percent)  # the car's own reading, through Kraken
    else:
        soc = p.assumed_soc_pct
    if reported is not None and reported.plugged_in is not None:
        plugged = reported.plugged_in
    elif kraken is not None and kraken.plugged_in is not None:
        plugged = kraken.plugged_in
    else:
        plugged = True
    target = EVTarget(next_local(now, p.ready_by, tz), p.target_soc_pct)
    return EV(device_id, model, EVState(min(100.0, max(0.0, soc)), plugged), target)


def house_load(settings: PlannerSettings) -> LoadProfile:
    kw = settings.house_load_kw
    values = (float(kw),) * 24 if isinstance(kw, int | float) else tuple(float(v) for v in kw)
    return LoadProfile(values, settings.timezone)


def outdoor(snapshot: Snapshot, now: datetime, settings: PlannerSettings) -> tuple[TemperaturePoint, ...]:
    for ctl in snapshot.heat_pumps.controllers if snapshot.heat_pumps else ():
        if ctl.outdoor_temperature_c is not None:
            return (TemperaturePoint(now, float(ctl.outdoor_temperature_c)),)
    return (TemperaturePoint(now, settings.outdoor_c),)


def prepay(snapshot: Snapshot) -> Prepay | None:
    if snapshot.prepay is None or snapshot.prepay.balance is None:
        return None
    balance = snapshot.prepay.balance
    return Prepay(float(balance.credit - balance.debt))


def build_inputs(
    snapshot: Snapshot,
    now: datetime,
    settings: PlannerSettings,
    devices: Sequence[DeviceConfig],
    reported: Mapping[str, ReportedState],
    modes: Mapping[str, str],
) -> PlanInputs | None:
    """The planner's inputs, or None while there are no prices to plan against."""
    tariff = tariff_from(snapshot, now, settings.horizon_hours)
    if tariff is None:
        return None
    planned: list[PlannedDevice] = []
    ev_from_kraken = kraken_ev(snapshot, now)
    for cfg in devices:
        if modes.get(cfg.id, PLANNED) != PLANNED:
            continue  # the user forces this one on or off: not the planner's to decide
        dev = local_device(cfg, reported.get(cfg.id), now, settings.timezone, ev_from_kraken)
        if dev is not None:
            planned.append(dev)
    return PlanInputs(
        now=now,
        tariff=tariff,
        devices=tuple(planned),
        dispatches=dispatch_windows(snapshot, now),
        house_load=house_load(settings),
        outdoor=outdoor(snapshot, now, settings),
        grid=GridLimits(import_kw=settings.grid_import_limit_kw, export_kw=settings.grid_export_limit_kw),
        prepay=prepay(snapshot),
        horizon_h=settings.horizon_hours,
        tz=settings.timezone,
        currency=currency(snapshot),
    )


def currency(snapshot: Snapshot) -> Currency:
    """How amounts read in the plan's reasons: the deployment's currency (GBP if it is unknown)."""
    return currency_of(snapshot.deployment)


def currency_of(deployment: str) -> Currency:
    """The currency of the Kraken deployment named ``deployment`` (GBP if it is unknown): how the daemon,
    the planner's reasons and the sandbox's terminal write money."""
    dep = DEPLOYMENTS.get(deployment)
    return Currency(dep.currency, dep.minor_unit, dep.minor_per_major) if dep is not None else GBP
