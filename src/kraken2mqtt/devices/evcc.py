"""evcc: a loadpoint (kind ``ev``) or the site battery (kind ``battery``).

Facts (shared/device-mqtt-apis.md §3, evcc-io/evcc ``server/mqtt.go``, ``server/mqtt_setter.go``, docs
https://docs.evcc.io/en/integrations/mqtt-api):

* Root ``evcc``; everything retained; setter = state topic + ``/set``. evcc clears a processed ``/set`` with
  an empty retained message, has no result topic (confirm on the state topic), ignores empty payloads.
  ``evcc/status`` ``online|offline``.
* Loadpoint ``evcc/loadpoints/<n>/mode/set`` ``off|now|minpv|pv``. State ``…/mode``, ``connected``,
  ``charging``, ``chargePower`` (W), ``vehicleSoc``.
* Site ``evcc/site/batteryMode/set`` ``normal|hold|charge|holdcharge``, ``null`` releases it; **reverts to
  evcc's own control unless re-sent within 1 minute** (re-sent every ``keepalive_seconds``). State
  ``evcc/site/battery/soc``, ``evcc/site/battery/power`` (W, + = discharge), ``evcc/site/batteryMode``.

* A loadpoint's mode is stored in evcc's database (``loadpoint.go``) and ``SetMode`` drops evcc's own plan
  (``loadpoint_api.go``): the mode is written on a change only, and handing back restores the mode the
  person had before we took over (else ``release_mode``), once. ``site/batteryModeExternal`` is the mode
  evcc actually applies: differing from what we asked for 90 s is a device error.
* Persistent writes: the loadpoint ``mode`` (evcc's database). ``batteryMode`` is volatile (watchdog).

Action mapping: loadpoint charge → ``now``; stop/hold/off → ``off``; follow_kraken → the person's mode
(else ``release_mode``). The planned power is not sent (evcc's ``maxCurrent`` is a persistent loadpoint
setting). Battery charge → ``charge``; hold/stop → ``hold``; discharge → ``normal`` (evcc has no forced
discharge: normal lets the battery supply the house); follow_kraken → ``null`` (once).
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
    parse_bool,
    parse_float,
)
from kraken2mqtt.devices.config import EvccConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_MODES = frozenset({"off", "now", "minpv", "pv"})


class EvccAdapter(Adapter[EvccConfig]):
    name = "evcc"
    kinds = frozenset({LocalKind.EV, LocalKind.BATTERY})

    @property
    def is_loadpoint(self) -> bool:
        return self.config.loadpoint is not None

    @property
    def base(self) -> str:
        if self.config.loadpoint is not None:
            return f"{self.config.topic}/loadpoints/{self.config.loadpoint}"
        return f"{self.config.topic}/site"

    def subscriptions(self) -> list[str]:
        status = f"{self.config.topic}/status"
        keys: tuple[str, ...]
        if self.is_loadpoint:
            keys = ("mode", "connected", "charging", "chargePower", "vehicleSoc")
        else:
            keys = ("battery/soc", "battery/power", "batteryMode", "batteryModeExternal")
        return [*(f"{self.base}/{k}" for k in keys), status]

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        if topic == f"{self.config.topic}/status":
            return {"online": parse_bool(text, frozenset({"online"}), frozenset({"offline"}))}
        key = topic[len(self.base) + 1 :]
        if text == "":
            return {}  # a cleared value
        if key == "connected":
            return {"plugged_in": parse_bool(text, _TRUE, _FALSE)}
        if key == "charging":
            return {"charging": parse_bool(text, _TRUE, _FALSE)}
        if key == "chargePower":
            return {"power_kw": parse_float(text) / 1000.0}
        if key in ("vehicleSoc", "battery/soc"):
            return {"soc_pct": parse_float(text)}
        if key == "battery/power":  # evcc: + = discharge; ours: + = drawing power
            watts = parse_float(text)
            return {"power_kw": -watts / 1000.0, "charging": watts < 0}
        if key == "mode" and text not in _MODES:
            raise Ignored(f"unknown loadpoint mode {text[:20]!r}")
        return {}  # mode, batteryMode: compared from raw

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        return self._loadpoint(action, reported) if self.is_loadpoint else self._battery(action)

    def _loadpoint(self, action: DeviceAction, reported: ReportedState) -> list[Write]:
        kind = action.kind
        if kind in (ActionKind.CHARGE, ActionKind.ON):
            mode = "now"
        elif kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            mode = "off"
        elif kind in (ActionKind.FOLLOW_KRAKEN, ActionKind.REQUEST_BOOST):
            mode = self.before if self.before in _MODES else self.config.release_mode
        else:
            raise self.unsupported(self.name, action)
        current = reported.raw.get(f"{self.base}/mode")
        matches = None if current is None else current == mode
        message = self.msg(f"{self.base}/mode/set", mode, persistent=True)
        return [Write(message, matches, Resend.ON_CHANGE)]

    def _battery(self, action: DeviceAction) -> list[Write]:
        kind = action.kind
        topic = f"{self.base}/batteryMode/set"
        if kind is ActionKind.FOLLOW_KRAKEN:
            # Released once; the watchdog would hand control back within a minute anyway.
            return [Write(self.msg(topic, "null"), None, Resend.ON_CHANGE)]
        if kind is ActionKind.CHARGE:
            mode = "charge"
        elif kind in (ActionKind.HOLD, ActionKind.STOP):
            mode = "hold"
        elif kind is ActionKind.DISCHARGE:
            mode = "normal"
        else:
            raise self.unsupported(self.name, action)
        keepalive = timedelta(seconds=self.config.keepalive_seconds)
        return [Write(self.msg(topic, mode), None, keepalive=keepalive)]

    def quantise(self, action: DeviceAction) -> DeviceAction:
        kind = action.kind
        if kind in (ActionKind.CHARGE, ActionKind.ON):
            return DeviceAction(ActionKind.CHARGE, 0.0, None, action.reason)
        if kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF) and self.is_loadpoint:
            return DeviceAction(ActionKind.STOP, 0.0, None, action.reason)
        if kind in (ActionKind.STOP, ActionKind.HOLD):
            return DeviceAction(ActionKind.HOLD, 0.0, None, action.reason)
        if kind is ActionKind.DISCHARGE:
            return DeviceAction(ActionKind.DISCHARGE, 0.0, None, action.reason)
        return action

    def control_value(self, reported: ReportedState) -> str | None:
        if not self.is_loadpoint:
            return None  # batteryMode is ours by the watchdog; mismatches are errors (check)
        mode = reported.raw.get(f"{self.base}/mode")
        return mode if mode in _MODES else None

    def wanted_value(self, action: DeviceAction) -> str | None:
        if not self.is_loadpoint:
            return None
        if action.kind in (ActionKind.CHARGE, ActionKind.ON):
            return "now"
        if action.kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            return "off"
        return None

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        if not self.is_loadpoint:
            return [self.msg(f"{self.base}/batteryMode/set", "null")]
        mode = self.before if self.before in _MODES else self.config.release_mode
        if reported.raw.get(f"{self.base}/mode") == mode:
            return []  # already there: a SetMode would only drop evcc's plan
        return [self.msg(f"{self.base}/mode/set", mode, persistent=True)]

    def record_sent(self, messages: list[Message], now: datetime) -> None:
        for m in messages:
            if m.topic.endswith("/batteryMode/set"):
                last = self.last_sent(m.slot_name)
                if last is None or last.key != m.value_key:
                    self._asked = (m.value_key, now)
                    self._mismatch_reported = False
        super().record_sent(messages, now)

    _asked: tuple[str, datetime] | None = None
    _mismatch_reported: bool = False

    def check(self, now: datetime) -> str | None:
        """evcc's ``batteryModeExternal`` differing from the mode we asked for, 90 s after asking."""
        if self.is_loadpoint or self._asked is None or self._mismatch_reported:
            return None
        asked, since = self._asked
        applied = self.reported.raw.get(f"{self.base}/batteryModeExternal")
        if asked == "null" or applied is None or applied.strip().lower() == asked:
            return None
        if (now - since).total_seconds() < 90:
            return None
        self._mismatch_reported = True
        return f"evcc applies batteryMode {applied.strip()!r}, not the {asked!r} we asked for"

    def deadman_seconds(self) -> float | None:
        return None if self.is_loadpoint else 60.0
