"""On/off loads on smart relays (immersion heaters, simple loads): Tasmota and Shelly Gen2+.

Action mapping for both: on/heat/hot_water_boost/charge → on; off/stop/hold/hot_water_off → off;
follow_kraken → off, or nothing with ``release = "leave"``. Discharge and request_boost are rejected.

Resending: the relay state is compared with what the device reports; an identical command is repeated only
while the device reports the other state (at most every ``refresh_seconds``), because Tasmota saves the
power state to flash. With a dead-man timer configured (Tasmota ``PulseTime``, Shelly ``toggle_after``) the
"on" command is instead repeated every half timer, so the relay turns itself off if this daemon stops.
Commands are never retained (a retained Tasmota power message overrides its power-on state).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from kraken2mqtt.devices.base import (
    OFF_KINDS,
    ON_KINDS,
    Adapter,
    DeviceKind,
    Ignored,
    Message,
    ReportedState,
    Resend,
    Write,
    as_number,
    parse_bool,
    parse_json_object,
)
from kraken2mqtt.devices.config import ShellyConfig, TasmotaConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction

_LOADS = frozenset({DeviceKind.RELAY, DeviceKind.HOT_WATER, DeviceKind.HEAT_PUMP, DeviceKind.GENERIC})
_ON = frozenset({"on", "1", "true"})
_OFF = frozenset({"off", "0", "false"})


def _wanted(action: DeviceAction, release: str, adapter: str) -> bool | None:
    """True: on, False: off, None: leave as it is."""
    if action.kind in ON_KINDS:
        return True
    if action.kind in OFF_KINDS:
        return False
    if action.kind is ActionKind.FOLLOW_KRAKEN:
        return False if release == "off" else None
    raise Adapter.unsupported(adapter, action)


def _matches(reported: ReportedState, on: bool) -> bool | None:
    return None if reported.relay_on is None else reported.relay_on == on


class TasmotaAdapter(Adapter[TasmotaConfig]):
    """Tasmota (tasmota/docs ``MQTT.md``, ``Commands.md``; facts doc §5), default FullTopic
    ``%prefix%/%topic%/``: command ``cmnd/<topic>/POWER[<x>]`` ``ON|OFF`` (empty payload = query); echo
    ``stat/<topic>/RESULT`` ``{"POWER":"ON"}`` and ``stat/<topic>/POWER``; telemetry ``tele/<topic>/STATE``
    and ``SENSOR`` (JSON); LWT ``tele/<topic>/LWT`` ``Online|Offline``. Dead-man ``PulseTime<x>`` =
    seconds + 100 (set once: it is a setting, saved to flash)."""

    name = "tasmota"
    kinds = _LOADS

    @property
    def power_key(self) -> str:
        return "POWER" if self.config.relay is None else f"POWER{self.config.relay}"

    def _keys(self) -> tuple[str, ...]:
        # ⚠ a one-relay device may answer POWER1 as POWER (and the other way round): accept both for relay 1.
        if self.config.relay in (None, 1):
            return ("POWER", "POWER1")
        return (self.power_key,)

    def subscriptions(self) -> list[str]:
        t = self.config.topic
        return [
            f"stat/{t}/RESULT",
            *(f"stat/{t}/{k}" for k in self._keys()),
            f"tele/{t}/STATE",
            f"tele/{t}/SENSOR",
            f"tele/{t}/LWT",
        ]

    def startup_messages(self) -> list[Message]:
        return [self.msg(f"cmnd/{self.config.topic}/{self.power_key}", "")]

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        kind = topic.rsplit("/", 1)[1]
        if kind == "LWT":
            return {"online": parse_bool(text, frozenset({"online"}), frozenset({"offline"}))}
        if kind in self._keys():
            return {"relay_on": parse_bool(text, _ON, _OFF)}
        data = parse_json_object(text)
        if kind in ("RESULT", "STATE"):
            for key in self._keys():
                if key in data:
                    value = data[key]
                    if not isinstance(value, str):
                        raise Ignored(f"{key}: expected ON/OFF")
                    return {"relay_on": parse_bool(value, _ON, _OFF)}
            return {}
        # SENSOR: ⚠ ENERGY.Power (W) is the usual energy-monitoring field, not in the facts doc.
        energy = data.get("ENERGY")
        if isinstance(energy, dict) and "Power" in energy:
            return {"power_kw": as_number(energy["Power"], "ENERGY.Power") / 1000.0}
        return {}

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        on = _wanted(action, self.config.release, self.name)
        if on is None:
            return []
        t = self.config.topic
        power = self.msg(f"cmnd/{t}/{self.power_key}", "ON" if on else "OFF")
        pulse = self.config.pulse_time_seconds
        if not on:
            return [Write(power, _matches(reported, False), Resend.ON_CHANGE)]
        if pulse is None:
            return [Write(power, _matches(reported, True), Resend.ON_CHANGE)]
        setup = self.msg(f"cmnd/{t}/PulseTime{self.config.relay or 1}", str(pulse + 100))
        return [
            Write(setup, None, Resend.ON_CHANGE),  # once per daemon run (no read-back)
            # Every ON restarts the timer. ⚠ Whether an unchanged ON is written to flash again is not in the
            # facts doc (Tasmota saves the power state with SetOption0); the dead-man needs the repeat.
            Write(power, None, keepalive=timedelta(seconds=pulse / 2)),
        ]


class ShellyAdapter(Adapter[ShellyConfig]):
    """Shelly Gen2/Gen3 (shelly-api-docs gen2: Mqtt, RPCProtocol, RPCChannels, Notifications; facts doc §5):
    JSON-RPC on ``<prefix>/rpc`` ``{"id":1,"src":"<src>","method":"Switch.Set","params":{"id":0,"on":true}}``
    (``toggle_after`` s = auto-revert, sent with "on" only); status ``<prefix>/status/switch:<id>``
    (``output``, ``apower`` W; needs ``status_ntf``), notifications ``<prefix>/events/rpc`` (NotifyStatus).
    ⚠ The reply topic ``<src>/rpc`` is not confirmed: subscribed, kept in raw only. Gen1 is not supported."""

    name = "shelly"
    kinds = _LOADS

    @property
    def component(self) -> str:
        return f"switch:{self.config.switch_id}"

    def subscriptions(self) -> list[str]:
        p = self.config.topic
        return [f"{p}/status/{self.component}", f"{p}/events/rpc", f"{self.config.src}/rpc"]

    def _switch_fields(self, status: Any) -> dict[str, Any]:
        if not isinstance(status, dict):
            raise Ignored(f"{self.component}: expected an object")
        fields: dict[str, Any] = {}
        if "output" in status:
            if not isinstance(status["output"], bool):
                raise Ignored("output: expected a boolean")
            fields["relay_on"] = status["output"]
        if "apower" in status:
            fields["power_kw"] = as_number(status["apower"], "apower") / 1000.0
        return fields

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        p = self.config.topic
        if topic == f"{p}/status/{self.component}":
            return self._switch_fields(parse_json_object(text))
        data = parse_json_object(text)
        if topic == f"{p}/events/rpc":
            if data.get("method") != "NotifyStatus":
                return {}
            params = data.get("params")
            if not isinstance(params, dict) or self.component not in params:
                return {}
            return self._switch_fields(params[self.component])
        return {}  # RPC reply

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        on = _wanted(action, self.config.release, self.name)
        if on is None:
            return []
        params: dict[str, Any] = {"id": self.config.switch_id, "on": on}
        timer = self.config.toggle_after_seconds
        if on and timer is not None:
            params["toggle_after"] = timer
        frame = {"id": 1, "src": self.config.src, "method": "Switch.Set", "params": params}
        message = self.msg(f"{self.config.topic}/rpc", json.dumps(frame, separators=(",", ":")))
        if on and timer is not None:
            return [Write(message, None, keepalive=timedelta(seconds=timer / 2))]
        return [Write(message, _matches(reported, on), Resend.ON_CHANGE)]
