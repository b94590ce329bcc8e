"""Heat pumps and boilers: setpoints through ebusd, or Smart Grid relays through ESPAltherma (Daikin).

ebusd is the facts doc's bridge that can *write* controller values, so it is the main heat-pump adapter.

Facts (shared/device-mqtt-apis.md §6, john30/ebusd ``src/ebusd/mqtthandler.cpp``):

* Root ``--mqtttopic`` (default ``ebusd``); values on ``ebusd/<circuit>/<name>``; write
  ``ebusd/<circuit>/<name>/set`` with the value as payload; read ``…/get``; after a read/write ebusd
  publishes the value on ``ebusd/<circuit>/<name>``. ``ebusd/global/running`` is the LWT.
* Payloads are strings by default (several fields ``;``-separated); ``--mqttjson`` switches to JSON
  (⚠ the JSON shape is not in the facts doc: the first numeric value found is used).
* ⚠ Circuit and message names depend on the controller's CSV config: there is no universal setpoint name,
  so both are configured. ⚠ Controller EEPROM wear is not documented: setpoints are rounded to ``step_c``,
  clamped to ``min_c..max_c`` and written only on change (repeated only while ebusd reports another value).
* ebusd only logs write errors (``mqtthandler.cpp`` 656-661): a written setpoint not read back within
  ``readback_timeout_seconds`` is reported as a device error.
* A written setpoint stays in the controller indefinitely: handing back (and stopping the daemon) writes
  the person's setpoint (the one read back before we took over; else ``default_c``), once.
* Persistent writes: the setpoint (controller EEPROM): on a real change only, within the daily budget.

Action mapping: heat/on → the planned ``setpoint_c`` (else ``boost_c``); hold → the planned setpoint (the
comfort floor; else ``default_c``; else nothing); hot_water_boost → ``boost_c`` (else the planned
setpoint); stop/off/hot_water_off → ``off_c`` (required for these); follow_kraken → ``default_c`` (else
nothing). Charge/discharge are rejected.

ESPAltherma's Smart Grid state is volatile (not saved to EEPROM, relays inactive at boot); nothing it is
sent here is persistent.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from kraken2mqtt.devices.base import (
    Adapter,
    CommandError,
    Ignored,
    LocalKind,
    Message,
    ReportedState,
    Resend,
    Write,
    parse_bool,
    parse_float,
    parse_json,
)
from kraken2mqtt.devices.config import EbusdConfig, EspAlthermaConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction


def _first_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        for v in value.values():
            found = _first_number(v)
            if found is not None:
                return found
    return None


def ebusd_number(text: str) -> float:
    """A numeric ebusd value: plain (first ``;`` field) or JSON."""
    if text.startswith("{"):
        found = _first_number(parse_json(text))
        if found is None:
            raise Ignored("no number in the JSON value")
        return found
    return parse_float(text.split(";", 1)[0].strip())


class EbusdAdapter(Adapter[EbusdConfig]):
    name = "ebusd"
    kinds = frozenset({LocalKind.HEAT_PUMP, LocalKind.HOT_WATER})

    @property
    def setpoint_topic(self) -> str:
        return f"{self.config.topic}/{self.config.circuit}/{self.config.setpoint}"

    @property
    def temperature_topic(self) -> str | None:
        if self.config.temperature is None:
            return None
        return f"{self.config.topic}/{self.config.temperature_circuit}/{self.config.temperature}"

    def subscriptions(self) -> list[str]:
        subs = [self.setpoint_topic, f"{self.config.topic}/global/running"]
        if self.temperature_topic is not None:
            subs.append(self.temperature_topic)
        return subs

    def startup_messages(self) -> list[Message]:
        msgs = [self.msg(f"{self.setpoint_topic}/get", "")]
        if self.temperature_topic is not None:
            msgs.append(self.msg(f"{self.temperature_topic}/get", ""))
        return msgs

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        if topic == f"{self.config.topic}/global/running":
            return {"online": parse_bool(text, frozenset({"true", "1"}), frozenset({"false", "0"}))}
        value = ebusd_number(text)
        if topic == self.setpoint_topic:
            return {"setpoint_c": value}
        return {"temperature_c": value}

    def _target(self, action: DeviceAction) -> float | None:
        cfg = self.config
        kind = action.kind
        if kind in (ActionKind.HEAT, ActionKind.ON):
            target = action.setpoint_c if action.setpoint_c is not None else cfg.boost_c
            if target is None:
                raise CommandError(f"ebusd device {cfg.id!r}: {kind.value} without a setpoint; set boost_c")
            return target
        if kind is ActionKind.HOLD:
            return action.setpoint_c if action.setpoint_c is not None else cfg.default_c
        if kind is ActionKind.HOT_WATER_BOOST:
            target = cfg.boost_c if cfg.boost_c is not None else action.setpoint_c
            if target is None:
                raise CommandError(f"ebusd device {cfg.id!r}: hot_water_boost needs boost_c")
            return target
        if kind in (ActionKind.STOP, ActionKind.OFF, ActionKind.HOT_WATER_OFF):
            if cfg.off_c is None:
                raise CommandError(f"ebusd device {cfg.id!r}: {kind.value} needs off_c (a setback setpoint)")
            return cfg.off_c
        if kind is ActionKind.FOLLOW_KRAKEN:
            return cfg.default_c
        raise self.unsupported(self.name, action)

    def _step(self, target: float) -> float:
        cfg = self.config
        return round(min(cfg.max_c, max(cfg.min_c, round(target / cfg.step_c) * cfg.step_c)), 3)

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        target = self._target(action)
        if target is None:
            return []
        cfg = self.config
        value = self._step(target)
        matches = None if reported.setpoint_c is None else abs(reported.setpoint_c - value) < cfg.step_c / 2
        message = self.msg(f"{self.setpoint_topic}/set", f"{value:g}", persistent=True)
        return [Write(message, matches, Resend.ON_CHANGE)]

    def quantise(self, action: DeviceAction) -> DeviceAction:
        """The setpoint the controller would get (steps, limits); the power is not the controller's."""
        if action.kind is ActionKind.FOLLOW_KRAKEN:
            return action
        target = self._target(action)
        if target is None:
            return DeviceAction(action.kind, 0.0, None, action.reason)
        # The controller only sees a setpoint: heating and coasting to the same setpoint are the same.
        return DeviceAction(ActionKind.HOLD, 0.0, self._step(target), action.reason)

    def control_value(self, reported: ReportedState) -> str | None:
        return None if reported.setpoint_c is None else f"{self._step(reported.setpoint_c):g}"

    def wanted_value(self, action: DeviceAction) -> str | None:
        target = self._target(action)
        return None if target is None else f"{self._step(target):g}"

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        target = (
            self.before
            if self.before is not None
            else (None if self.config.default_c is None else f"{self._step(self.config.default_c):g}")
        )
        if target is None or self.control_value(reported) == target:
            return []
        return [self.msg(f"{self.setpoint_topic}/set", target, persistent=True)]

    _written: tuple[float, datetime] | None = None

    def record_sent(self, messages: list[Message], now: datetime) -> None:
        for m in messages:
            if m.topic == f"{self.setpoint_topic}/set":
                self._written = (float(m.value_key), now)
        super().record_sent(messages, now)

    def check(self, now: datetime) -> str | None:
        """A setpoint written and not read back within ``readback_timeout_seconds``."""
        if self._written is None:
            return None
        value, at = self._written
        rep = self.reported
        fresh = rep.updated_at is not None and rep.updated_at >= at
        if fresh and rep.setpoint_c is not None and abs(rep.setpoint_c - value) < self.config.step_c / 2:
            self._written = None
            return None
        timeout = self.config.readback_timeout_seconds
        if (now - at).total_seconds() < timeout:
            return None
        self._written = None
        return f"setpoint {value:g} °C written, not read back within {timeout:g} s"


