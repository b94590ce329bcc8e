"""The adapter contract: what to publish to make a device do an action, and what the device reports.

Adapters are pure: no clock (``now`` is passed in), no I/O (they return :class:`Message` values that the MQTT
edge publishes). Each adapter instance keeps two small pieces of state that the caller drives:

* the merged :class:`ReportedState`, updated by :meth:`Adapter.on_message`;
* a send log (what was last published per slot, and when), updated by :meth:`Adapter.record_sent` once the
  messages returned by :meth:`Adapter.commands` were actually published. ``commands`` only reads it.

Resend rules (see :func:`should_send`): a write is published when it differs from the last one sent on its
slot and the device does not already report it; an identical write is repeated only after
``refresh_seconds``, and for flash-backed writes (:attr:`Resend.ON_CHANGE`) only when the device reports a
known mismatch. Writes with a ``keepalive`` (watchdogs, dead-man timers) are repeated at that interval.

Use from the MQTT edge / reconcile loop::

    adapter = build_adapter(device_config)
    subscribe to adapter.subscriptions(); publish adapter.startup_messages() after each (re)connect
    on a message:  adapter.on_message(topic, payload, now)      # -> ReportedState | None
    on each tick:  msgs = adapter.commands(action, adapter.reported, now)   # may raise CommandError
                   publish msgs (topic, payload, qos, retain); then adapter.record_sent(msgs, now)

Power sign convention in :class:`ReportedState`: ``power_kw`` > 0 means the device draws power (charging,
heating); < 0 means it delivers power (a battery discharging).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from kraken2mqtt.planner.model import ActionKind, DeviceAction

MAX_PAYLOAD_BYTES = 64 * 1024  # anything larger is not a device state message


class LocalKind(StrEnum):
    """What a local device is (the ``kind`` of a ``[[devices]]`` entry; Kraken's own device kinds are
    ``kraken.snapshot.DeviceKind``)."""

    EV = "ev"
    BATTERY = "battery"
    RELAY = "relay"
    HEAT_PUMP = "heat_pump"
    HOT_WATER = "hot_water"
    GENERIC = "generic"


class CommandError(ValueError):
    """The adapter cannot express this action for this device (configuration or planner mismatch)."""


class UnsupportedAction(CommandError):
    """The device cannot do this action at all (e.g. discharge an EV charger)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publication. ``slot`` is bookkeeping for the send log, not sent on the wire: it names what
    the write controls (default: the topic); writes to a slot are identical when their payloads are."""

    topic: str
    payload: str | bytes
    qos: int = 1
    retain: bool = False
    slot: str = field(default="", compare=False, repr=False)
    # The device stores this write in flash/EEPROM: sent only on a real change, within a daily budget.
    persistent: bool = field(default=False, compare=False, repr=False)

    @property
    def slot_name(self) -> str:
        return self.slot or self.topic

    @property
    def value_key(self) -> str:
        return self.payload if isinstance(self.payload, str) else self.payload.hex()


@dataclass(frozen=True, slots=True)
class ReportedState:
    """What the device says about itself (None: not reported yet). ``raw`` maps each state topic to its
    last decoded payload."""

    soc_pct: float | None = None
    power_kw: float | None = None
    plugged_in: bool | None = None
    charging: bool | None = None
    relay_on: bool | None = None
    setpoint_c: float | None = None
    temperature_c: float | None = None
    online: bool | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, str] = field(default_factory=dict)
    # Set by the driver, for people (Home Assistant, status): who is in charge of the device now
    # ("planned", "released", "overridden by hand until 18:40"), and the last command result or error.
    control: str | None = None
    result: str | None = None


class Resend(StrEnum):
    REFRESH = "refresh"  # volatile setting: an identical write is repeated every refresh interval
    ON_CHANGE = "on_change"  # flash/EEPROM-backed: repeated only while the device reports a mismatch


@dataclass(frozen=True, slots=True)
class Write:
    """A write an adapter wants, with what it knows about whether the device is already there."""

    message: Message
    matches: bool | None = None  # True: device reports this already; False: reports otherwise; None: unknown
    resend: Resend = Resend.REFRESH
    keepalive: timedelta | None = None  # repeat at this interval whatever the reported state
    min_change_interval: timedelta | None = None  # rate limit on *changed* values (flash wear)


@dataclass(frozen=True, slots=True)
class Sent:
    key: str
    at: datetime


def should_send(write: Write, last: Sent | None, now: datetime, refresh: timedelta) -> bool:
    """The resend policy shared by every adapter (see the module docstring)."""
    key = write.message.value_key
    if write.keepalive is not None:
        return last is None or last.key != key or now - last.at >= write.keepalive
    if last is None or last.key != key:
        if write.matches is True:
            return False
        return not (
            last is not None
            and write.min_change_interval is not None
            and now - last.at < write.min_change_interval
        )
    if now - last.at < refresh:
        return False
    if write.resend is Resend.REFRESH:
        return True
    return write.matches is False


# ------------------------------------------------------------------------------------------- parsing


class Ignored(Exception):
    """A state payload that cannot be used; the message says why."""


def decode(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Ignored(f"payload too large ({len(payload)} bytes)")
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise Ignored("payload is not UTF-8") from exc


def parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise Ignored(f"not a number: {text[:40]!r}") from exc
    if not math.isfinite(value):
        raise Ignored(f"not a finite number: {text[:40]!r}")
    return value


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Ignored(f"invalid JSON: {text[:40]!r}") from exc


def parse_json_object(text: str) -> dict[str, Any]:
    value = parse_json(text)
    if not isinstance(value, dict):
        raise Ignored(f"expected a JSON object: {text[:40]!r}")
    return value


def parse_bool(text: str, true: frozenset[str], false: frozenset[str]) -> bool:
    folded = text.strip().strip('"').lower()
    if folded in true:
        return True
    if folded in false:
        return False
    raise Ignored(f"not a recognised on/off value: {text[:40]!r}")


def as_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Ignored(f"{what}: expected a number, got {str(value)[:40]!r}")
    return float(value)


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT wildcard match (``+`` one level, ``#`` the rest)."""
    pat = pattern.split("/")
    top = topic.split("/")
    for i, part in enumerate(pat):
        if part == "#":
            return True
        if i >= len(top):
            return False
        if part not in ("+", top[i]):
            return False
    return len(pat) == len(top)


