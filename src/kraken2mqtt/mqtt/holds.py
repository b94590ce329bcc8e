"""One owner per control: a change a person makes from Home Assistant wins over the local planner for a while.

When Kraken answers ``done`` to a heat-pump setpoint or heating on/off set from Home Assistant, the local
devices of kind ``heat_pump`` that are that pump (driven locally too: ebusd, ESPAltherma) are held for
``mqtt.ha_person_hold_minutes``: the planner's action for it is replaced by the person's setting (``hold``
at the setpoint they set, ``off`` for heating off, ``follow_kraken`` for heating on: the pump's own logic),
with a reason that says why and until when, applied at once (``devices.guard``: no dwell). Not
``follow_kraken`` for a setpoint: an adapter's release writes its own default setpoint (ebusd ``default_c``)
over the person's. When the hold
ends the plan resumes, and for a while its reason says so. Pure: the caller passes the time.

Which local devices are the pump (:func:`held_by`): those whose ``kraken_device`` names it; a local heat pump
that names no Kraken device is held by a change on any Kraken heat pump (``check-config`` says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kraken2mqtt.controls import Control
from kraken2mqtt.devices.base import LocalKind
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.kraken.mutations import device_key
from kraken2mqtt.kraken.snapshot import Device, DeviceKind
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.mqtt.homeassistant import kraken_slug
from kraken2mqtt.planner.model import ActionKind, DeviceAction

#: the controls of a Kraken heat pump that the local planner also drives
HELD_CONTROLS = frozenset({Control.SETPOINT, Control.ZONE_MODE})
RESUMED_NOTE = timedelta(minutes=30)  # how long the plan's reason says it resumed


def kraken_names(dev: Device) -> set[str]:
    """What a ``kraken_device`` may say to name a Kraken device: its id, topic key or entity-id part."""
    return {dev.id, device_key(dev.id), kraken_slug(dev)}


def held_by(command_device: str, local: Sequence[DeviceConfig], kraken: Iterable[Device]) -> list[str]:
    """The local heat pumps a change on the Kraken device with topic key ``command_device`` holds."""
    names = {command_device}
    for dev in kraken:
        if dev.kind == DeviceKind.HEAT_PUMP and device_key(dev.id) == command_device:
            names |= kraken_names(dev)
    return [
        d.id
        for d in local
        if d.kind is LocalKind.HEAT_PUMP
        and d.id != command_device
        and (d.kraken_device is None or d.kraken_device in names)
    ]


def describe_links(local: Sequence[DeviceConfig], hold_minutes: float) -> list[str]:
    """For ``check-config``: which Kraken heat pump each local heat pump is, and what that means."""
    out = []
    for d in local:
        if d.kind is not LocalKind.HEAT_PUMP:
            continue
        if hold_minutes <= 0:
            out.append(
                f"device {d.id}: changes from Home Assistant never hold it (ha_person_hold_minutes = 0)"
            )
        elif d.kraken_device is not None:
            out.append(
                f"device {d.id}: is Kraken heat pump {d.kraken_device!r}: a setpoint or heating on/off set "
                f"from Home Assistant there holds its plan for {hold_minutes:g} min"
            )
        else:
            out.append(
                f"device {d.id}: names no kraken_device: a change from Home Assistant on any Kraken heat "
                f"pump holds its plan for {hold_minutes:g} min"
            )
    return out


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime
    what: str  # "setpoint 20.5 °C set from Home Assistant at 14:02"
    action: ActionKind = ActionKind.FOLLOW_KRAKEN  # what the held local device does meanwhile
    setpoint_c: float | None = None


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
        setpoint: float | None = None
        if control is Control.SETPOINT:
            what, action = f"setpoint {result.value} °C", ActionKind.HOLD
            setpoint = float(result.value) if isinstance(result.value, int | float) else None
        else:
            heating_on = result.value == "ON"
            what = f"heating {'on' if heating_on else 'off'}"
            action = ActionKind.FOLLOW_KRAKEN if heating_on else ActionKind.OFF
        when = self._hhmm(now)
        hold = Hold(now + self.length, f"{what} set from Home Assistant at {when}", action, setpoint)
        held = False
        for device in heat_pumps:
            before = self._holds.get(device)
            if action is ActionKind.FOLLOW_KRAKEN and before is not None and before.setpoint_c is not None:
                # heating on after a setpoint set: keep holding that setpoint (a release would not)
                what = f"{what} (setpoint {before.setpoint_c:g} °C)"
                self._holds[device] = Hold(
                    hold.until,
                    f"{what} set from Home Assistant at {when}",
                    ActionKind.HOLD,
                    before.setpoint_c,
                )
            else:
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
                out[device] = DeviceAction(hold.action, setpoint_c=hold.setpoint_c, reason=self._reason(hold))
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
                    "action": hold.action.value,
                }
            elif now < hold.until + RESUMED_NOTE:
                out[device] = {
                    "resumed": f"the plan resumed at {self._hhmm(hold.until)} after your change ({hold.what})"
                }
        return out
