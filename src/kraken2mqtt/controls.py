"""The commands' vocabulary: the controls a person can set, their value ranges, and :class:`Command`.

A low module (it imports nothing of the project) shared by the three places a command passes through:
``mqtt/command_parse.py`` parses Home Assistant's messages into a :class:`Command`, ``store/`` keeps it
until it is carried out, and ``kraken/mutations.py`` turns it into a Kraken mutation. Keeping the
vocabulary here lets Kraken and the store understand a command without importing the MQTT package above
them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

#: The device key of account-level controls (``top_up_amount``, ``refresh``).
ACCOUNT = "account"

Value = bool | int | float | str | None


class Control(StrEnum):
    BOOST = "boost"
    SMART_CONTROL = "smart_control"
    TARGET_SOC = "target_soc"
    READY_BY = "ready_by"
    ZONE_MODE = "zone_mode"
    SETPOINT = "setpoint"
    HOT_WATER_BOOST = "hot_water_boost"
    TOP_UP_AMOUNT = "top_up_amount"
    PLANNER_MODE = "planner_mode"
    REFRESH = "refresh"


Kind = Literal["switch", "number", "time", "select", "button"]

#: A local device's planner mode (the ``planner_mode`` control's options).
PlannerMode = Literal["auto", "force_on", "off"]


@dataclass(frozen=True, slots=True)
class ControlSpec:
    kind: Kind
    account_level: bool = False
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    integer: bool = False
    options: tuple[str, ...] = ()
    unit: str | None = None


SPECS: Mapping[Control, ControlSpec] = {
    Control.BOOST: ControlSpec("switch"),
    Control.SMART_CONTROL: ControlSpec("switch"),
    Control.TARGET_SOC: ControlSpec("number", minimum=10, maximum=100, step=1, integer=True, unit="%"),
    Control.READY_BY: ControlSpec("time"),
    Control.ZONE_MODE: ControlSpec("select", options=("ON", "OFF")),
    Control.SETPOINT: ControlSpec("number", minimum=7.0, maximum=30.0, step=0.5, unit="°C"),
    Control.HOT_WATER_BOOST: ControlSpec("switch"),
    Control.TOP_UP_AMOUNT: ControlSpec(
        "number", account_level=True, minimum=500, maximum=50_000, step=100, integer=True, unit="p"
    ),
    Control.PLANNER_MODE: ControlSpec("select", options=("auto", "force_on", "off")),
    Control.REFRESH: ControlSpec("button", account_level=True, options=("PRESS",)),
}

#: Controls handled by the daemon itself (never sent to Kraken).
LOCAL_CONTROLS: frozenset[Control] = frozenset({Control.PLANNER_MODE, Control.REFRESH})


@dataclass(frozen=True, slots=True)
class Command:
    """A well-formed command: ``device`` is the topic's device key (``"account"`` for account level)."""

    device: str
    control: Control
    value: Value

    def to_json(self) -> str:
        return json.dumps({"device": self.device, "control": self.control.value, "value": self.value})

    @classmethod
    def from_json(cls, text: str) -> Command:
        raw = json.loads(text)
        return cls(str(raw["device"]), Control(raw["control"]), raw["value"])
