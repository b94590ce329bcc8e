"""One owner per control: a change a person makes from Home Assistant wins over the local planner for a while.

When Kraken answers ``done`` to a heat-pump setpoint or heating on/off set from Home Assistant, every local
device of kind ``heat_pump`` (the same pump, driven locally too: ebusd, ESPAltherma) is held for
``mqtt.ha_person_hold_minutes``: the planner's action for it is replaced by ``follow_kraken`` (the device's
own logic, which now has the person's setting), with a reason that says why and until when. When the hold
ends the plan resumes, and for a while its reason says so. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kraken2mqtt.controls import Control
from kraken2mqtt.mqtt.commands import CommandResult
from kraken2mqtt.planner.model import ActionKind, DeviceAction

#: the controls of a Kraken heat pump that the local planner also drives
HELD_CONTROLS = frozenset({Control.SETPOINT, Control.ZONE_MODE})
RESUMED_NOTE = timedelta(minutes=30)  # how long the plan's reason says it resumed


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime
    what: str  # "setpoint 20.5 °C set from Home Assistant at 14:02"


class Holds:
    def __init__(self, minutes: float, timezone: str = "Europe/London") -> None:
        self.length = timedelta(minutes=minutes)
        self._tz = ZoneInfo(timezone)
        self._holds: dict[str, Hold] = {}

    def _hhmm(self, t: datetime) -> str:
        return t.astimezone(self._tz).strftime("%H:%M")

    def _reason(self, hold: Hold) -> str:
        return f"held for you until {self._hhmm(hold.until)}: {hold.what}; then the plan resumes"

    def note(self, result: CommandResult, now: datetime, heat_pumps: Iterable[str]) -> bool:
        """A command result; True when it started (or extended) a hold."""
        if self.length <= timedelta(0) or result.status != "done" or result.control is None:
            return False
        try:
            control = Control(result.control)
        except ValueError:
            return False
        if control not in HELD_CONTROLS:
            return False
        if control is Control.SETPOINT:
            what = f"setpoint {result.value} °C"
        else:
            what = f"heating {'on' if result.value == 'ON' else 'off'}"
        hold = Hold(now + self.length, f"{what} set from Home Assistant at {self._hhmm(now)}")
        held = False
        for device in heat_pumps:
            self._holds[device] = hold
            held = True
        return held

    def apply(
        self, actions: Mapping[str, DeviceAction], now: datetime, modes: Mapping[str, str] | None = None
    ) -> dict[str, DeviceAction]:
        """The planner's actions with the held devices left to the person's setting. A device whose planner
        mode a person set (``force_on`` / ``off``) follows that mode: it is the later, explicit choice."""
        out = dict(actions)
        for device, hold in list(self._holds.items()):
            if device not in out or (modes or {}).get(device, "auto") != "auto":
                continue
            if now < hold.until:
                out[device] = DeviceAction(ActionKind.FOLLOW_KRAKEN, reason=self._reason(hold))
            elif now < hold.until + RESUMED_NOTE:
                action = out[device]
                note = f"the plan resumed at {self._hhmm(hold.until)} after your change ({hold.what})"
                out[device] = replace(action, reason=f"{action.reason}; {note}" if action.reason else note)
            else:
                del self._holds[device]
        return out

    def shown(self, now: datetime, modes: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
        """Per held (or just released) device, what Home Assistant shows as attributes of its action."""
        out: dict[str, dict[str, str]] = {}
        for device, hold in self._holds.items():
            if (modes or {}).get(device, "auto") != "auto":
                continue
            if now < hold.until:
                out[device] = {
                    "held_until": hold.until.isoformat(),
                    "hold": hold.what,
                    "reason": self._reason(hold),
                }
            elif now < hold.until + RESUMED_NOTE:
                out[device] = {
                    "resumed": f"the plan resumed at {self._hhmm(hold.until)} after your change ({hold.what})"
                }
        return out
