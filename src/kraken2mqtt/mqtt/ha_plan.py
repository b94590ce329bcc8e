"""The plan as Home Assistant and the retained ``<base>/plan`` topic show it, and what of it a person sees."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.forecast.planning import plan_forecast
from kraken2mqtt.mqtt.ha_discovery import Entity
from kraken2mqtt.planner.model import Plan

PLAN_HOURS = 24


def plan_signature(plan: Plan | None, now: datetime) -> tuple[Any, ...]:
    """What a person sees of a plan: each device's blocks of one action and when they change, over the
    next 24 h. Not the costs and powers, which move a little on every pass, nor the current block's start
    or the blocks near the horizon, which move with the clock. The plan is shown again only when this
    changes."""
    if plan is None:
        return ()
    # the last hour before the plan's horizon changes as the horizon moves with the clock
    until = min(now + timedelta(hours=PLAN_HOURS), plan.end - timedelta(hours=1))
    out = []
    for dp in plan.devices:
        blocks: list[tuple[datetime | None, str, float | None]] = []
        for iv in dp.intervals:
            if iv.end <= now or iv.start >= until:
                continue
            setpoint = None if iv.action.setpoint_c is None else round(iv.action.setpoint_c * 2) / 2
            kind = (iv.action.kind.value, setpoint)
            if blocks and blocks[-1][1:] == kind:
                continue
            blocks.append((None if iv.start <= now else _five_minutes(iv.start), *kind))
        out.append((dp.device_id, tuple(blocks)))
    return tuple(out)


def _five_minutes(t: datetime) -> datetime:
    """A block's start to the nearest 5 minutes: a heating run's end moves by seconds on every pass."""
    return datetime.fromtimestamp(round(t.timestamp() / 300) * 300, tz=t.tzinfo)


def plan_document(plan: Plan, now: datetime) -> dict[str, Any]:
    """The plan for the retained ``<base>/plan`` topic: every device's next 24 h with reasons."""
    until = now + timedelta(hours=PLAN_HOURS)
    devices = {}
    for dp in plan.devices:
        devices[dp.device_id] = {
            "summary": dp.summary,
            "warnings": list(dp.warnings),
            "intervals": [
                {
                    "start": iv.start.isoformat(),
                    "end": iv.end.isoformat(),
                    "action": iv.action.kind.value,
                    "power_kw": round(iv.action.power_kw, 2),
                    "reason": iv.action.reason,
                }
                for iv in dp.intervals
                if iv.end > now and iv.start < until
            ],
        }
    out: dict[str, Any] = {
        "planned_at": plan.now.isoformat(),
        "warnings": list(plan.warnings),
        "devices": devices,
        # what the plan counted on per slot: sun, house load and outdoor temperature
        "forecast": plan_forecast(plan, now, hours=PLAN_HOURS),
    }
    if plan.topup is not None:
        out["topup"] = plan.topup.message
    return out


def plan_entity(plan: Plan, now: datetime, currency: str = "GBP", minor_per_major: int = 100) -> Entity:
    """The plan's cost as state; each device's summary as (small) attributes. The whole plan, with every
    interval and reason, is on the retained ``<base>/plan`` topic, which Home Assistant does not record."""
    attributes: dict[str, Any] = {
        "devices": {dp.device_id: dp.summary for dp in plan.devices},
        "warnings": list(plan.warnings)[:10],
    }
    if plan.topup is not None:
        attributes["topup"] = plan.topup.message
    return Entity(
        "plan_cost",
        "sensor",
        "Planned cost",
        round(plan.total_cost_p / minor_per_major, 2),
        options={
            "device_class": "monetary",
            "unit_of_measurement": currency,
            "icon": "mdi:calendar-clock",
            "suggested_display_precision": 2,
        },
        attributes=attributes,
    )
