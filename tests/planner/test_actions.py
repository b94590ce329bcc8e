from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraken2mqtt.planner import ActionKind, Plan, actions_at, make_plan

from .helpers import T0, at, battery, car, inputs

PRICES = [30, 25, 20, 5, 6, 30, 4, 40]


@pytest.fixture(scope="module")
def plan() -> Plan:
    return make_plan(inputs(PRICES, [car(soc=0, target=14, cap=50, max_kw=7), battery(soc=50)], house_kw=1.0))


def test_mid_slot_gives_that_slots_action(plan: Plan) -> None:
    acts = actions_at(plan, at(3) + timedelta(minutes=7))
    assert acts["car"].kind is ActionKind.CHARGE and acts["car"].power_kw == pytest.approx(7.0)
    assert "cheapest" in acts["car"].reason


def test_before_the_plan(plan: Plan) -> None:
    assert actions_at(plan, T0 - timedelta(minutes=2))["car"] == plan.device("car").intervals[0].action
    assert actions_at(plan, T0 - timedelta(hours=2))["car"] == plan.device("car").idle


def test_after_the_plan(plan: Plan) -> None:
    acts = actions_at(plan, at(100))
    assert acts["car"].kind is ActionKind.STOP
    assert acts["bat"].kind is ActionKind.HOLD


def test_slot_boundaries_belong_to_the_next_slot(plan: Plan) -> None:
    # 7 kWh: the 5p slot (13:30) and the 4p slot (15:00)
    assert actions_at(plan, at(1.5))["car"].kind is ActionKind.CHARGE
    assert actions_at(plan, at(2))["car"].kind is ActionKind.STOP
    assert actions_at(plan, at(3))["car"].kind is ActionKind.CHARGE
    assert actions_at(plan, at(3.5))["car"].kind is ActionKind.STOP


@settings(max_examples=100, deadline=None)
@given(st.integers(-10_000, 40_000))
def test_any_instant_gives_every_device_an_action_idempotently(plan: Plan, seconds: int) -> None:
    now: datetime = T0 + timedelta(seconds=seconds)
    first = actions_at(plan, now)
    assert set(first) == {"car", "bat"}
    assert actions_at(plan, now) == first
    for a in first.values():
        assert a.power_kw >= 0


def test_intervals_cover_the_plan_contiguously(plan: Plan) -> None:
    for dp in plan.devices:
        assert dp.intervals[0].start == plan.start and dp.intervals[-1].end == plan.end
        for a, b in zip(dp.intervals, dp.intervals[1:], strict=False):
            assert a.end == b.start
