"""Home Assistant commands -> the documented Kraken mutation of the account's deployment.

Mapping (digest §5.5, §6; inputs per Appendix B or the sandbox SDL where the docs are silent):

* ``boost`` ON/OFF: SmartFlex ``updateBoostCharge`` (BOOST / CANCEL); legacy ``triggerBoostCharge`` /
  ``deleteBoostCharge``.
* ``smart_control`` ON/OFF: SmartFlex ``updateDeviceSmartControl`` (UNSUSPEND / SUSPEND); legacy
  ``resumeControl`` / ``suspendControl``.
* ``target_soc``, ``ready_by``: SmartFlex ``setDevicePreferences`` (mode CHARGE, unit PERCENTAGE, the same
  time and SoC for all seven days, the other half taken from the current preferences); legacy
  ``setVehicleChargePreferences`` (weekday and weekend target SoC or time).
* ``zone_mode`` ON/OFF: ``setClimateControlState`` (enable); ``setpoint``: ``setRoomTemperature``
  (temperature, °C); ``hot_water_boost`` ON/OFF: ``setHotWaterState`` (enable). All account-scoped.
* ``top_up_amount``: ``updateAutoTopUpAmount`` (account number, amount in pence, ledger number looked up
  once with ``AccountLedgers``).

SmartFlex mutations are used for devices listed by ``devices`` where the deployment documents them;
legacy ones for the account's ``registeredKrakenflexDevice`` (and the legacy heat pump). The Octopus
heat-pump controller's zone mutations (``SetZoneMode``...) have no documented root field (digest §9.9), so
zone mode means climate control on/off here. The heat-pump mutations are account-scoped, so a SmartFlex
heat pump's ``zone_mode`` / ``setpoint`` / ``hot_water_boost`` controls use them too.

Outcomes: ``done``; ``refused`` (:class:`CommandRefusedError`, with its refusal reasons, or a disabled
field after a few tries); ``invalid`` (:class:`KrakenValidationError`, :class:`NotFoundError`, nothing to
send); ``retry`` (transport, server, protocol, rate limit, auth, not-yet-known account data).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import structlog

from kraken2mqtt.controls import ACCOUNT, Command, Control
from kraken2mqtt.kraken import capabilities
from kraken2mqtt.kraken.client import KrakenClient, UndocumentedFieldError
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CommandRefusedError,
    DisabledFieldError,
    KrakenError,
    KrakenValidationError,
    NotFoundError,
    RateLimitedError,
)
from kraken2mqtt.kraken.snapshot import Device, DeviceKind, Snapshot

log = structlog.get_logger(__name__)

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
#: How long preferences we set override the (older) snapshot when the next preference change is built.
PREFERENCE_OVERLAY_SECONDS = 900.0
#: KT-CT-1113 (field disabled) is retried this many attempts, then refused.
DISABLED_ATTEMPTS = 3


class TargetKind(StrEnum):
    SMARTFLEX = "smartflex"
    LEGACY_EV = "legacy_ev"
    LEGACY_HEAT_PUMP = "legacy_heat_pump"
    ACCOUNT = "account"
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Target:
    """Something commands can address: ``key`` is the ``<device>`` topic segment."""

    key: str
    kind: TargetKind
    device_id: str | None = None  # SmartFlex device id
    is_ev: bool = False
    is_heat_pump: bool = False  # heat-pump controls map to the account's (legacy) heat-pump mutations
    target_soc: int | None = None  # current preference, to build a full schedule when one part changes
    ready_by: str | None = None  # "HH:MM"


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What the mapping needs from the latest snapshot. ``ready`` is False until devices are known."""

    deployment: str
    account_number: str | None = None
    targets: Mapping[str, Target] = field(default_factory=dict)
    ledger_number: str | None = None
    ready: bool = True


def device_key(raw_id: str) -> str:
    """A device id as one MQTT topic level: lower case, ``[a-z0-9_-]``, at most 64 characters."""
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in raw_id.lower())
    return out[:64] or "device"


LEGACY_HEAT_PUMP_KEY = "heat_pump"


def _prefs(device: Device) -> tuple[int | None, str | None]:
    if device.preferences is None or not device.preferences.schedules:
        return None, None
    first = device.preferences.schedules[0]
    soc = int(first.max) if first.max is not None else None
    ready = first.time[:5] if len(first.time) >= 5 else None
    return soc, ready


def default_key_of(device: Device) -> str:
    return device_key(device.id)


