from __future__ import annotations

from dataclasses import replace

import pytest

from kraken2mqtt.planner import Prepay, Tariff, make_plan

from .helpers import T0, car, inputs, prices


def test_warns_and_proposes_a_rounded_top_up() -> None:
    # house 1 kW at 20p for 10 h = £2.00, plus £0.50/day standing (≈ £0.21); balance £1.50
    inp = inputs([20] * 20, house_kw=1.0, prepay=Prepay(150, warn_below_p=0, topup_step_p=500, buffer_p=500))
    inp = replace(inp, tariff=Tariff(prices([20] * 20), standing_charge_p_per_day=50))
    plan = make_plan(inp)
    t = plan.topup
    assert t is not None and t.runs_low_at is not None
    assert t.min_balance_p == pytest.approx(150 - 200 - 50 * 10 / 24)
    assert t.propose_p == 1000  # 70.8p short + £5 buffer → rounded up to £10
    assert any("top up" in w for w in plan.warnings)


def test_the_plan_is_included_in_the_forecast() -> None:
    inp = inputs([10] * 8, [car(soc=0, target=20, cap=50)], prepay=Prepay(2000))
    plan = make_plan(inp)
    assert plan.topup is not None
    assert plan.topup.min_balance_p == pytest.approx(2000 - 100)  # 10 kWh at 10p
    assert plan.topup.runs_low_at is None and plan.topup.propose_p == 0


def test_already_below_threshold() -> None:
    plan = make_plan(inputs([10] * 2, prepay=Prepay(-100, warn_below_p=0)))
    assert plan.topup is not None and plan.topup.runs_low_at == T0
