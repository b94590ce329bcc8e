"""go-eCharger (API v2) over MQTT.

Facts (shared/device-mqtt-apis.md §2, goecharger/go-eCharger-API-v2 ``mqtt-de.md``, ``apikeys-en.md``):

* Every API key has a retained topic ``go-eCharger/<serial>/<key>`` with a JSON value; writes go to
  ``…/<key>/set`` (JSON value), the reply (``success`` or an error) to ``…/<key>/result``. Never publish the
  bare key topic. Firmware ≥ 051.5 needs MQTT writes enabled in the app.
* ``frc`` forceState: ``0`` neutral (charger's own scheduler/PV logic), ``1`` off, ``2`` on. ``amp`` = wanted
  current (A). ``ama`` (installation limit) is never touched.
* State: ``car`` (1 idle, 2 charging, 3 wait car, 4 complete, ...), ``nrg`` array (U L1-3,N; I L1-3;
  P L1-3,N,total; ...; index 11 = total W), ``frc``, ``amp``, ``acu``, ``alw``.
* ⚠ Whether MQTT ``amp``/``frc`` writes go to flash is not documented (the Modbus doc has an EEPROM amps
  register rated ~100,000 writes). Conservative: both are written only on change (never refreshed), and a
  *different* ``amp`` is written at most once per ``amp_min_interval_seconds``.

Action mapping: charge → ``amp`` (from power, clamped) then ``frc`` 2; stop/hold/off → ``frc`` 1;
follow_kraken/request_boost → ``frc`` 0.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.devices.base import (
    Adapter,
    DeviceKind,
    Ignored,
    ReportedState,
    Resend,
    Write,
    as_number,
    parse_json,
)
from kraken2mqtt.devices.config import GoEConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction

_KEYS = ("car", "frc", "amp", "acu", "alw", "nrg")
_NRG_TOTAL_W = 11


class GoEAdapter(Adapter[GoEConfig]):
    name = "goe"
    kinds = frozenset({DeviceKind.EV})

    @property
    def base(self) -> str:
        return f"{self.config.topic}/{self.config.serial}"

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/{k}" for k in _KEYS] + [f"{self.base}/frc/result", f"{self.base}/amp/result"]

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        key = topic[len(self.base) + 1 :]
        if key.endswith("/result"):
            return {}  # success / error text, kept in raw
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
        return Write(self.msg(f"{self.base}/frc/set", str(value)), matches, Resend.ON_CHANGE)

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        cfg = self.config
        kind = action.kind
        if kind is ActionKind.CHARGE or kind is ActionKind.ON:
            amps = cfg.amps(action.power_kw)
            now_amp = self._reported_number(reported, "amp")
            amp = Write(
                self.msg(f"{self.base}/amp/set", str(amps)),
                None if now_amp is None else int(now_amp) == amps,
                Resend.ON_CHANGE,
                min_change_interval=timedelta(seconds=cfg.amp_min_interval_seconds),
            )
            return [amp, self._frc(2, reported)]
        if kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            return [self._frc(1, reported)]
        if kind in (ActionKind.FOLLOW_KRAKEN, ActionKind.REQUEST_BOOST):
            return [self._frc(0, reported)]
        raise self.unsupported(self.name, action)
