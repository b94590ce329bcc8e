"""The Home Assistant devices of the devices kraken2mqtt drives itself (``devices:`` in the config)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kraken2mqtt.controls import Control
from kraken2mqtt.devices.base import LocalKind, ReportedState
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.mqtt.ha_discovery import ENUM, HaDevice, on_off
from kraken2mqtt.mqtt.ha_tables import CONFIG, MEASUREMENT, EntityDescription, Table, from_table, watts_sensor
from kraken2mqtt.mqtt.ha_view import View
from kraken2mqtt.planner.model import ActionKind, DevicePlan, Plan

LOCAL_MANUFACTURER = "kraken2mqtt"


class LocalCtx:
    def __init__(self, view: View, cfg: DeviceConfig) -> None:
        self.view, self.cfg = view, cfg
        self.rep = view.reported.get(cfg.id) or ReportedState()
        self.kind = cfg.kind

    @cached_property
    def device_plan(self) -> DevicePlan | None:
        return _device_plan(self.view.plan, self.cfg.id)

    @cached_property
    def action(self) -> tuple[str | None, dict[str, Any]]:
        action = self.view.actions.get(self.cfg.id)
        dp = self.device_plan
        attributes: dict[str, Any] = {
            "reason": action.reason if action is not None else "no plan yet",
            "summary": dp.summary if dp is not None else None,
            "power_kw": round(action.power_kw, 2) if action is not None else None,
        }
        state = action.kind.value if action is not None else None
        hold = self.view.holds.get(self.cfg.id)
        if hold is not None and "held_until" in hold:  # a person's change wins for a while
            state = hold.get("action", ActionKind.FOLLOW_KRAKEN.value)
            attributes.update({k: v for k, v in hold.items() if k != "action"}, power_kw=None)
        elif hold is not None:  # ... and then the plan resumes, saying so
            attributes.update(hold)
        return state, attributes


_EV_OR_BATTERY = (LocalKind.EV, LocalKind.BATTERY)

LOCAL_ENTITIES: Table[LocalCtx] = (
    EntityDescription(
        "planner_mode",
        "select",
        "Planner mode",
        lambda c: c.view.planner_modes.get(c.cfg.id, "auto"),
        category=CONFIG,
        control=Control.PLANNER_MODE,
    ),
    EntityDescription(
        "soc",
        "sensor",
        "Charge",
        lambda c: None if c.rep.soc_pct is None else round(c.rep.soc_pct),
        "battery",
        "%",
        MEASUREMENT,
        exists=lambda c: c.kind in _EV_OR_BATTERY or c.rep.soc_pct is not None,
    ),
    watts_sensor(
        "power",
        "Power",
        lambda c: None if c.rep.power_kw is None else round(c.rep.power_kw * 1000),
        exists=lambda c: c.kind in _EV_OR_BATTERY or c.rep.power_kw is not None,
    ),
    EntityDescription(
        "plugged_in",
        "binary_sensor",
        "Plugged in",
        lambda c: on_off(c.rep.plugged_in),
        "plug",
        exists=lambda c: c.kind is LocalKind.EV or c.rep.plugged_in is not None,
    ),
    EntityDescription(
        "relay",
        "binary_sensor",
        "Relay",
        lambda c: on_off(c.rep.relay_on),
        "power",
        exists=lambda c: c.kind in (LocalKind.RELAY, LocalKind.HOT_WATER) or c.rep.relay_on is not None,
    ),
    EntityDescription(
        "temperature",
        "sensor",
        "Temperature",
        lambda c: None if c.rep.temperature_c is None else round(c.rep.temperature_c, 1),
        "temperature",
        "°C",
        MEASUREMENT,
        exists=lambda c: c.kind is LocalKind.HEAT_PUMP or c.rep.temperature_c is not None,
    ),
    EntityDescription(
        "action",
        "sensor",
        "Planned action now",
        lambda c: c.action[0],
        ENUM,
        more={"options": [k.value for k in ActionKind]},
        attributes=lambda c: c.action[1],
        exists=lambda c: c.device_plan is not None or c.cfg.plan is not None,
    ),
    EntityDescription(  # devices/driver.py: who is in charge, last result
        "control",
        "sensor",
        "Control",
        lambda c: c.rep.control,
        icon="mdi:hand-back-right",
        attributes=lambda c: {"last_result": c.rep.result},
        exists=lambda c: c.rep.control is not None,
    ),
)


def local_device(view: View, cfg: DeviceConfig, via: str) -> HaDevice:
    ctx = LocalCtx(view, cfg)
    rep = ctx.rep
    return HaDevice(
        key=cfg.id,
        name=cfg.name or cfg.id,
        manufacturer=LOCAL_MANUFACTURER,
        model=f"{cfg.adapter} ({cfg.kind})",
        entities=tuple(from_table(LOCAL_ENTITIES, ctx)),
        available=rep.online if rep.online is not None else True,
        via=via,
    )


def _device_plan(plan: Plan | None, device_id: str) -> DevicePlan | None:
    if plan is None:
        return None
    try:
        return plan.device(device_id)
    except KeyError:
        return None