class EspAlthermaAdapter(Adapter[EspAlthermaConfig]):
    """Daikin Altherma through ESPAltherma's Smart Grid relays (raomin/ESPAltherma ``include/mqtt.h``,
    ``README.md``; facts doc §6). ESPAltherma cannot change heat-pump settings; it only drives relays.

    * ``espaltherma/sg/set`` ``0`` free running, ``1`` forced off, ``2`` recommended on, ``3`` forced on;
      state ``espaltherma/sg/state`` (needs the SG relays wired). LWT ``espaltherma/LWT`` ``Online|Offline``.
    * ``espaltherma/POWER`` (external on/off thermostat) is never used: each change is written to EEPROM.
    * ⚠ Whether ``sg/set`` is persisted is not documented: written only on change, repeated only while
      ``sg/state`` reports another value.

    Action mapping: heat/on/hot_water_boost → ``run_mode`` (2); stop/off/hot_water_off → ``off_mode`` (0);
    hold/follow_kraken → ``0`` (the heat pump's own control). Charge/discharge are rejected.
    """

    name = "espaltherma"
    kinds = frozenset({LocalKind.HEAT_PUMP, LocalKind.HOT_WATER})

    def subscriptions(self) -> list[str]:
        t = self.config.topic
        return [f"{t}/sg/state", f"{t}/LWT"]

    # ESPAltherma publishes sg/state "0" on every MQTT (re)connect without touching its relays
    # (include/mqtt.h 108-113): after its LWT says Online, sg/state is not trusted until we write sg/set.
    _trusted: bool = True

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        if topic.endswith("/LWT"):
            online = parse_bool(text, frozenset({"online"}), frozenset({"offline"}))
            if online:
                self._trusted = False
            return {"online": online}
        if text not in ("0", "1", "2", "3"):
            raise Ignored(f"unknown smart grid state {text[:20]!r}")
        if not self._trusted:
            return {}  # kept in raw, not believed
        return {"relay_on": text in ("2", "3")}

    def _mode(self, action: DeviceAction) -> int:
        kind = action.kind
        if kind in (ActionKind.HEAT, ActionKind.ON, ActionKind.HOT_WATER_BOOST):
            return self.config.run_mode
        if kind in (ActionKind.STOP, ActionKind.OFF, ActionKind.HOT_WATER_OFF):
            return self.config.off_mode
        if kind in (ActionKind.HOLD, ActionKind.FOLLOW_KRAKEN):
            return 0
        raise self.unsupported(self.name, action)

    def control_value(self, reported: ReportedState) -> str | None:
        if not self._trusted:
            return None
        current = reported.raw.get(f"{self.config.topic}/sg/state")
        return None if current is None else current.strip()

    def wanted_value(self, action: DeviceAction) -> str | None:
        return str(self._mode(action))

    def quantise(self, action: DeviceAction) -> DeviceAction:
        if action.kind is ActionKind.FOLLOW_KRAKEN:
            return action
        mode = self._mode(action)
        kind = ActionKind.HEAT if mode in (2, 3) else ActionKind.OFF if mode == 1 else ActionKind.HOLD
        return DeviceAction(kind, 0.0, None, action.reason)

    def holds(self, reported: ReportedState) -> bool:
        # Unknown after a (re)connect, or forced by someone: hand it back to free running once.
        value = self.control_value(reported)
        return value is None or value != "0"

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        return [self.msg(f"{self.config.topic}/sg/set", "0")]

    def record_sent(self, messages: list[Message], now: datetime) -> None:
        if any(m.topic == f"{self.config.topic}/sg/set" for m in messages):
            self._trusted = True
        super().record_sent(messages, now)

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        mode = self._mode(action)
        current = self.control_value(reported)
        matches = None if current is None else current == str(mode)
        return [Write(self.msg(f"{self.config.topic}/sg/set", str(mode)), matches, Resend.ON_CHANGE)]
