"""What the Home Assistant side shows at one instant (:class:`View`), and what Kraken says each control is
set to now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kraken2mqtt.controls import ACCOUNT, Control
from kraken2mqtt.devices.base import ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.kraken.deployments import DEPLOYMENTS
from kraken2mqtt.kraken.signals import Signals
from kraken2mqtt.kraken.snapshot import Device, DeviceKind, DeviceState, Snapshot
from kraken2mqtt.mqtt.ha_tables import num
from kraken2mqtt.planner.model import DeviceAction, Plan


@dataclass(frozen=True)
class ForecastShown:
    """What the forecasts say now (kraken2mqtt.forecast), rounded as a person reads it."""

    solar_rest_of_today_kwh: float | None = None
    solar_tomorrow_kwh: float | None = None
    solar_now_kw: float | None = None
    outdoor_c: float | None = None
    fetched_at: datetime | None = None
    stale: bool = False
    house_load_kw: float | None = None
    house_load_learned: bool = False


@dataclass(frozen=True, slots=True)
class View:
    """Everything the Home Assistant side shows, at one instant."""

    snapshot: Snapshot
    signals: Signals
    now: datetime
    plan: Plan | None = None
    local_devices: Sequence[DeviceConfig] = ()
    reported: Mapping[str, ReportedState] = field(default_factory=dict)
    planner_modes: Mapping[str, str] = field(default_factory=dict)
    #: a control's value shown in place of the read-back: the value of a command Kraken answered
    #: ``done`` (device key, control) → value, until the read-back changes (see ``ha_publisher``)
    overrides: Mapping[tuple[str, Control], Any] = field(default_factory=dict)
    #: local devices held for a person's change (``mqtt.holds``): device → held_until, hold, reason
    holds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    forecast: ForecastShown | None = None
    #: each local device's action now, as the driver got it (``devices.reconcile.wanted_actions``)
    actions: Mapping[str, DeviceAction] = field(default_factory=dict)


def readbacks(view: View, key_of: Callable[[Device], str]) -> dict[tuple[str, Control], Any]:
    """What Kraken says each control is set to now (None: Kraken does not say), in command values."""
    out: dict[tuple[str, Control], Any] = {}
    snap = view.snapshot
    if snap.prepay is not None:
        cfg = snap.prepay.current_config(view.now)
        out[(ACCOUNT, Control.TOP_UP_AMOUNT)] = cfg.topup_amount if cfg else None
    for dev in snap.devices.devices if snap.devices else ():
        key = key_of(dev)
        if dev.is_ev:
            out[(key, Control.BOOST)] = dev.state == DeviceState.BOOSTING
            out[(key, Control.SMART_CONTROL)] = None if dev.suspended is None else not dev.suspended
            out[(key, Control.TARGET_SOC)] = target_soc(dev)
            out[(key, Control.READY_BY)] = ready_by(dev)
        if dev.kind == DeviceKind.HEAT_PUMP:
            hp = dev.heat_pump
            out[(key, Control.SETPOINT)] = num(hp.target_temperature) if hp else None
            out[(key, Control.ZONE_MODE)] = zone_mode_value(hp.mode if hp else None)
            out[(key, Control.HOT_WATER_BOOST)] = None
    return out


def zone_mode_value(mode: str | None) -> str | None:
    if mode is None:
        return None
    return "OFF" if mode.upper() in {"OFF", "DISABLED"} else "ON"


def shown(view: View, key: str, control: Control, readback: Any) -> Any:
    return view.overrides.get((key, control), readback)


def money(view: View, minor: Decimal | float | int | None) -> float | None:
    if minor is None:
        return None
    return round(float(minor) / DEPLOYMENTS[view.snapshot.deployment].minor_per_major, 5)


def target_soc(dev: Device) -> float | None:
    prefs = dev.preferences
    if prefs is None or not prefs.schedules:
        return None
    value = prefs.schedules[0].max
    return float(value) if value is not None else None


def ready_by(dev: Device) -> str | None:
    prefs = dev.preferences
    if prefs is None or not prefs.schedules:
        return None
    return prefs.schedules[0].time[:5]
