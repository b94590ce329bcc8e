"""Per-device configuration (``[[devices]]`` tables in the TOML file), one model per adapter.

:data:`DeviceConfig` is a union discriminated on ``adapter``; :data:`DeviceList` also checks that ids are
unique. Every model forbids unknown keys. ``config/devices.example.toml`` documents every option.
"""

from __future__ import annotations

import string
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kraken2mqtt.devices.base import LocalKind, amps_for
from kraken2mqtt.planner.config import DevicePlanConfig, missing_for
from kraken2mqtt.planner.model import ActionKind


def _check_topic(value: str) -> str:
    if not value or len(value) > 200:
        raise ValueError("a topic must be 1-200 characters")
    if any(c in value for c in "+#\x00"):
        raise ValueError("a topic must not contain the wildcards + or #, or NUL")
    if value.startswith("/") or value.endswith("/"):
        raise ValueError("a topic must not start or end with '/'")
    return value


def _check_filter(value: str) -> str:
    """A subscription filter: topic rules, but ``+`` may stand for a whole level and ``#`` end it."""
    if not value or len(value) > 200 or "\x00" in value:
        raise ValueError("a topic filter must be 1-200 characters")
    parts = value.split("/")
    for i, part in enumerate(parts):
        if ("+" in part and part != "+") or ("#" in part and (part != "#" or i != len(parts) - 1)):
            raise ValueError("'+' must be a whole level and '#' the whole last level")
    return value


Topic = Annotated[str, AfterValidator(_check_topic)]
TopicFilter = Annotated[str, AfterValidator(_check_filter)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]  # one topic level, no wildcards


class DeviceConfigBase(BaseModel):
    """Options shared by every adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    allowed_kinds: ClassVar[frozenset[LocalKind]] = frozenset(LocalKind)

    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    name: str | None = None
    kind: LocalKind
    adapter: str
    # Minimum seconds between identical writes (a refresh of volatile settings; a retry of flash-backed
    # writes only while the device reports something else).
    refresh_seconds: Annotated[float, Field(ge=10, le=86_400)] = 300.0
    qos: Literal[0, 1, 2] = 1
    # How the planner models the device; without it the device is only driven by its planner_mode.
    plan: DevicePlanConfig | None = None
    # A change a person makes on the device (read back) is respected this long: no command is sent to it
    # meanwhile (Home Assistant shows "overridden by hand until HH:MM"). 0: never detect one.
    manual_hold_minutes: Annotated[float, Field(ge=0, le=10_080)] = 120.0
    # Writes the device keeps in flash/EEPROM (the adapter's docstring lists them) are sent only on a real
    # change, and at most this many times a day.
    max_persistent_writes_per_day: Annotated[int, Field(ge=1, le=1440)] = 24
    # A decided action holds at least this long before another one replaces it (None: per kind: heat
    # pump 30, battery 10, EV 5 (current changes; starting/stopping is at once), hot water 10, relay 5).
    min_dwell_minutes: Annotated[float, Field(ge=0, le=720)] | None = None
    # A setpoint moves only when the wanted value is this far from the one in force (None: 1.5 × the
    # device's setpoint step, 0.75 °C for 0.5 °C steps), so a plan wavering between 19.3 and 19.8 °C
    # never flips the controller between 19 and 19.5 °C.
    setpoint_hysteresis_c: Annotated[float, Field(ge=0, le=5)] | None = None
    # Heat pumps (manufacturers' guidance: long runs, few starts). The planner uses the same limits.
    min_run_minutes: Annotated[float, Field(ge=0, le=240)] = 30.0
    min_off_minutes: Annotated[float, Field(ge=0, le=240)] = 15.0
    max_starts_per_hour: Annotated[int, Field(ge=1, le=12)] = 3
    # A local heat pump that is also a Kraken heat pump (the same pump, driven locally too): the Kraken
    # device's id, topic key or entity-id part (``heat_pump_f001``). A setpoint or heating on/off set from
    # Home Assistant on that Kraken device holds this one for mqtt.ha_person_hold_minutes (mqtt/holds.py).
    kraken_device: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _kind_allowed(self) -> DeviceConfigBase:
        if self.kind not in self.allowed_kinds:
            allowed = ", ".join(sorted(k.value for k in self.allowed_kinds))
            kind = self.kind.value
            raise ValueError(
                f"adapter {self.adapter!r} cannot control a {kind!r} device (allowed kinds: {allowed})"
            )
        if self.kraken_device is not None and self.kind is not LocalKind.HEAT_PUMP:
            kind = self.kind.value
            raise ValueError(
                f"kraken_device names a Kraken heat pump: only for kind 'heat_pump', not {kind!r}"
            )
        if self.plan is not None and (missing := missing_for(self.kind.value, self.plan)):
            raise ValueError(f"plan for a {self.kind.value!r} device needs {', '.join(missing)}")
        return self


class _CurrentLimits(BaseModel):
    """How planned kW become amps (per phase)."""

    voltage: Annotated[float, Field(ge=100, le=480)] = 230.0
    phases: Literal[1, 3] = 1
    min_current_a: Annotated[int, Field(ge=1, le=80)] = 6
    max_current_a: Annotated[int, Field(ge=1, le=80)] = 32

    @model_validator(mode="after")
    def _min_below_max(self) -> _CurrentLimits:
        if self.min_current_a > self.max_current_a:
            raise ValueError(
                f"min_current_a ({self.min_current_a}) is above max_current_a ({self.max_current_a})"
            )
        return self

    def amps(self, power_kw: float) -> int:
        """Whole amps per phase for ``power_kw`` within this charger's range (see :func:`amps_for`)."""
        return amps_for(
            power_kw,
            voltage=self.voltage,
            phases=self.phases,
            min_a=self.min_current_a,
            max_a=self.max_current_a,
        )