def context_from_snapshot(
    snapshot: Snapshot | None,
    *,
    deployment: str,
    local_devices: Iterable[str] = (),
    key_of: Callable[[Device], str] = default_key_of,
) -> CommandContext:
    """Targets from a snapshot: SmartFlex and legacy devices, the legacy heat pump, the account, and the
    configured local devices (planner mode only). ``key_of`` must be the function discovery uses for the
    ``<device>`` topic segment."""
    targets: dict[str, Target] = {ACCOUNT: Target(ACCOUNT, TargetKind.ACCOUNT)}
    for local in local_devices:
        targets[local] = Target(local, TargetKind.LOCAL)
    if snapshot is None:
        return CommandContext(deployment, targets=targets, ready=False)
    for device in snapshot.devices.devices if snapshot.devices else ():
        soc, ready = _prefs(device)
        kind = TargetKind.LEGACY_EV if device.legacy else TargetKind.SMARTFLEX
        key = key_of(device)
        is_heat_pump = device.kind is DeviceKind.HEAT_PUMP
        targets[key] = Target(key, kind, device.id, device.is_ev, is_heat_pump, soc, ready)
    if snapshot.heat_pumps is not None and snapshot.heat_pumps.legacy is not None:
        targets[LEGACY_HEAT_PUMP_KEY] = Target(LEGACY_HEAT_PUMP_KEY, TargetKind.LEGACY_HEAT_PUMP)
    return CommandContext(
        deployment=snapshot.deployment,
        account_number=snapshot.account_number,
        targets=targets,
        ready=snapshot.devices is not None,
    )


_CONTROLS: Mapping[TargetKind, frozenset[Control]] = {
    TargetKind.SMARTFLEX: frozenset({Control.SMART_CONTROL}),
    TargetKind.LEGACY_EV: frozenset(
        {Control.BOOST, Control.SMART_CONTROL, Control.TARGET_SOC, Control.READY_BY}
    ),
    TargetKind.LEGACY_HEAT_PUMP: frozenset({Control.ZONE_MODE, Control.SETPOINT, Control.HOT_WATER_BOOST}),
    TargetKind.ACCOUNT: frozenset({Control.TOP_UP_AMOUNT, Control.REFRESH}),
    TargetKind.LOCAL: frozenset({Control.PLANNER_MODE}),
}
_EV_CONTROLS = frozenset({Control.BOOST, Control.TARGET_SOC, Control.READY_BY})
_HEAT_PUMP_CONTROLS = frozenset({Control.ZONE_MODE, Control.SETPOINT, Control.HOT_WATER_BOOST})


def controls_for(target: Target) -> frozenset[Control]:
    """The controls a target offers (discovery can publish exactly these)."""
    controls = _CONTROLS[target.kind]
    if target.kind is TargetKind.SMARTFLEX and target.is_ev:
        controls |= _EV_CONTROLS
    if target.kind is TargetKind.SMARTFLEX and target.is_heat_pump:
        controls |= _HEAT_PUMP_CONTROLS
    return controls


@dataclass(frozen=True, slots=True)
class MutationCall:
    document: str
    variables: dict[str, Any]
    #: Refusal codes that mean "already in the requested state": done when a retried attempt gets them.
    already_done: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["done", "refused", "invalid", "retry"]
    reason: str | None = None
    reasons: tuple[str, ...] = ()
    retry_after: float | None = None


def check_target(command: Command, ctx: CommandContext) -> Target | Outcome:
    """The command's target, or why it cannot have one (``retry`` while devices are not yet known)."""
    target = ctx.targets.get(command.device)
    if target is None:
        if not ctx.ready:
            return Outcome("retry", "devices not known yet")
        return Outcome("invalid", f"unknown device {command.device!r}")
    if command.control not in controls_for(target):
        return Outcome("invalid", f"{command.device} has no control {command.control.value!r}")
    return target


