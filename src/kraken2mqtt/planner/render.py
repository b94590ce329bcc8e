"""Format a plan: a table for people, JSON for programs (the CLI edge)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .model import DevicePlan, Plan
from .money import GBP, Currency
from .slots import zone


def _local(dt: datetime, tz: str) -> str:
    return dt.astimezone(zone(tz)).strftime("%a %H:%M")


def render_text(plan: Plan, tz: str = "Europe/London", currency: Currency = GBP) -> str:
    money = currency.money
    lines = [
        f"Plan made at {_local(plan.now, tz)} ({tz}) for {_local(plan.start, tz)} – {_local(plan.end, tz)}, "
        f"{len(plan.slots)} slots",
        f"Total cost {money(plan.total_cost_p)} (house load alone {money(plan.house_cost_p)})",
    ]
    if plan.topup is not None:
        lines.append(f"Prepay: {plan.topup.message}")
    for w in plan.warnings:
        lines.append(f"! {w}")
    for dp in plan.devices:
        lines.append("")
        lines.extend(_device(dp, tz, currency))
    return "\n".join(lines) + "\n"


def _device(dp: DevicePlan, tz: str, currency: Currency) -> list[str]:
    head = f"[{dp.kind}] {dp.device_id}: {dp.summary}"
    out = [head]
    if dp.boost_recommended:
        out.append("  -> ask Kraken for a boost")
    out.append(
        f"  {'from':<9} {'to':<9} {'action':<16} {'kW':>6} {'set°C':>6} {'kWh':>7} {'cost':>8}  reason"
    )
    for iv in dp.intervals:
        a = iv.action
        sp = f"{a.setpoint_c:.1f}" if a.setpoint_c is not None else ""
        kw = f"{a.power_kw:.2f}" if a.power_kw else ""
        out.append(
            f"  {_local(iv.start, tz):<9} {_local(iv.end, tz):<9} {a.kind.value:<16} {kw:>6} {sp:>6} "
            f"{iv.grid_kwh:>7.2f} {currency.money(iv.cost_p):>8}  {a.reason}"
        )
    return out


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    def t(dt: datetime) -> str:
        return dt.isoformat().replace("+00:00", "Z")

    return {
        "now": t(plan.now),
        "start": t(plan.start),
        "end": t(plan.end),
        "total_cost_p": round(plan.total_cost_p, 4),
        "house_cost_p": round(plan.house_cost_p, 4),
        "warnings": list(plan.warnings),
        "topup": None
        if plan.topup is None
        else {
            "balance_now_p": plan.topup.balance_now_p,
            "min_balance_p": round(plan.topup.min_balance_p, 2),
            "min_balance_at": t(plan.topup.min_balance_at),
            "runs_low_at": t(plan.topup.runs_low_at) if plan.topup.runs_low_at else None,
            "propose_p": plan.topup.propose_p,
            "message": plan.topup.message,
        },
        "devices": [
            {
                "id": dp.device_id,
                "kind": dp.kind,
                "summary": dp.summary,
                "warnings": list(dp.warnings),
                "grid_kwh": round(dp.grid_kwh, 4),
                "cost_p": round(dp.cost_p, 4),
                "baseline_cost_p": None if dp.baseline_cost_p is None else round(dp.baseline_cost_p, 4),
                "boost_recommended": dp.boost_recommended,
                "end_state": {k: round(v, 3) for k, v in dp.end_state.items()},
                "intervals": [
                    {
                        "start": t(iv.start),
                        "end": t(iv.end),
                        "action": iv.action.kind.value,
                        "power_kw": iv.action.power_kw,
                        "setpoint_c": iv.action.setpoint_c,
                        "grid_kwh": round(iv.grid_kwh, 4),
                        "cost_p": round(iv.cost_p, 4),
                        "reason": iv.action.reason,
                    }
                    for iv in dp.intervals
                ],
            }
            for dp in plan.devices
        ],
        "slots": [
            {
                "start": t(s.start),
                "end": t(s.end),
                "import_p": s.import_p,
                "export_p": s.export_p,
                "dispatch": s.dispatch,
                "forecast": s.forecast,
                "house_kwh": round(s.house_kwh, 4),
                "grid_kwh": round(s.grid_kwh, 4),
                "cost_p": round(s.cost_p, 4),
                "solar_kwh": round(s.solar_kwh, 4),
                "outdoor_c": s.outdoor_c,
            }
            for s in plan.slots
        ],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"