_EV = frozenset({LocalKind.EV})
_LOADS = frozenset({LocalKind.RELAY, LocalKind.HOT_WATER, LocalKind.HEAT_PUMP, LocalKind.GENERIC})


class OpenEVSEConfig(DeviceConfigBase, _CurrentLimits):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = _EV
    adapter: Literal["openevse"]
    topic: Topic  # the charger's mqtt_topic (default: its hostname, openevse-xxxx)
    announce_id: Name | None = None  # the xxxx of openevse/announce/xxxx, to read online/offline
    # Sent in the claim: the charger drops our claim itself when the charging session ends (its only
    # dead-man: a claim lives in RAM with no expiry). None: not sent.
    auto_release: bool | None = True


class GoEConfig(DeviceConfigBase, _CurrentLimits):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = _EV
    adapter: Literal["goe"]
    serial: Name
    topic: Topic = "go-eCharger"  # the prefix (API key mtp)
    max_current_a: Annotated[int, Field(ge=1, le=80)] = 16
    # The current is set with tcl (temporary current limit; the charger drops it after 10 minutes without
    # an update): it is re-sent every tcl_keepalive_seconds. The person's own amp is never written.
    tcl_keepalive_seconds: Annotated[float, Field(ge=30, le=540)] = 240.0


class EvccConfig(DeviceConfigBase):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = frozenset({LocalKind.EV, LocalKind.BATTERY})
    adapter: Literal["evcc"]
    topic: Topic = "evcc"
    loadpoint: Annotated[int, Field(ge=1, le=99)] | None = None  # 1-based; required for kind = "ev"
    release_mode: Literal["off", "now", "minpv", "pv"] = "pv"  # loadpoint mode for follow_kraken
    # batteryMode reverts after 1 minute unless re-sent: resend period (plus one reconcile pass it must
    # stay under 50 s, checked at start-up).
    keepalive_seconds: Annotated[float, Field(ge=5, le=55)] = 20.0

    @model_validator(mode="after")
    def _loadpoint_for_ev(self) -> EvccConfig:
        if self.kind is LocalKind.EV and self.loadpoint is None:
            raise ValueError("an evcc ev device needs loadpoint (1-based number of the evcc loadpoint)")
        if self.kind is LocalKind.BATTERY and self.loadpoint is not None:
            raise ValueError("an evcc battery device controls the site battery: remove loadpoint")
        return self


class GivTcpConfig(DeviceConfigBase):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = frozenset({LocalKind.BATTERY})
    adapter: Literal["givtcp"]
    serial: Name  # inverter serial number
    topic: Topic = "GivEnergy"  # GivTCP's MQTT_Topic
    # Length of forceCharge / forceExport / tempPauseDischarge runs; GivTCP reverts on its own after it
    # (a dead-man if this daemon stops); renewed when GivTCP reports the run ended.
    timer_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    control_rate: bool = True  # also send setChargeRate / setDischargeRate (W) from the planned power
    rate_step_w: Annotated[int, Field(ge=10, le=5000)] = 100  # rates are rounded to this (fewer writes)
    # discharge: "export" = forceExport at the planned rate (exports what the house does not use);
    # "eco" = only cancel our runs, so the inverter's eco mode covers the house load (no forced export).
    discharge: Literal["export", "eco"] = "export"