def plan(
    command: Command,
    target: Target,
    ctx: CommandContext,
    *,
    prefs: tuple[int | None, str | None] | None = None,
) -> MutationCall | Outcome:
    """The mutation for a command (late-bound: built at each attempt from the current context)."""
    c, value = command.control, command.value
    account = ctx.account_number
    if target.kind is TargetKind.SMARTFLEX and c not in _HEAT_PUMP_CONTROLS:
        assert target.device_id is not None
        if c is Control.BOOST:
            return _need(ctx, "updateBoostCharge") or MutationCall(
                "UpdateBoostCharge",
                {"input": {"deviceId": target.device_id, "action": "BOOST" if value else "CANCEL"}},
            )
        if c is Control.SMART_CONTROL:
            return _need(ctx, "updateDeviceSmartControl") or MutationCall(
                "UpdateDeviceSmartControl",
                {"input": {"deviceId": target.device_id, "action": "UNSUSPEND" if value else "SUSPEND"}},
            )
        soc, ready = _merged(target, c, value, prefs)
        if soc is None or ready is None:
            return Outcome("invalid", "the device's current preferences are unknown; cannot build a schedule")
        schedules = [{"dayOfWeek": day, "time": ready, "max": float(soc)} for day in DAYS]
        return _need(ctx, "setDevicePreferences") or MutationCall(
            "SetDevicePreferences",
            {
                "input": {
                    "deviceId": target.device_id,
                    "mode": "CHARGE",
                    "unit": "PERCENTAGE",
                    "schedules": schedules,
                }
            },
        )
    if account is None:
        return Outcome("retry", "account number not known yet")
    acc = {"accountNumber": account}
    if target.kind is TargetKind.LEGACY_EV:
        if c is Control.BOOST:
            if value:
                return _need(ctx, "triggerBoostCharge") or MutationCall(
                    "TriggerBoostCharge", {"input": acc}, frozenset({"KT-CT-4356"})
                )
            return _need(ctx, "deleteBoostCharge") or MutationCall(
                "DeleteBoostCharge", {"input": acc}, frozenset({"KT-CT-4354"})
            )
        if c is Control.SMART_CONTROL:
            if value:
                return _need(ctx, "resumeControl") or MutationCall(
                    "ResumeControl", {"input": acc}, frozenset({"KT-CT-4359"})
                )
            return _need(ctx, "suspendControl") or MutationCall(
                "SuspendControl", {"input": acc}, frozenset({"KT-CT-4358"})
            )
        fields = (
            {"weekdayTargetSoc": value, "weekendTargetSoc": value}
            if c is Control.TARGET_SOC
            else {"weekdayTargetTime": value, "weekendTargetTime": value}
        )
        return _need(ctx, "setVehicleChargePreferences") or MutationCall(
            "SetVehicleChargePreferences", {"input": {**acc, **fields}}
        )
    if c in _HEAT_PUMP_CONTROLS:  # account-scoped: the same for a SmartFlex heat pump's controls
        if c is Control.ZONE_MODE:
            return _need(ctx, "setClimateControlState") or MutationCall(
                "SetClimateControlState", {"input": {**acc, "enable": value == "ON"}}
            )
        if c is Control.HOT_WATER_BOOST:
            return _need(ctx, "setHotWaterState") or MutationCall(
                "SetHotWaterState", {"input": {**acc, "enable": bool(value)}}
            )
        return _need(ctx, "setRoomTemperature") or MutationCall(
            "SetRoomTemperature", {"input": {**acc, "temperature": f"{float(value or 0):.1f}"}}
        )
    if target.kind is TargetKind.ACCOUNT and c is Control.TOP_UP_AMOUNT:
        if ctx.ledger_number is None:
            return Outcome("retry", "ledger not known yet")
        return _need(ctx, "updateAutoTopUpAmount") or MutationCall(
            "UpdateAutoTopUpAmount",
            {"input": {**acc, "amount": int(value or 0), "ledgerNumber": ctx.ledger_number}},
        )
    return Outcome("invalid", f"{c.value} is not a Kraken command")


def _need(ctx: CommandContext, root_field: str) -> Outcome | None:
    if capabilities.has(ctx.deployment, root_field):
        return None
    return Outcome("invalid", f"{root_field} is not available on {ctx.deployment}")


def _merged(
    target: Target, control: Control, value: Any, prefs: tuple[int | None, str | None] | None
) -> tuple[int | None, str | None]:
    soc, ready = prefs if prefs is not None else (target.target_soc, target.ready_by)
    if control is Control.TARGET_SOC:
        soc = int(value)
    else:
        ready = str(value)
    return soc, ready


