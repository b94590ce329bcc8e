"""GivEnergy inverter/battery through GivTCP.

Facts (shared/device-mqtt-apis.md §4, britkat1980/giv_tcp ``GivTCP/mqtt.py``, ``write.py``, ``read.py``):

* Commands: ``<root>/control/<SN>/<command>`` (lower-case ``control``), plain-string payloads. They are queued
  and run later by GivTCP's worker (⚠ the delay is not documented).
* ``forceCharge`` / ``forceExport`` take minutes (GivTCP runs them for that long, then reverts on its own) or
  ``Cancel``. ``tempPauseDischarge`` takes minutes or ``Cancel``. ``setChargeRate`` / ``setDischargeRate``
  take **watts** (GivTCP converts and caps them).
* Every command writes inverter registers, and GivTCP counts register writes: write on change only.
* State: ``<root>/<SN>/Power/Power/SOC``, ``…/Battery_Power`` (W, ≥ 0 discharge, ≤ 0 charge). The
  control entities ``<root>/<SN>/Control/Force_Charge``, ``Force_Export``, ``Temp_Pause_Discharge`` read
  ``Running`` or ``Normal`` (from GivTCP's source: the timed-run flags and their revert).

Action mapping (a battery "hold" keeps its SoC: no forced charge/export and no discharging):

=============== ==========================================================================================
charge          cancel a running export/pause; ``setChargeRate`` W (if ``control_rate``); ``forceCharge`` N
discharge       cancel a running charge/pause; ``setDischargeRate`` W (if ``control_rate``); ``forceExport`` N
                (with ``discharge = "eco"``: only the cancels, so the inverter's eco mode supplies the house)
hold, stop      cancel a running charge/export; ``tempPauseDischarge`` N
follow_kraken   cancel whatever of the three is running (the inverter's own schedule/eco mode decides)
=============== ==========================================================================================

A timed run is GivTCP's dead-man: if this daemon stops, GivTCP reverts within ``timer_minutes``. A run is
never started again while it may still be going: not while GivTCP reports it ``Running``, and not within
``timer_minutes`` + 2 min of our last start unless we cancelled it since. That guard matters: GivTCP's
``tempPauseDischarge`` has no "already running" guard and its revert restores the *cached* discharge rate,
which register reads refresh to the live value (0 W while paused): a second pause during a pause leaves
discharge at 0 W for good (``write.py`` 1215-1240, ``read.py`` 659-660).
A ``Cancel`` is sent only when GivTCP reports the run ``Running`` or (state unknown) we started it.

Rates: ``forceCharge``/``forceExport`` set the charge/discharge limit to its maximum and their revert
restores the rate cached *at force start* (``write.py`` 1145, 1170, 1015). A ``setChargeRate`` sent before
``forceCharge`` is therefore overwritten at once, and the revert then writes it into the inverter for good
(the person's rate is lost). So a rate is sent only *after* its run's start (same pass, later in GivTCP's
queue) or while the run is going, never on its own: GivTCP's revert then restores the person's rate.

Persistent writes: ``setChargeRate``/``setDischargeRate`` (inverter registers, kept across restarts; at most
``max_persistent_writes_per_day``, on a change of ``rate_step_w`` only). The timed runs revert themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.devices.base import (
    Adapter,
    LocalKind,
    Message,
    ReportedState,
    Resend,
    Write,
    parse_float,
)
from kraken2mqtt.devices.config import GivTcpConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction

# command -> Control/<entity> that reports whether its timed run is going
_RUNS = {
    "forceCharge": "Force_Charge",
    "forceExport": "Force_Export",
    "tempPauseDischarge": "Temp_Pause_Discharge",
}
_CANCEL = "Cancel"
_RUN_GRACE = timedelta(minutes=2)  # GivTCP's queue delay before a run starts and after it reverts


class GivTcpAdapter(Adapter[GivTcpConfig]):
    name = "givtcp"
    kinds = frozenset({LocalKind.BATTERY})

    @property
    def state_base(self) -> str:
        return f"{self.config.topic}/{self.config.serial}"

    def command_topic(self, command: str) -> str:
        return f"{self.config.topic}/control/{self.config.serial}/{command}"

    def subscriptions(self) -> list[str]:
        b = self.state_base
        return [f"{b}/Power/Power/SOC", f"{b}/Power/Power/Battery_Power"] + [
            f"{b}/Control/{entity}" for entity in _RUNS.values()
        ]

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        key = topic[len(self.state_base) + 1 :]
        if key == "Power/Power/SOC":
            soc = parse_float(text)
            if not 0 <= soc <= 100:
                return {}  # implausible reading: keep raw only
            return {"soc_pct": soc}
        if key == "Power/Power/Battery_Power":
            # GivTCP: >= 0 discharging. Ours: > 0 drawing power (charging).
            return {"power_kw": -parse_float(text) / 1000.0, "charging": parse_float(text) < 0}
        return {}  # Control/...: Running | Normal, compared from raw

    def _running(self, reported: ReportedState, command: str) -> bool | None:
        text = reported.raw.get(f"{self.state_base}/Control/{_RUNS[command]}")
        if text is None:
            return None
        return text.strip().lower() == "running"

    def _may_be_going(self, command: str, now: datetime) -> bool:
        """We started ``command`` recently and have not cancelled it: it may still be going."""
        last = self.last_sent(self.command_topic(command))
        window = timedelta(minutes=self.config.timer_minutes) + _RUN_GRACE
        return last is not None and last.key != _CANCEL and now - last.at < window

    def _start(self, command: str, reported: ReportedState, now: datetime) -> Write | None:
        minutes = self.config.timer_minutes
        message = self.msg(self.command_topic(command), str(minutes))
        running = self._running(reported, command)
        if running is True:
            return None
        if self._may_be_going(command, now):
            return None  # never a second run during a run (GivTCP has no guard for tempPauseDischarge)
        return Write(message, None, Resend.REFRESH, keepalive=timedelta(seconds=1))

    def _cancel(self, command: str, reported: ReportedState) -> Write | None:
        running = self._running(reported, command)
        if running is None:
            last = self.last_sent(self.command_topic(command))
            running = last is not None and last.key != _CANCEL  # we started it and have not cancelled it
        if not running:
            return None
        # matches=False: a known-running run is cancelled again (after refresh) if it keeps running.
        return Write(self.msg(self.command_topic(command), _CANCEL), False, Resend.ON_CHANGE)

    def _watts(self, power_kw: float) -> int:
        step = self.config.rate_step_w
        return int(max(step, round(power_kw * 1000.0 / step) * step))

    def _rate(self, command: str, power_kw: float) -> Write | None:
        if not self.config.control_rate or power_kw <= 0:
            return None
        # ⚠ the read-back unit of Battery_Charge_Rate is not confirmed: compared with what we sent only.
        message = self.msg(self.command_topic(command), str(self._watts(power_kw)), persistent=True)
        return Write(message, None, Resend.ON_CHANGE)

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        kind = action.kind
        if kind is ActionKind.CHARGE:
            keep, rate = "forceCharge", self._rate("setChargeRate", action.power_kw)
        elif kind is ActionKind.DISCHARGE and self.config.discharge == "export":
            keep, rate = "forceExport", self._rate("setDischargeRate", action.power_kw)
        elif kind is ActionKind.DISCHARGE:  # "eco": cancel our runs, the inverter covers the house load
            keep, rate = "", None
        elif kind in (ActionKind.HOLD, ActionKind.STOP):
            keep, rate = "tempPauseDischarge", None
        elif kind is ActionKind.FOLLOW_KRAKEN:
            keep, rate = "", None
        else:
            raise self.unsupported(self.name, action)
        writes = [w for c in _RUNS if c != keep and (w := self._cancel(c, reported)) is not None]
        start = self._start(keep, reported, now) if keep else None
        if start is not None:
            writes.append(start)
        going = start is not None or (
            keep != "" and (self._running(reported, keep) is True or self._may_be_going(keep, now))
        )
        if rate is not None and going and not (start is not None and self._at_max(kind, action.power_kw)):
            if start is not None:  # a new run set the rate to its maximum: ours is written again
                rate = Write(rate.message, None, keepalive=timedelta(seconds=1))
            writes.append(rate)  # after the start: the revert restores the person's rate
        return writes

    def _at_max(self, kind: ActionKind, power_kw: float) -> bool:
        """The planned power is the battery's maximum: a new run already sets it (no register write)."""
        plan = self.config.plan
        top = (
            None
            if plan is None
            else plan.max_charge_kw
            if kind is ActionKind.CHARGE
            else plan.max_discharge_kw
        )
        return top is not None and self._watts(power_kw) >= self._watts(top)

    def record_sent(self, messages: list[Message], now: datetime) -> None:
        """A run started sets its rate to the maximum: what we sent on the rate before no longer holds."""
        for m in messages:
            command = m.topic.rsplit("/", 1)[-1]
            if command in _RUNS and m.value_key != _CANCEL:
                rate = "setChargeRate" if command == "forceCharge" else "setDischargeRate"
                self._sent.pop(self.command_topic(rate), None)
        super().record_sent(messages, now)

    def forget_sent(self) -> None:
        """Keep what we know about timed runs we started: forgetting one would allow a second run during
        a run (after a reconnect), which GivTCP does not guard against."""
        runs = {self.command_topic(c) for c in _RUNS}
        kept = {slot: sent for slot, sent in self._sent.items() if slot in runs}
        super().forget_sent()
        self._sent.update(kept)

    def quantise(self, action: DeviceAction) -> DeviceAction:
        kind = action.kind
        if kind in (ActionKind.CHARGE, ActionKind.DISCHARGE):
            kw = self._watts(action.power_kw) / 1000.0 if action.power_kw > 0 else 0.0
            return DeviceAction(kind, kw, None, action.reason)
        if kind in (ActionKind.HOLD, ActionKind.STOP):
            return DeviceAction(ActionKind.HOLD, 0.0, None, action.reason)
        return action

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        return [w.message for c in _RUNS if (w := self._cancel(c, reported)) is not None]
