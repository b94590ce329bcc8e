from __future__ import annotations

from typing import Any

import pytest

from kraken2mqtt.devices.base import Adapter, UnsupportedAction
from tests.devices.helpers import T0, act, at, feed, make, send

C = "GivEnergy/control/SA1234G567"
S = "GivEnergy/SA1234G567"


def _bat(**kw: Any) -> Adapter[Any]:
    return make(id="bat", kind="battery", adapter="givtcp", serial="SA1234G567", **kw)


def test_charge_discharge_hold_from_unknown_state() -> None:
    # the rate after the run's start: GivTCP's revert then restores the person's rate (write.py 1145)
    assert send(_bat(), act("charge", 2.6)) == [(f"{C}/forceCharge", "60"), (f"{C}/setChargeRate", "2600")]
    assert send(_bat(), act("discharge", 3.05)) == [
        (f"{C}/forceExport", "60"),
        (f"{C}/setDischargeRate", "3000"),
    ]
    assert send(_bat(), act("hold")) == [(f"{C}/tempPauseDischarge", "60")]
    assert send(_bat(), act("stop")) == [(f"{C}/tempPauseDischarge", "60")]
    assert send(_bat(), act("follow_kraken")) == []  # nothing of ours to cancel


def test_switching_cancels_what_we_started() -> None:
    a = _bat()
    send(a, act("charge", 2.6))
    assert send(a, act("discharge", 2.6), at(60)) == [
        (f"{C}/forceCharge", "Cancel"),
        (f"{C}/forceExport", "60"),
        (f"{C}/setDischargeRate", "2600"),
    ]
    assert send(a, act("hold"), at(120)) == [
        (f"{C}/forceExport", "Cancel"),
        (f"{C}/tempPauseDischarge", "60"),
    ]
    assert send(a, act("follow_kraken"), at(180)) == [(f"{C}/tempPauseDischarge", "Cancel")]
    assert send(a, act("follow_kraken"), at(10_000)) == []


def test_cancel_follows_reported_runs() -> None:
    a = _bat()
    feed(a, f"{S}/Control/Force_Charge", "Running")
    feed(a, f"{S}/Control/Force_Export", "Normal")
    feed(a, f"{S}/Control/Temp_Pause_Discharge", "Normal")
    assert send(a, act("follow_kraken")) == [(f"{C}/forceCharge", "Cancel")]


def test_running_timer_not_resent_and_renewed_when_it_ends() -> None:
    a = _bat(control_rate=False, timer_minutes=30)
    assert send(a, act("charge", 2.6)) == [(f"{C}/forceCharge", "30")]
    feed(a, f"{S}/Control/Force_Charge", "Running")
    assert send(a, act("charge", 2.6), at(600)) == []
    feed(a, f"{S}/Control/Force_Charge", "Normal", at(1800))  # GivTCP reverted after 30 min
    assert send(a, act("charge", 2.6), at(1801)) == []  # within the run's grace: may still be going
    assert send(a, act("charge", 2.6), at(1921)) == [(f"{C}/forceCharge", "30")]


def test_not_running_yet_is_never_started_twice() -> None:
    a = _bat(control_rate=False)
    send(a, act("charge"))
    feed(a, f"{S}/Control/Force_Charge", "Normal")  # queued in GivTCP, not started yet
    assert send(a, act("charge"), at(30)) == []
    assert send(a, act("charge"), at(300)) == []
    assert send(a, act("charge"), at(3720)) == [(f"{C}/forceCharge", "60")]


def test_no_second_pause_during_a_pause() -> None:
    # GivTCP tempPauseDischarge has no "already running" guard and restores the cached rate, which is
    # 0 W while paused (britkat1980/giv_tcp write.py 1215-1240, read.py 659-660): never pause twice.
    a = _bat(timer_minutes=30)
    assert send(a, act("hold")) == [(f"{C}/tempPauseDischarge", "30")]
    feed(a, f"{S}/Control/Temp_Pause_Discharge", "Normal", at(20))  # not picked up yet
    for t in (60, 600, 1799, 1900):
        assert send(a, act("hold"), at(t)) == []
    assert send(a, act("hold"), at(1921)) == [(f"{C}/tempPauseDischarge", "30")]


