"""OpenEVSE WiFi firmware (ESP32): control through an MQTT *claim*, state from one topic per value.

Facts (shared/device-mqtt-apis.md §1, OpenEVSE/openevse_esp32_firmware ``docs/mqtt.md``, ``src/mqtt.cpp``):

* Control with claims on ``<base>/claim/set`` (priority 500): ``{"state":"active","charge_current":16}``,
  ``{"state":"disabled"}``; payload ``release`` drops the claim. Never ``override/set`` (that is the user's
  manual override, priority 1000) and never ``config/set`` (written to flash).
* The firmware republishes the claim as retained JSON on ``<base>/claim`` (``{"state":"null"}`` when none):
  that is what we compare with. A claim lives in RAM with no expiry (``evse_man.cpp``): it is sent on a
  change only, again only while the echo shows something else (the charger rebooted), and released
  explicitly (``release``) when the plan hands the charger back and when the daemon stops. ``auto_release``
  (default on) lets the firmware drop it at the end of a charging session: the only dead-man it has.
* Persistent writes: none (claims are RAM-only; ``config/set`` is never used).
* State: ``<base>/amp`` (mA), ``voltage``, ``power`` (W), ``pilot``, ``state``, ``status``, ``vehicle`` (0/1),
  ``battery_level`` (vehicle SoC, if fed in). Announce ``openevse/announce/<id>`` ``"state":"connected"``.

Action mapping: charge (power → amps from voltage/phases, clamped) → active claim; stop/hold/off → disabled
claim; follow_kraken/request_boost → ``release`` (Kraken or the charger's own logic decides).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kraken2mqtt.devices.base import (
    Adapter,
    Ignored,
    LocalKind,
    Message,
    ReportedState,
    Resend,
    Write,
    parse_float,
    parse_json_object,
)
from kraken2mqtt.devices.config import OpenEVSEConfig
from kraken2mqtt.planner.model import ActionKind, DeviceAction

_STATE_KEYS = ("amp", "voltage", "power", "pilot", "state", "status", "vehicle", "battery_level", "claim")


class OpenEVSEAdapter(Adapter[OpenEVSEConfig]):
    name = "openevse"
    kinds = frozenset({LocalKind.EV})

    @property
    def base(self) -> str:
        return self.config.topic

    def subscriptions(self) -> list[str]:
        subs = [f"{self.base}/{k}" for k in _STATE_KEYS]
        if self.config.announce_id is not None:
            subs.append(f"openevse/announce/{self.config.announce_id}")
        return subs

    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        if topic.startswith("openevse/announce/"):
            state = parse_json_object(text).get("state")
            if state not in ("connected", "disconnected"):
                raise Ignored(f"unknown announce state {str(state)[:20]!r}")
            return {"online": state == "connected"}
        key = topic[len(self.base) + 1 :]
        if key == "claim":
            parse_json_object(text)  # kept in raw for matching; must be JSON
            return {}
        if key == "status":
            if text not in ("active", "disabled"):
                raise Ignored(f"unknown status {text[:20]!r}")
            return {}
        value = parse_float(text)
        if (
            key == "amp"
        ):  # mA; the numeric `state` codes are not in the facts doc, so charging = current flows
            return {"charging": value > 100.0}
        if key == "power":
            return {"power_kw": value / 1000.0}
        if key == "vehicle":
            return {"plugged_in": value >= 1}
        if key == "battery_level":
            return {"soc_pct": value}
        return {}  # voltage, pilot, state: kept in raw only

    def _claim(self, reported: ReportedState) -> dict[str, Any] | None:
        text = reported.raw.get(f"{self.base}/claim")
        if text is None:
            return None
        try:
            return parse_json_object(text)
        except Ignored:
            return None

    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        cfg = self.config
        claim = self._claim(reported)
        topic = f"{self.base}/claim/set"
        kind = action.kind
        if kind is ActionKind.CHARGE or kind is ActionKind.ON:
            amps = cfg.amps(action.power_kw)
            body: dict[str, Any] = {"state": "active", "charge_current": amps}
            if cfg.auto_release is not None:
                body["auto_release"] = cfg.auto_release
            matches = None if claim is None else all(claim.get(k) == v for k, v in body.items())
            return [
                Write(self.msg(topic, json.dumps(body, separators=(",", ":"))), matches, Resend.ON_CHANGE)
            ]
        if kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            matches = None if claim is None else claim.get("state") == "disabled"
            return [Write(self.msg(topic, '{"state":"disabled"}'), matches, Resend.ON_CHANGE)]
        if kind in (ActionKind.FOLLOW_KRAKEN, ActionKind.REQUEST_BOOST):
            # The echo is {"state":"null"} once no claim is held; an identical release is not repeated.
            matches = None if claim is None else claim.get("state") in ("null", None)
            return [Write(self.msg(topic, "release"), matches, Resend.ON_CHANGE)]
        raise self.unsupported(self.name, action)

    def quantise(self, action: DeviceAction) -> DeviceAction:
        cfg = self.config
        if action.kind in (ActionKind.CHARGE, ActionKind.ON):
            kw = cfg.amps(action.power_kw) * cfg.voltage * cfg.phases / 1000.0
            return DeviceAction(ActionKind.CHARGE, kw, None, action.reason)
        if action.kind in (ActionKind.STOP, ActionKind.HOLD, ActionKind.OFF):
            return DeviceAction(ActionKind.STOP, 0.0, None, action.reason)
        return action

    def holds(self, reported: ReportedState) -> bool:
        claim = self._claim(reported)
        return claim is not None and claim.get("state") in ("active", "disabled")

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        return [self.msg(f"{self.base}/claim/set", "release")]
