"""On/off loads on smart relays (immersion heaters, simple loads): Tasmota and Shelly Gen2+.

Action mapping for both: on/heat/hot_water_boost/charge → on; off/stop/hold/hot_water_off → off.
Handing back (follow_kraken, and on stop): one "off" if we had the relay on (``release = "off"``), else
nothing. A relay the plan does not control gets no command at all. A person's switch (read back) is
respected for ``manual_hold_minutes``. Discharge and request_boost are rejected.

Persistent writes: Tasmota ``PulseTime`` (a setting: queried at start-up and written only when it differs).
Tasmota also saves the power state when it changes (``SetOption0``): the driver's dwell keeps that rare;
an unchanged ``ON`` (the dead-man keepalive) does not change the settings checksum, so it is not saved.

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
    Ignored,
    LocalKind,
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

_LOADS = frozenset({LocalKind.RELAY, LocalKind.HOT_WATER, LocalKind.HEAT_PUMP, LocalKind.GENERIC})
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


class _RelayMixin:
    """Read-back, quantisation and person-watching shared by both relays (on/off only)."""

    def control_value(self, reported: ReportedState) -> str | None:
        return None if reported.relay_on is None else ("on" if reported.relay_on else "off")

    def wanted_value(self, action: DeviceAction) -> str | None:
        if action.kind in ON_KINDS:
            return "on"
        if action.kind in OFF_KINDS:
            return "off"
        return None

    def quantise(self, action: DeviceAction) -> DeviceAction:
        if action.kind in ON_KINDS:
            return DeviceAction(ActionKind.ON, 0.0, None, action.reason)
        if action.kind in OFF_KINDS:
            return DeviceAction(ActionKind.OFF, 0.0, None, action.reason)
        return action


class TasmotaAdapter(_RelayMixin, Adapter[TasmotaConfig]):
    """Tasmota (tasmota/docs ``MQTT.md``, ``Commands.md``; facts doc §5), default FullTopic
    ``%prefix%/%topic%/``: command ``cmnd/<topic>/POWER[<x>]`` ``ON|OFF`` (empty payload = query); echo
    ``stat/<topic>/RESULT`` ``{"POWER":"ON"}`` and ``stat/<topic>/POWER``; telemetry ``tele/<topic>/STATE``
    and ``SENSOR`` (JSON); LWT ``tele/<topic>/LWT`` ``Online|Offline``. Dead-man ``PulseTime<x>`` =
    seconds + 100 (set once: it is a setting, saved to flash)."""

    name = "tasmota"
    kinds = _LOADS
    _pulse_seen: int | None = None  # PulseTime<x> "Set" as Tasmota last reported it

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

    @property
    def pulse_key(self) -> str:
        return f"PulseTime{self.config.relay or 1}"

    def startup_messages(self) -> list[Message]:
        msgs = [self.msg(f"cmnd/{self.config.topic}/{self.power_key}", "")]
        if self.config.pulse_time_seconds is not None:
            msgs.append(self.msg(f"cmnd/{self.config.topic}/{self.pulse_key}", ""))  # query
        return msgs

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        kind = topic.rsplit("/", 1)[1]
        if kind == "LWT":
            return {"online": parse_bool(text, frozenset({"online"}), frozenset({"offline"}))}
        if kind in self._keys():
            return {"relay_on": parse_bool(text, _ON, _OFF)}
        data = parse_json_object(text)
        pulse = data.get(self.pulse_key)
        if kind == "RESULT" and isinstance(pulse, dict) and isinstance(pulse.get("Set"), int):
            self._pulse_seen = pulse["Set"]
            return {}
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

    def _pulse_set(self, reported: ReportedState, value: int) -> bool | None:
        """Whether the PulseTime Tasmota last reported is ``value`` (None: not reported)."""
        return None if self._pulse_seen is None else self._pulse_seen == value

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        if self.config.release == "leave" or reported.relay_on is False:
            return []
        return [self.msg(f"cmnd/{self.config.topic}/{self.power_key}", "OFF")]

    def deadman_seconds(self) -> float | None:
        return None if self.config.pulse_time_seconds is None else float(self.config.pulse_time_seconds)

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
        setup = self.msg(f"cmnd/{t}/{self.pulse_key}", str(pulse + 100), persistent=True)
        return [
            Write(setup, self._pulse_set(reported, pulse + 100), Resend.ON_CHANGE),
            # Every ON restarts the timer. ⚠ Whether an unchanged ON is written to flash again is not in the
            # facts doc (Tasmota saves the power state with SetOption0); the dead-man needs the repeat.
            Write(power, None, keepalive=timedelta(seconds=pulse / 2)),
        ]


class ShellyAdapter(_RelayMixin, Adapter[ShellyConfig]):
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
        if "error" in data:  # an RPC error frame: {"id":1,"src":…,"error":{"code":…,"message":…}}
            err = data["error"]
            if isinstance(err, dict):
                self.report_error(f"RPC error {err.get('code')}: {str(err.get('message'))[:120]}")
            else:
                self.report_error(f"RPC error: {str(err)[:120]}")
        return {}  # RPC reply

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        if self.config.release == "leave" or reported.relay_on is False:
            return []
        frame = {
            "id": 1,
            "src": self.config.src,
            "method": "Switch.Set",
            "params": {"id": self.config.switch_id, "on": False},
        }
        return [self.msg(f"{self.config.topic}/rpc", json.dumps(frame, separators=(",", ":")))]

    def deadman_seconds(self) -> float | None:
        t = self.config.toggle_after_seconds
        return None if t is None else float(t)

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
