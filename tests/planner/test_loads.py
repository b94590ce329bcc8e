from __future__ import annotations

import pytest

from kraken2mqtt.planner import ActionKind, DispatchWindow, RelayLoad, make_plan

from .helpers import at, inputs


def test_immersion_moves_into_the_dispatch_window() -> None:
    load = RelayLoad("immersion", power_kw=3.0, energy_kwh=2.0)
    plan = make_plan(inputs([30] * 12, [load], dispatches=(DispatchWindow(at(3), at(4)),), off_peak=7.0))
    dp = plan.device("immersion")
    on = [iv for iv in dp.intervals if iv.action.kind is ActionKind.ON]
    assert sum(iv.grid_kwh for iv in on) == pytest.approx(2.0)
    assert all(at(3) <= iv.start and iv.end <= at(4) for iv in on)
    assert all(iv.action.power_kw == pytest.approx(3.0) for iv in on)
    assert dp.cost_p == pytest.approx(14.0)
    assert "Intelligent dispatch" in on[0].action.reason


def test_relay_respects_its_window_and_reports_shortfall() -> None:
    load = RelayLoad("r", power_kw=2.0, energy_kwh=5.0, earliest=at(1), deadline=at(2))
    dp = make_plan(inputs([10, 1, 10, 10, 1, 1], [load])).device("r")
    on = [iv for iv in dp.intervals if iv.action.kind is ActionKind.ON]
    assert all(at(1) <= iv.start and iv.end <= at(2) for iv in on)
    assert dp.grid_kwh == pytest.approx(2.0)
    assert dp.warnings


def test_zero_energy_relay_stays_off() -> None:
    dp = make_plan(inputs([10] * 4, [RelayLoad("r", 2.0, 0.0)])).device("r")
    assert dp.grid_kwh == 0 and all(iv.action.kind is ActionKind.OFF for iv in dp.intervals)
