"""go-eCharger (API v2) over MQTT.

Facts (shared/device-mqtt-apis.md §2, goecharger/go-eCharger-API-v2 ``mqtt-de.md``, ``apikeys-en.md``):

* Every API key has a retained topic ``go-eCharger/<serial>/<key>`` with a JSON value; writes go to
  ``…/<key>/set`` (JSON value), the reply (``success`` or an error) to ``…/<key>/result``. Never publish the
  bare key topic. Firmware ≥ 051.5 needs MQTT writes enabled in the app.
* ``frc`` forceState: ``0`` neutral (charger's own scheduler/PV logic), ``1`` off, ``2`` on. ``amp`` = wanted
  current (A). ``ama`` (installation limit) is never touched.
* State: ``car`` (1 idle, 2 charging, 3 wait car, 4 complete, ...), ``nrg`` array (U L1-3,N; I L1-3;
  P L1-3,N,total; ...; index 11 = total W), ``frc``, ``amp``, ``acu``, ``alw``.
* ``amp`` is the person's own (persistent) current setting: never written. The current is set with
  ``tcl``, the temporary current limit ("does not change the user current limit, will be reset after 10min
  if not updated regularly", ``apikeys-en.md``): re-sent every ``tcl_keepalive_seconds`` while charging,
  which makes it the dead-man (if this daemon stops, the person's ``amp`` is back within 10 minutes).
  ⚠ its payload type is not documented: a JSON number of amps is sent.
* ``frc`` 1/2 holds until the car is unplugged (go-e API issue 117): handing back (and stopping the daemon)
  sends ``frc`` ``0`` once.
* Persistent writes: ``frc`` (a "Config" key; ⚠ whether it is flash-backed is not documented, so it is
  treated as one: on change only, within the daily budget). ``tcl`` is volatile.
* ``…/<key>/result`` answers that are not ``success`` are device errors (shown to the person).

Action mapping: charge → ``tcl`` (from power, whole amps, clamped) and ``frc`` 2; stop/hold/off → ``frc``
1; follow_kraken/request_boost → ``frc`` 0.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.devices.base import (
    Adapter,
    Ignored,
    LocalKind,
    Message,
    ReportedState,
    Resend,
    Write,
    as_number,
    parse_json,
)
from kraken2mqtt.devices.config import GoEConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction

_KEYS = ("car", "frc", "amp", "acu", "alw", "nrg")
_WRITTEN = ("frc", "tcl")
_NRG_TOTAL_W = 11


class GoEAdapter(Adapter[GoEConfig]):
    name = "goe"
    kinds = frozenset({LocalKind.EV})

    @property
    def base(self) -> str:
        return f"{self.config.topic}/{self.config.serial}"

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/{k}" for k in _KEYS] + [f"{self.base}/{k}/result" for k in _WRITTEN]

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        key = topic[len(self.base) + 1 :]
        if key.endswith("/result"):
            answer = text.strip().strip('"')
            if answer and answer.lower() != "success":
                self.report_error(f"{key.split('/')[0]}: {answer}")
            return {}
        value = parse_json(text)
        if key == "car":
            car = int(as_number(value, "car"))
            return {"plugged_in": car in (2, 3, 4), "charging": car == 2}
        if key == "nrg":
            if not isinstance(value, list) or len(value) <= _NRG_TOTAL_W:
                raise Ignored("nrg: expected the energy array")
            return {"power_kw": as_number(value[_NRG_TOTAL_W], "nrg total") / 1000.0}
        if key in ("frc", "amp", "acu"):
            as_number(value, key)
            return {}
        if key == "alw" and not isinstance(value, bool | int):
            raise Ignored("alw: expected a boolean")
        return {}

    def _reported_number(self, reported: ReportedState, key: str) -> float | None:
        text = reported.raw.get(f"{self.base}/{key}")
        if text is None:
            return None
        try:
            return as_number(parse_json(text), key)
        except Ignored:
            return None

    def _frc(self, value: int, reported: ReportedState) -> Write:
        now_frc = self._reported_number(reported, "frc")
        matches = None if now_frc is None else int(now_frc) == value
        message = self.msg(f"{self.base}/frc/set", str(value), persistent=True)
        return Write(message, matches, Resend.ON_CHANGE)

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        cfg = self.config
        kind = action.kind
        if kind is ActionKind.CHARGE or kind is ActionKind.ON:
            amps = cfg.amps(action.power_kw)
            tcl = Write(
                self.msg(f"{self.base}/tcl/set", str(amps)),
                None,
                keepalive=timedelta(seconds=cfg.tcl_keepalive_seconds),
            )
            return [tcl, self._frc(2, reported)]
        if kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            return [self._frc(1, reported)]
        if kind in (ActionKind.FOLLOW_KRAKEN, ActionKind.REQUEST_BOOST):
            return [self._frc(0, reported)]
        raise self.unsupported(self.name, action)

    def quantise(self, action: DeviceAction) -> DeviceAction:
        cfg = self.config
        if action.kind in (ActionKind.CHARGE, ActionKind.ON):
            kw = cfg.amps(action.power_kw) * cfg.voltage * cfg.phases / 1000.0
            return DeviceAction(ActionKind.CHARGE, kw, None, action.reason)
        if action.kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            return DeviceAction(ActionKind.STOP, 0.0, None, action.reason)
        return action

    def control_value(self, reported: ReportedState) -> str | None:
        frc = self._reported_number(reported, "frc")
        return None if frc is None else str(int(frc))

    def wanted_value(self, action: DeviceAction) -> str | None:
        if action.kind in (ActionKind.CHARGE, ActionKind.ON):
            return "2"
        if action.kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            return "1"
        return None

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        if self.control_value(reported) == "0":
            return []
        return [self.msg(f"{self.base}/frc/set", "0", persistent=True)]

    def deadman_seconds(self) -> float | None:
        return 600.0