class TasmotaConfig(DeviceConfigBase):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = _LOADS
    adapter: Literal["tasmota"]
    topic: Name  # Tasmota's Topic (%topic%), e.g. tasmota_1A2B3C
    relay: Annotated[int, Field(ge=1, le=32)] | None = None  # POWER<relay>; None: POWER
    # Dead-man: PulseTime turns the relay off after this many seconds unless ON is re-sent.
    pulse_time_seconds: Annotated[int, Field(ge=12, le=64_800)] | None = None
    # What handing the relay back does: "off" switches it off once if we had switched it on; "leave"
    # sends nothing.
    release: Literal["off", "leave"] = "off"


class ShellyConfig(DeviceConfigBase):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = _LOADS
    adapter: Literal["shelly"]
    topic: Topic  # the Gen2+ topic_prefix (default: device id, e.g. shellyplus1pm-<mac>)
    switch_id: Annotated[int, Field(ge=0, le=15)] = 0
    src: Name = "kraken2mqtt"  # RPC source id (required by the RPC protocol)
    # Dead-man: toggle_after on Switch.Set turns the output back off after this many seconds.
    toggle_after_seconds: Annotated[int, Field(ge=10, le=86_400)] | None = None
    release: Literal["off", "leave"] = "off"


class EbusdConfig(DeviceConfigBase):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = frozenset({LocalKind.HEAT_PUMP, LocalKind.HOT_WATER})
    adapter: Literal["ebusd"]
    topic: Topic = "ebusd"  # --mqtttopic
    circuit: Name
    setpoint: Name  # message name of the setpoint in the controller's CSV config (no universal name)
    temperature_circuit: Name | None = None  # optional measured temperature to read back
    temperature: Name | None = None
    min_c: Annotated[float, Field(ge=-10, le=90)] = 5.0
    max_c: Annotated[float, Field(ge=-10, le=90)] = 30.0
    step_c: Annotated[float, Field(gt=0, le=5)] = 0.5  # setpoints are rounded to this (fewer writes)
    default_c: float | None = None  # setpoint for follow_kraken and actions without one
    off_c: float | None = None  # setpoint for stop/off/hot_water_off (setback)
    boost_c: float | None = None  # setpoint for hot_water_boost / heat without a planned setpoint
    # A written setpoint must be read back within this many seconds, else it is reported as an error.
    readback_timeout_seconds: Annotated[float, Field(ge=10, le=3600)] = 120.0

    @model_validator(mode="after")
    def _check(self) -> EbusdConfig:
        if self.min_c > self.max_c:
            raise ValueError(f"min_c ({self.min_c}) is above max_c ({self.max_c})")
        if (self.temperature is None) != (self.temperature_circuit is None):
            raise ValueError("temperature and temperature_circuit go together")
        if self.kind is LocalKind.HOT_WATER and (self.boost_c is None or self.off_c is None):
            raise ValueError(
                "a hot_water ebusd device needs boost_c and off_c (the plan boosts and stops it)"
            )
        return self


class EspAlthermaConfig(DeviceConfigBase):
    allowed_kinds: ClassVar[frozenset[LocalKind]] = frozenset({LocalKind.HEAT_PUMP, LocalKind.HOT_WATER})
    adapter: Literal["espaltherma"]
    topic: Topic = "espaltherma"
    # Smart Grid value for heat / on / hot_water_boost: 2 = recommended on, 3 = forced on.
    run_mode: Literal[2, 3] = 2
    # Smart Grid value for stop / off / hot_water_off: 0 = free running (heat pump decides), 1 = forced off.
    off_mode: Literal[0, 1] = 0


# ------------------------------------------------------------------------------------------- template

TEMPLATE_FIELDS = frozenset({"device_id", "action", "power_w", "power_kw", "amps", "setpoint_c"})
StateField = Literal[
    "soc_pct", "power_kw", "plugged_in", "charging", "relay_on", "setpoint_c", "temperature_c", "online"
]


def _check_template(value: str) -> str:
    """``str.format`` syntax restricted to plain field names from :data:`TEMPLATE_FIELDS` (no attribute or
    index access, no nested fields); a format spec such as ``{power_kw:.1f}`` is allowed."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"bad template {value!r}: {exc} (write {{{{ and }}}} for literal braces)") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            allowed = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
            raise ValueError(f"unknown template field {{{name}}} in {value!r}; allowed: {allowed}")
        if conversion is not None or (spec and ("{" in spec or "}" in spec)):
            raise ValueError(f"template field {{{name}}} in {value!r}: no conversions or nested fields")
    return value


TemplateText = Annotated[str, Field(max_length=4096), AfterValidator(_check_template)]


class TemplateMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: TemplateText
    payload: TemplateText = ""
    retain: bool = False
    qos: Literal[0, 1, 2] | None = None  # None: the device's qos


class StateMapping(BaseModel):
    """Read one field of the reported state from a topic (plain value, or a JSON value by dotted path)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: TopicFilter
    field: StateField
    json_path: Annotated[str, Field(pattern=r"^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$")] | None = None
    scale: float = 1.0  # numbers are multiplied by this (e.g. 0.001 for W -> kW)
    true_values: tuple[str, ...] = ("on", "true", "1", "online", "yes")
    false_values: tuple[str, ...] = ("off", "false", "0", "offline", "no")


