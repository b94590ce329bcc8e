"""Home Assistant command messages: topics and payloads parsed into typed commands (pure, no I/O).

Topics (``<base>`` is ``mqtt.base_topic``, default ``kraken2mqtt``):

* ``<base>/<device>/<control>/set``: a device control; ``<device>`` is the device key used by discovery
  (:func:`kraken2mqtt.kraken.mutations.device_key`, or a local device's configured id).
* ``<base>/<control>/set``: an account-level control (``top_up_amount``, ``refresh``).
* Results: ``<base>/<device>/result`` (``<base>/account/result`` for account-level controls), JSON, QoS 1,
  never retained.

Payloads: at most :data:`MAX_PAYLOAD` bytes of UTF-8. Plain text (what HA sends by default) or JSON: a
JSON scalar, or an object ``{"value": ...}`` (for users who set a ``command_template``). Per control:

=================== ========= ==================================================================
control             kind      accepted values
=================== ========= ==================================================================
``boost``           switch    ``ON`` (start a boost charge) / ``OFF`` (cancel it)
``smart_control``   switch    ``ON`` (resume smart control) / ``OFF`` (suspend it)
``target_soc``      number    integer % in 10..100, step 1
``ready_by``        time      ``HH:MM`` (or ``HH:MM:00``), 00:00..23:59
``zone_mode``       select    ``ON`` / ``OFF`` (heat-pump climate control)
``setpoint``        number    °C in 7.0..30.0, step 0.5
``hot_water_boost`` switch    ``ON`` / ``OFF``
``top_up_amount``   number    integer pence in 500..50000, step 100 (account level)
``planner_mode``    select    ``auto`` / ``force_on`` / ``off`` (local planner)
``refresh``         button    ``PRESS`` (account level)
=================== ========= ==================================================================

Switches also take ``true``/``false``, ``1``/``0`` (text or JSON). Option matching ignores case. An empty
payload is the MQTT idiom for deleting a retained message and is ignored without a result. A retained
command (``retain`` flag set on delivery) is ignored, and the caller clears it so it never replays.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kraken2mqtt.controls import ACCOUNT, SPECS, Command, Control, ControlSpec, Value

MAX_PAYLOAD = 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::(00))?$")


@dataclass(frozen=True, slots=True)
class Invalid:
    """A command message we cannot act on; ``device``/``control`` say where the result goes."""

    reason: str
    device: str | None = None
    control: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """Not a command to answer: a retained replay (``clear`` it) or an empty payload."""

    reason: str
    clear: bool = False


Parsed = Command | Invalid | Ignored


def command_filters(base_topic: str) -> tuple[str, str]:
    """The subscriptions that receive every command topic."""
    return f"{base_topic}/+/+/set", f"{base_topic}/+/set"


def command_topic(base_topic: str, device: str, control: Control) -> str:
    if SPECS[control].account_level:
        return f"{base_topic}/{control.value}/set"
    return f"{base_topic}/{device}/{control.value}/set"


def result_topic(base_topic: str, device: str) -> str:
    return f"{base_topic}/{device}/result"


def parse_topic(base_topic: str, topic: str) -> tuple[str, Control] | Invalid:
    """``(device, control)`` of a command topic."""
    prefix = base_topic + "/"
    if not topic.startswith(prefix) or not topic.endswith("/set"):
        return Invalid(f"not a command topic: {topic[:120]!r}")
    parts = topic[len(prefix) : -len("/set")].split("/")
    if len(parts) == 1:
        device, name = ACCOUNT, parts[0]
    elif len(parts) == 2:
        device, name = parts
    else:
        return Invalid(f"not a command topic: {topic[:120]!r}")
    if not _SEGMENT.match(device):
        return Invalid(f"bad device key {device[:64]!r}")
    try:
        control = Control(name)
    except ValueError:
        return Invalid(f"unknown control {name[:64]!r}", device=device)
    account_level = SPECS[control].account_level
    if account_level and device != ACCOUNT:
        return Invalid(
            f"{control.value} is account-level: use {base_topic}/{control.value}/set", device, name
        )
    if not account_level and device == ACCOUNT:
        return Invalid(
            f"{control.value} needs a device: use {base_topic}/<device>/{control.value}/set", device, name
        )
    return device, control


def parse(
    base_topic: str, topic: str, payload: bytes | bytearray | str | None, *, retain: bool = False
) -> Parsed:
    """Parse one command message. Never raises on any input."""
    if retain:
        return Ignored("retained command message (would replay after a restart)", clear=True)
    where = parse_topic(base_topic, topic)
    if isinstance(where, Invalid):
        return where
    device, control = where
    data = payload if payload is not None else b""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_PAYLOAD:
        return Invalid(f"payload too large ({len(data)} bytes > {MAX_PAYLOAD})", device, control.value)
    try:
        text = bytes(data).decode("utf-8").strip()
    except UnicodeDecodeError:
        return Invalid("payload is not UTF-8", device, control.value)
    if not text:
        return Ignored("empty payload")
    raw = _unwrap(text)
    if isinstance(raw, Invalid):
        return Invalid(raw.reason, device, control.value)
    value = parse_value(control, raw)
    if isinstance(value, Invalid):
        return Invalid(value.reason, device, control.value)
    return Command(device, control, value)


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _unwrap(text: str) -> Any:
    """The raw value: a JSON scalar or ``{"value": ...}``, else the text itself."""
    if text[0] not in '{["-0123456789tfn' and text not in ("NaN", "Infinity"):
        return text
    try:
        decoded = json.loads(text, parse_constant=_reject_constant)
    except _NonFinite:
        return Invalid("number is not finite")
    except (ValueError, RecursionError):
        if text[0] in "{[":
            return Invalid("payload is not valid JSON")
        return text  # e.g. "07:30", "force_on": plain text that merely starts like JSON
    if isinstance(decoded, dict):
        if set(decoded) != {"value"}:
            return Invalid('a JSON object payload must be {"value": ...} only')
        decoded = decoded["value"]
    if isinstance(decoded, dict | list):
        return Invalid("value must be a number, string or boolean")
    return decoded


def parse_value(control: Control, raw: Any) -> Value | Invalid:
    spec = SPECS[control]
    if spec.kind == "switch":
        return _switch(raw)
    if spec.kind == "number":
        return _number(spec, raw)
    if spec.kind == "time":
        return _time(raw)
    return _option(spec, raw)


def _switch(raw: Any) -> bool | Invalid:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().upper()
        if word in ("ON", "TRUE", "1"):
            return True
        if word in ("OFF", "FALSE", "0"):
            return False
    return Invalid(f"expected ON or OFF, got {_show(raw)}")


def _number(spec: ControlSpec, raw: Any) -> int | float | Invalid:
    if isinstance(raw, bool) or raw is None:
        return Invalid(f"expected a number, got {_show(raw)}")
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return Invalid(f"expected a number, got {_show(raw)}")
    if not isinstance(raw, int | float):
        return Invalid(f"expected a number, got {_show(raw)}")
    value = float(raw)
    if not math.isfinite(value):
        return Invalid("number is not finite")
    lo, hi = spec.minimum, spec.maximum
    unit = spec.unit or ""
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return Invalid(f"{value:g} is out of range {lo:g}..{hi:g}{unit}")
    if spec.step:
        steps = (value - (lo or 0.0)) / spec.step
        if abs(steps - round(steps)) > 1e-6:
            return Invalid(f"{value:g} is not a multiple of {spec.step:g}{unit}")
    if spec.integer:
        return round(value)
    return round(value, 3)


def _time(raw: Any) -> str | Invalid:
    if not isinstance(raw, str):
        return Invalid(f"expected a time HH:MM, got {_show(raw)}")
    match = _TIME.match(raw.strip())
    if match is None:
        return Invalid(f"expected a time HH:MM (00:00-23:59), got {_show(raw)}")
    return f"{match.group(1)}:{match.group(2)}"


def _option(spec: ControlSpec, raw: Any) -> str | Invalid:
    if isinstance(raw, str):
        for option in spec.options:
            if raw.strip().lower() == option.lower():
                return option
    return Invalid(f"expected one of {', '.join(spec.options)}, got {_show(raw)}")


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


# -- results ------------------------------------------------------------------------------------------

Status = Literal["accepted", "done", "refused", "invalid"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What ``<base>/<device>/result`` carries for one command."""

    command_id: str
    control: str | None
    status: Status
    at: datetime
    reason: str | None = None
    reasons: tuple[str, ...] = ()
    value: Value = None

    def payload(self) -> str:
        body: dict[str, Any] = {
            "command_id": self.command_id,
            "control": self.control,
            "status": self.status,
            "reason": self.reason,
            "reasons": list(self.reasons),
            "at": self.at.isoformat(timespec="milliseconds"),
        }
        if self.value is not None:
            body["value"] = self.value
        return json.dumps(body, ensure_ascii=False)