def classify(exc: Exception, *, attempt: int, call: MutationCall | None = None) -> Outcome:
    """An exception from ``execute`` as an outcome. ``attempt`` counts from 1."""
    if isinstance(exc, CommandRefusedError):
        if call is not None and attempt > 1 and exc.code in call.already_done:
            return Outcome("done", "already in the requested state")
        return Outcome("refused", _reason(exc), tuple(exc.reasons))
    if isinstance(exc, UndocumentedFieldError):
        return Outcome("invalid", "not available on this deployment")
    if isinstance(exc, KrakenValidationError | NotFoundError):
        return Outcome("invalid", _reason(exc))
    if isinstance(exc, RateLimitedError):
        return Outcome("retry", "rate limited", retry_after=exc.retry_after)
    if isinstance(exc, AuthBackoffError):
        return Outcome("retry", "authentication backing off", retry_after=exc.retry_in)
    if isinstance(exc, AuthError):
        return Outcome("retry", "authentication failed")
    if isinstance(exc, DisabledFieldError):
        if attempt >= DISABLED_ATTEMPTS:
            return Outcome("refused", _reason(exc))
        return Outcome("retry", "field disabled (brownout?)")
    if isinstance(exc, KrakenError):
        if exc.retryable:
            return Outcome("retry", _reason(exc))
        return Outcome("refused", _reason(exc))
    return Outcome("retry", f"unexpected error {type(exc).__name__}")


def _reason(exc: KrakenError) -> str:
    text = exc.message
    description = exc.extensions.get("errorDescription")
    if isinstance(description, str) and description and description not in text:
        text = f"{text} {description}"
    return f"{exc.code}: {text}" if exc.code else text


class KrakenCommandExecutor:
    """Runs commands through a :class:`KrakenClient` against the context of the moment."""

    def __init__(
        self,
        client: KrakenClient,
        context: Callable[[], CommandContext],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_wait: float = 5.0,
    ) -> None:
        self._client = client
        self._context = context
        self._monotonic = monotonic
        self._max_wait = max_wait
        self._ledger: str | None = None
        self._prefs: dict[str, tuple[float, int | None, str | None]] = {}

    def context(self) -> CommandContext:
        return self._context()

    async def execute(self, command: Command, *, attempt: int) -> Outcome:
        ctx = self._context()
        target = check_target(command, ctx)
        if isinstance(target, Outcome):
            return target
        call: MutationCall | Outcome | None = None
        try:
            if command.control is Control.TOP_UP_AMOUNT and ctx.ledger_number is None:
                ledger = await self._ledger_number(ctx)
                if ledger is None and ctx.account_number is not None:
                    return Outcome("invalid", "the account has no ledger for an auto top-up")
                ctx = CommandContext(ctx.deployment, ctx.account_number, ctx.targets, ledger, ctx.ready)
            call = plan(command, target, ctx, prefs=self._overlay(target))
            if isinstance(call, Outcome):
                return call
            await self._client.execute(call.document, call.variables, max_wait=self._max_wait)
        except Exception as exc:
            outcome = classify(exc, attempt=attempt, call=call if isinstance(call, MutationCall) else None)
            log.info(
                "command.kraken_failed",
                control=command.control.value,
                error=type(exc).__name__,
                code=getattr(exc, "code", None),
                outcome=outcome.status,
            )
            return outcome
        if call.document == "SetDevicePreferences" and target.device_id is not None:
            schedule = call.variables["input"]["schedules"][0]
            self._prefs[target.device_id] = (self._monotonic(), int(schedule["max"]), str(schedule["time"]))
        return Outcome("done")

    def _overlay(self, target: Target) -> tuple[int | None, str | None] | None:
        if target.device_id is None:
            return None
        found = self._prefs.get(target.device_id)
        if found is None or self._monotonic() - found[0] > PREFERENCE_OVERLAY_SECONDS:
            return None
        return found[1], found[2]

    async def _ledger_number(self, ctx: CommandContext) -> str | None:
        if self._ledger is not None or ctx.account_number is None:
            return self._ledger
        if not capabilities.has(ctx.deployment, "account"):
            return None
        result = await self._client.execute(
            "AccountLedgers", {"accountNumber": ctx.account_number}, max_wait=self._max_wait
        )
        ledgers = ((result.data.get("account") or {}).get("ledgers")) or []
        numbers = [
            (str(lg.get("ledgerType") or ""), str(lg["number"]))
            for lg in ledgers
            if isinstance(lg, dict) and lg.get("number")
        ]
        electricity = [n for kind, n in numbers if "ELECTRICITY" in kind.upper()]
        chosen = electricity[0] if electricity else numbers[0][1] if numbers else None
        self._ledger = chosen
        return chosen
