"""What each local device should be doing now (pure): the plan's action, unless the user picked a planner
mode that overrides it. The driver applies the result as often as it likes (level-triggered).

This is the one computation of "the action now": the daemon calls :func:`wanted_actions` once a pass and
carries the result to the driver, Home Assistant (``View.actions``, the "Planned action now" entity),
``kraken2mqtt status`` (the driver's saved status) and the ``kraken2mqtt_device_action`` metric (the
driver's ``actions_now``), so they can never disagree.

With no plan at all (no valid prices: Kraken unreachable for hours, or prices ran out) a device with a
``plan`` table follows the configured failsafe (``[planner] failsafe_*``): an EV charges at ``max_kw``
inside ``failsafe_ev_window`` and stops outside it, a hot-water tank boosts inside
``failsafe_hot_water_window``, a battery holds. It is never left "off" with no way to be ready."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from kraken2mqtt.devices.base import LocalKind
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.planner.actions import device_action_at
from kraken2mqtt.planner.config import PlannerSettings
from kraken2mqtt.planner.model import ActionKind, DeviceAction, Plan

_FORCE_ON: dict[LocalKind, ActionKind] = {
    LocalKind.EV: ActionKind.CHARGE,
    LocalKind.BATTERY: ActionKind.CHARGE,
    LocalKind.RELAY: ActionKind.ON,
    LocalKind.HOT_WATER: ActionKind.HOT_WATER_BOOST,
    LocalKind.HEAT_PUMP: ActionKind.HEAT,
    LocalKind.GENERIC: ActionKind.ON,
}
_OFF: dict[LocalKind, ActionKind] = {
    LocalKind.EV: ActionKind.STOP,
    LocalKind.BATTERY: ActionKind.HOLD,
    LocalKind.RELAY: ActionKind.OFF,
    LocalKind.HOT_WATER: ActionKind.HOT_WATER_OFF,
    # Switching a heat pump off is never what "off" should mean in a home: hand it back to its own logic.
    LocalKind.HEAT_PUMP: ActionKind.FOLLOW_KRAKEN,
    LocalKind.GENERIC: ActionKind.OFF,
}
#: With no plan for the device (no ``plan`` table, or no prices yet): leave it to itself.
UNPLANNED = DeviceAction(ActionKind.FOLLOW_KRAKEN, reason="not planned: left to the device's own logic")


def failsafe_action(cfg: DeviceConfig, settings: PlannerSettings, now: datetime) -> DeviceAction:
    """What a planned device does while there is no plan (see the module docstring)."""
    if cfg.plan is None:
        return UNPLANNED
    if cfg.kind is LocalKind.EV and settings.failsafe_ev_window:
        window = settings.failsafe_ev_window
        if settings.in_window(window, now):
            power = cfg.plan.max_kw or 0.0
            return DeviceAction(
                ActionKind.CHARGE, power_kw=power, reason=f"failsafe: no prices, charging {window}"
            )
        return DeviceAction(ActionKind.STOP, reason=f"failsafe: no prices, charging only {window}")
    if cfg.kind is LocalKind.HOT_WATER and settings.failsafe_hot_water_window:
        window = settings.failsafe_hot_water_window
        if settings.in_window(window, now):
            power = cfg.plan.heater_kw or 0.0
            return DeviceAction(
                ActionKind.HOT_WATER_BOOST, power_kw=power, reason=f"failsafe: no prices, heating {window}"
            )
        return DeviceAction(ActionKind.HOT_WATER_OFF, reason=f"failsafe: no prices, heating only {window}")
    if cfg.kind is LocalKind.BATTERY and settings.failsafe_battery == "hold":
        return DeviceAction(ActionKind.HOLD, reason="failsafe: no prices, holding")
    return UNPLANNED


def wanted_action(
    cfg: DeviceConfig,
    plan: Plan | None,
    mode: str,
    now: datetime,
    failsafe: PlannerSettings | None = None,
) -> DeviceAction:
    """``failsafe``: the planner settings when the planner is enabled (then a missing plan means the
    failsafe applies)."""
    if mode == "force_on":
        power = cfg.plan.max_kw if cfg.plan is not None and cfg.plan.max_kw else 0.0
        return DeviceAction(_FORCE_ON[cfg.kind], power_kw=power, reason="planner mode: force on")
    if mode == "off":
        return DeviceAction(_OFF[cfg.kind], reason="planner mode: off")
    if plan is not None:
        for dp in plan.devices:
            if dp.device_id == cfg.id:
                return device_action_at(dp, now)
    elif failsafe is not None:
        return failsafe_action(cfg, failsafe, now)
    return UNPLANNED


def wanted_actions(
    devices: Sequence[DeviceConfig],
    plan: Plan | None,
    modes: Mapping[str, str],
    now: datetime,
    failsafe: PlannerSettings | None = None,
) -> dict[str, DeviceAction]:
    return {cfg.id: wanted_action(cfg, plan, modes.get(cfg.id, "auto"), now, failsafe) for cfg in devices}


def price_now(plan: Plan | None, now: datetime) -> float | None:
    """The plan's import price at ``now`` (None: no plan or outside it), for the battery's dwell."""
    for slot in plan.slots if plan is not None else ():
        if slot.start <= now < slot.end:
            return slot.import_p
    return None