def amps_for(power_kw: float, *, voltage: float, phases: int, min_a: int, max_a: int) -> int:
    """Whole amps per phase for ``power_kw`` (0 or less: the maximum), rounded down so the plan's power is
    not exceeded, then clamped to the device's range."""
    if power_kw <= 0:
        return max_a
    amps = math.floor(power_kw * 1000.0 / (voltage * phases) + 1e-6)
    return max(min_a, min(max_a, amps))


# ------------------------------------------------------------------------------------------- adapter

class AdapterConfig(Protocol):
    """What :class:`Adapter` itself reads of its configuration (``devices/config.py``'s
    ``DeviceConfigBase`` has it; the config imports this module, not the other way round)."""

    @property
    def refresh_seconds(self) -> float: ...

    @property
    def qos(self) -> int: ...


ConfigT = TypeVar("ConfigT", bound=AdapterConfig)


class Adapter(ABC, Generic[ConfigT]):
    """Base class of every device adapter. Subclasses set ``name``/``kinds`` and implement
    :meth:`subscriptions`, :meth:`_parse` and :meth:`_writes`."""

    name: ClassVar[str]
    kinds: ClassVar[frozenset[LocalKind]]

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.refresh = timedelta(seconds=config.refresh_seconds)
        self.qos = config.qos
        self.reported = ReportedState()
        self.last_ignored: str | None = None  # why the last state message was ignored
        self.ignored_count = 0
        self._sent: dict[str, Sent] = {}
        self.error: str | None = None  # the last error the device reported (go-e /result, Shelly RPC …)
        self.error_at: datetime | None = None
        self._pending_error: str | None = None
        self.before: str | None = None  # the control value the device had before we took it over

    # ---- state read-back

    @abstractmethod
    def subscriptions(self) -> list[str]:
        """Topics to subscribe to for state read-back."""

    def startup_messages(self) -> list[Message]:
        """Queries to publish once after (re)connecting, so the device reports its state (default none)."""
        return []

    @abstractmethod
    def _parse(self, topic: str, text: str) -> dict[str, Any] | None:
        """Fields of :class:`ReportedState` from one state message; None if the topic is not ours.
        Raise :class:`Ignored` for unusable payloads."""

    def on_message(self, topic: str, payload: bytes, now: datetime) -> ReportedState | None:
        """Merge one state message; returns the new state, or None if the topic is not ours or the payload
        is unusable (then :attr:`last_ignored` says why). Never raises on bad payloads."""
        if not any(topic_matches(p, topic) for p in self.subscriptions()):
            return None
        try:
            text = decode(payload)
            fields = self._parse(topic, text)
        except Ignored as exc:
            self.last_ignored = f"{topic}: {exc}"
            self.ignored_count += 1
            return None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # defensive: never raise
            self.last_ignored = f"{topic}: unexpected payload ({type(exc).__name__})"
            self.ignored_count += 1
            return None
        if self._pending_error is not None:
            self.error, self.error_at, self._pending_error = self._pending_error, now, None
        if fields is None:
            return None
        raw = dict(self.reported.raw)
        raw[topic] = text
        self.reported = replace(self.reported, **fields, updated_at=now, raw=raw)
        return self.reported

    # ---- commands

    @abstractmethod
    def _writes(self, action: DeviceAction, reported: ReportedState, now: datetime) -> list[Write]:
        """Every write that expresses ``action``, in publishing order, each with whether it matches."""

    def commands(self, action: DeviceAction, reported: ReportedState | None, now: datetime) -> list[Message]:
        """What to publish now to reach ``action`` (pure: reads the send log, does not change it).
        Raises :class:`CommandError` if the action cannot be expressed for this device."""
        state = reported if reported is not None else self.reported
        return [
            w.message
            for w in self._writes(action, state, now)
            if should_send(w, self._sent.get(w.message.slot_name), now, self.refresh)
        ]

    def record_sent(self, messages: list[Message], now: datetime) -> None:
        """Call after ``messages`` (from :meth:`commands`) were published."""
        for m in messages:
            self._sent[m.slot_name] = Sent(m.value_key, now)

    def last_sent(self, slot: str) -> Sent | None:
        return self._sent.get(slot)

    def forget_sent(self) -> None:
        """Drop the send log (e.g. after the device restarted and lost its volatile state)."""
        self._sent.clear()

    # ---- taking over and handing back (see :mod:`.driver`)

    def control_value(self, reported: ReportedState) -> str | None:
        """The value of what we control as the device reports it (relay "on", setpoint "20", evcc mode
        "pv" …), after the device's own quantisation; None: not reported / not comparable. A change of it
        that we did not ask for is a person's change."""
        return None

    def wanted_value(self, action: DeviceAction) -> str | None:
        """What :meth:`control_value` reads once the device does ``action`` (None: not comparable)."""
        return None

    def quantise(self, action: DeviceAction) -> DeviceAction:
        """``action`` as the device can carry it out (setpoint steps, whole amps): two actions that
        quantise alike are the same for the device."""
        return action

    def holds(self, reported: ReportedState) -> bool:
        """Whether the device reports a control of ours still in force (e.g. after a crash)."""
        return False

    def take_over(self, reported: ReportedState) -> None:
        """Called once when we start controlling the device: remember the person's setting."""
        self.before = self.control_value(reported)

    def release(self, reported: ReportedState, now: datetime) -> list[Message]:
        """The explicit messages that hand the device back to its own logic (sent once, whatever the
        send log says). Default: the writes of ``follow_kraken``."""
        action = DeviceAction(ActionKind.FOLLOW_KRAKEN, reason="released")
        try:
            return [w.message for w in self._writes(action, reported, now)]
        except CommandError:
            return []

    def check(self, now: datetime) -> str | None:
        """A device error found by time (a write never read back, a watchdog mismatch); None if none."""
        return None

    def report_error(self, text: str) -> None:
        """From :meth:`_parse`: the device reported an error (stamped by :meth:`on_message`)."""
        self._pending_error = text[:200]

    def deadman_seconds(self) -> float | None:
        """The period of the device's dead-man timer that our keepalives must beat (None: none)."""
        return None

    # ---- helpers for subclasses

    def msg(
        self,
        topic: str,
        payload: str,
        *,
        retain: bool = False,
        slot: str = "",
        qos: int | None = None,
        persistent: bool = False,
    ) -> Message:
        return Message(topic, payload, self.qos if qos is None else qos, retain, slot, persistent)

    @staticmethod
    def unsupported(adapter: str, action: DeviceAction) -> UnsupportedAction:
        return UnsupportedAction(f"{adapter} cannot do {action.kind.value!r}")


# How the planner's action kinds map onto devices that can only run or stop (relays, simple loads).
ON_KINDS = frozenset({ActionKind.ON, ActionKind.HEAT, ActionKind.HOT_WATER_BOOST, ActionKind.CHARGE})
OFF_KINDS = frozenset({ActionKind.OFF, ActionKind.STOP, ActionKind.HOLD, ActionKind.HOT_WATER_OFF})
