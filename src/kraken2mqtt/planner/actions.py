"""``actions_at(plan, now)``: what each device should be doing at ``now``, for the reconcile loop.

Level-triggered and idempotent: the same plan and instant always give the same actions, so the loop may
apply them as often as it likes. Robust to ``now`` anywhere: inside an interval → its action; before the
plan starts (a clock a little behind the planner's) → the first interval's action if the gap is short,
else the device's idle action; after the plan ends → the idle action.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import datetime, timedelta

from .model import DeviceAction, DevicePlan, Plan

EARLY_TOLERANCE = timedelta(minutes=5)


def device_action_at(dp: DevicePlan, now: datetime) -> DeviceAction:
    iv = dp.intervals
    if not iv or now >= iv[-1].end:
        return dp.idle
    if now < iv[0].start:
        return iv[0].action if iv[0].start - now <= EARLY_TOLERANCE else dp.idle
    k = bisect_right([x.start for x in iv], now) - 1
    return iv[k].action if now < iv[k].end else dp.idle


def actions_at(plan: Plan, now: datetime) -> Mapping[str, DeviceAction]:
    return {dp.device_id: device_action_at(dp, now) for dp in plan.devices}