def test_rate_never_sent_without_its_run() -> None:
    a = _bat()
    feed(a, f"{S}/Control/Force_Charge", "Normal")
    send(a, act("charge", 2.6))
    feed(a, f"{S}/Control/Force_Charge", "Running", at(30))
    assert send(a, act("charge", 1.5), at(60)) == [(f"{C}/setChargeRate", "1500")]  # while it runs
    msgs = a.commands(act("charge", 1.0), None, at(61))
    assert all(m.persistent for m in msgs if "Rate" in m.topic)


def test_rate_written_only_on_change_rounded_to_step() -> None:
    a = _bat(rate_step_w=250)
    send(a, act("charge", 2.6))
    feed(a, f"{S}/Control/Force_Charge", "Running")
    assert send(a, act("charge", 2.55), at(10)) == []  # both round to 2500 W
    assert send(a, act("charge", 1.0), at(20)) == [(f"{C}/setChargeRate", "1000")]


@pytest.mark.parametrize("kind", ["heat", "on", "hot_water_boost", "request_boost"])
def test_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedAction):
        _bat().commands(act(kind), None, T0)


def test_state_read_back() -> None:
    a = _bat()
    feed(a, f"{S}/Power/Power/SOC", "57")
    feed(a, f"{S}/Power/Power/Battery_Power", "-2500")
    s = a.reported
    assert (s.soc_pct, s.power_kw, s.charging) == (57.0, 2.5, True)
    feed(a, f"{S}/Power/Power/Battery_Power", "1200")
    assert (a.reported.power_kw, a.reported.charging) == (-1.2, False)


@pytest.mark.parametrize("payload", [b"lots", b"\xff", b"inf"])
def test_bad_soc_ignored(payload: bytes) -> None:
    a = _bat()
    assert a.on_message(f"{S}/Power/Power/SOC", payload, T0) is None
    assert a.reported.soc_pct is None


def test_implausible_soc_kept_raw_only() -> None:
    a = _bat()
    feed(a, f"{S}/Power/Power/SOC", "250")
    assert a.reported.soc_pct is None


def test_without_control_state_runs_are_renewed_when_the_timer_ends() -> None:
    a = _bat(control_rate=False, timer_minutes=30)
    assert send(a, act("hold")) == [(f"{C}/tempPauseDischarge", "30")]
    assert send(a, act("hold"), at(1799)) == []
    assert send(a, act("hold"), at(1919)) == []
    assert send(a, act("hold"), at(1920)) == [(f"{C}/tempPauseDischarge", "30")]


def test_eco_discharge_only_cancels() -> None:
    a = _bat(discharge="eco")
    assert send(a, act("discharge", 3.0)) == []
    send(a, act("hold"), at(1))
    assert send(a, act("discharge", 3.0), at(2)) == [(f"{C}/tempPauseDischarge", "Cancel")]


def test_a_reconnect_does_not_forget_a_run_under_way() -> None:
    a = _bat(control_rate=False, timer_minutes=30)
    assert send(a, act("hold")) == [(f"{C}/tempPauseDischarge", "30")]
    a.forget_sent()  # the broker connection came back
    assert send(a, act("hold"), at(60)) == []


def test_a_new_run_at_full_power_writes_no_rate_and_a_lower_rate_again() -> None:
    plan = {"capacity_kwh": 9.5, "max_charge_kw": 3.6, "max_discharge_kw": 3.6}
    a = _bat(timer_minutes=30, plan=plan)
    assert send(a, act("charge", 3.6)) == [(f"{C}/forceCharge", "30")]  # GivTCP sets the maximum itself
    assert send(a, act("charge", 1.5), at(60)) == [(f"{C}/setChargeRate", "1500")]
    assert send(a, act("charge", 1.5), at(1921)) == [
        (f"{C}/forceCharge", "30"),
        (f"{C}/setChargeRate", "1500"),
    ]
