"""Builders for planner tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kraken2mqtt.planner import (
    EV,
    Battery,
    BatteryModel,
    BatteryState,
    EVModel,
    EVState,
    EVTarget,
    LoadProfile,
    PlanInputs,
    Tariff,
    TariffSlot,
)
from kraken2mqtt.planner.model import DevicePlan, PlannedDevice

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """T0 + hours."""
    return T0 + timedelta(hours=hours)


def prices(
    values: Sequence[float],
    start: datetime = T0,
    minutes: int = 30,
    export: Sequence[float] | float = 0.0,
) -> tuple[TariffSlot, ...]:
    step = timedelta(minutes=minutes)
    out = []
    for k, p in enumerate(values):
        e = export[k] if isinstance(export, Sequence) else export
        out.append(TariffSlot(start + k * step, start + (k + 1) * step, float(p), float(e)))
    return tuple(out)


def inputs(
    values: Sequence[float],
    devices: Sequence[PlannedDevice] = (),
    now: datetime = T0,
    minutes: int = 30,
    export: Sequence[float] | float = 0.0,
    house_kw: float | None = None,
    off_peak: float | None = None,
    min_run: float | None = None,
    **kw: object,
) -> PlanInputs:
    """``min_run``: override every car's minimum run (minutes)."""
    house = LoadProfile((house_kw,), tz="UTC") if house_kw is not None else None
    if min_run is not None:
        devices = [
            replace(d, model=replace(d.model, min_run_minutes=min_run)) if isinstance(d, EV) else d
            for d in devices
        ]
    return PlanInputs(
        now=now,
        tariff=Tariff(prices(values, minutes=minutes, export=export), off_peak_p=off_peak),
        devices=tuple(devices),
        house_load=house,
        horizon_h=len(values) * minutes / 60.0,
        forecast_missing_prices=False,
        tz="UTC",
        **kw,  # type: ignore[arg-type]
    )


def car(
    soc: float = 20.0,
    target: float | None = 80.0,
    deadline: datetime | None = None,
    cap: float = 50.0,
    max_kw: float = 7.0,
    eff: float = 1.0,
    **model: object,
) -> EV:
    return EV(
        "car",
        EVModel(cap, max_kw, efficiency=eff, **model),  # type: ignore[arg-type]
        EVState(soc),
        EVTarget(deadline, soc_pct=target) if target is not None else None,
    )


def battery(soc: float = 50.0, cap: float = 10.0, kw: float = 5.0, **model: object) -> Battery:
    return Battery("bat", BatteryModel(cap, kw, kw, **model), BatteryState(soc))  # type: ignore[arg-type]


def charged_kwh(dp: DevicePlan, until: datetime | None = None) -> float:
    total = 0.0
    for iv in dp.intervals:
        if until is not None and iv.start >= until:
            continue
        total += iv.grid_kwh
    return total