class TemplateConfig(DeviceConfigBase, _CurrentLimits):
    adapter: Literal["template"]
    # Per action kind, the messages to publish (in order). Kinds without an entry are rejected at run time.
    commands: dict[ActionKind, Annotated[list[TemplateMessage], Field(min_length=1, max_length=8)]]
    resend: Literal["refresh", "on_change"] = "refresh"  # on_change: never repeat an identical write
    keepalive_seconds: Annotated[float, Field(ge=1, le=86_400)] | None = None  # repeat whatever happens
    state: list[StateMapping] = []

    @model_validator(mode="after")
    def _has_commands(self) -> TemplateConfig:
        if not self.commands:
            raise ValueError("a template device needs at least one entry under commands")
        return self


DeviceConfig = Annotated[
    OpenEVSEConfig
    | GoEConfig
    | EvccConfig
    | GivTcpConfig
    | TasmotaConfig
    | ShellyConfig
    | EbusdConfig
    | EspAlthermaConfig
    | TemplateConfig,
    Field(discriminator="adapter"),
]


def _unique_ids(devices: list[DeviceConfig]) -> list[DeviceConfig]:
    seen: set[str] = set()
    for d in devices:
        if d.id in seen:
            raise ValueError(f"device id {d.id!r} is used twice")
        seen.add(d.id)
    return devices


DeviceList = Annotated[list[DeviceConfig], AfterValidator(_unique_ids)]

#: Default minimum dwell per device kind, minutes (see ``min_dwell_minutes``).
DWELL_MINUTES: dict[LocalKind, float] = {
    LocalKind.HEAT_PUMP: 30.0,
    LocalKind.BATTERY: 10.0,
    LocalKind.EV: 5.0,
    LocalKind.HOT_WATER: 10.0,
    LocalKind.RELAY: 5.0,
    LocalKind.GENERIC: 0.0,
}


def dwell_minutes(cfg: DeviceConfigBase) -> float:
    return cfg.min_dwell_minutes if cfg.min_dwell_minutes is not None else DWELL_MINUTES[cfg.kind]


def deadman_problems(devices: list[DeviceConfig], reconcile_seconds: float) -> list[str]:
    """Dead-man timers and keepalives that one reconcile pass (``[planner] reconcile_seconds``) would let
    lapse, or that would chatter: one line per problem, naming the option to change."""
    r = reconcile_seconds
    problems: list[str] = []
    for d in devices:
        where = f"devices[{d.id}]"
        if isinstance(d, EvccConfig) and d.kind is LocalKind.BATTERY and d.keepalive_seconds + r > 50:
            problems.append(
                f"{where}.keepalive_seconds: {d.keepalive_seconds:g} s + one reconcile pass ({r:g} s) may "
                "exceed evcc's 60 s batteryMode watchdog (keep the sum at most 50 s)"
            )
        if isinstance(d, GoEConfig) and d.tcl_keepalive_seconds + r > 540:
            problems.append(
                f"{where}.tcl_keepalive_seconds: {d.tcl_keepalive_seconds:g} s + one reconcile pass "
                f"({r:g} s) may exceed the 10-minute tcl reset (keep the sum at most 540 s)"
            )
        if isinstance(d, TasmotaConfig) and d.pulse_time_seconds is not None and d.pulse_time_seconds < 4 * r:
            problems.append(
                f"{where}.pulse_time_seconds: {d.pulse_time_seconds} s is shorter than 4 reconcile passes "
                f"({4 * r:g} s): the relay would chatter (and save its state to flash each time)"
            )
        toggle = d.toggle_after_seconds if isinstance(d, ShellyConfig) else None
        if toggle is not None and toggle < 4 * r:
            problems.append(
                f"{where}.toggle_after_seconds: {toggle} s is shorter than 4 reconcile passes "
                f"({4 * r:g} s): the switch would chatter"
            )
        if isinstance(d, GivTcpConfig) and d.timer_minutes * 60 < 4 * r:
            problems.append(
                f"{where}.timer_minutes: {d.timer_minutes} min is shorter than 4 reconcile passes "
                f"({4 * r:g} s)"
            )
        if isinstance(d, TemplateConfig) and d.keepalive_seconds is not None and d.keepalive_seconds < r:
            problems.append(
                f"{where}.keepalive_seconds: {d.keepalive_seconds:g} s is shorter than one reconcile pass "
                f"({r:g} s): it can only be sent once a pass"
            )
    return problems
