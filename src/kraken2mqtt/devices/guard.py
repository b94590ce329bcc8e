"""How the driver treats devices that belong to people (pure: no I/O, ``now`` passed in).

* **Leave alone means leave alone.** A device the plan does not control gets no command. Handing it back
  (``follow_kraken``) is the adapter's one explicit release message, then silence.
* **Never fight a person.** Once the device confirmed what we asked, a different value read back (that we
  did not send) is a person's change: the device is left alone for ``manual_hold_minutes``.
* **No flapping.** Actions are compared after the device's quantisation (:meth:`Adapter.quantise`); a
  setpoint moves only past a hysteresis; a decided action holds for a minimum dwell per kind; a heat pump
  keeps its minimum run and off times and its maximum starts per hour; a battery holds a mode for the dwell
  unless the price changes sign; an EV current changes at most once per dwell (starting and stopping is at
  once).
* **Spare the flash.** Persistent writes (:attr:`Message.persistent`) are counted per day and capped; the
  day's counts (:class:`DeviceDay`) are saved across restarts, so a restart does not grant a fresh budget.
* Commands sent are counted per day and kind: ``change``, ``keepalive`` (an identical value repeated: a
  refresh or a dead-man's keepalive) and ``release``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from kraken2mqtt.devices.base import ON_KINDS, LocalKind
from kraken2mqtt.devices.config import DeviceConfigBase, dwell_minutes
from kraken2mqtt.planner.model import ActionKind, DeviceAction

#: How long after a command a different read-back is still the device catching up, not a person.
GRACE = timedelta(seconds=90)
#: Actions that a person asked for (planner mode, a change from Home Assistant: mqtt/holds.py) or that keep
#: a house safe apply at once.
_IMMEDIATE_PREFIXES = ("planner mode", "failsafe", "held for you")
#: A setpoint a person set from Home Assistant (mqtt/holds.py) is theirs to the step: no hysteresis.
_PERSONS_PREFIX = "held for you"
COMMAND_KINDS = ("change", "keepalive", "release")
#: A battery's planned power moves by less than this: its rate is left as it is (each rate is a register
#: write kept by the inverter).
BATTERY_POWER_HYSTERESIS_KW = 0.5


@dataclass(frozen=True, slots=True)
class DeviceDay:
    """One device's counts for one day, as saved across restarts: messages by kind, persistent writes
    (the flash budget) and whether the budget was reached (said once a day)."""

    day: date
    counts: Mapping[str, int]
    persistent: int
    budget_hit: bool = False


@dataclass
class DeviceControl:
    """The driver's bookkeeping for one device."""

    controlled: bool = False  # we sent it something that is still in force
    checked_hold: bool = False  # the first pass looked for a control of ours left from a crash
    applied: DeviceAction | None = None  # the (quantised) action in force
    applied_at: datetime | None = None
    price_sign: int = 0  # sign of the import price when ``applied`` was decided
    on_since: datetime | None = None  # heat pump: running since
    off_since: datetime | None = None  # heat pump: stopped since
    starts: deque[datetime] = field(default_factory=deque)
    expect: str | None = None  # control value we expect the device to read back
    expect_since: datetime | None = None
    confirmed: bool = False  # the device read back ``expect`` since we asked for it
    hold_until: datetime | None = None  # a person's change is respected until then
    day: date | None = None
    counts: Counter[str] = field(default_factory=Counter)
    persistent_today: int = 0
    budget_hit: bool = False
    result: str | None = None
    errors: int = 0

    def today(self) -> DeviceDay | None:
        """The counts of the day in progress (None before the first pass)."""
        if self.day is None:
            return None
        counts = {k: int(self.counts.get(k, 0)) for k in COMMAND_KINDS}
        return DeviceDay(self.day, counts, self.persistent_today, self.budget_hit)

    def restore(self, saved: DeviceDay) -> None:
        """Take over the counts a previous run saved (the next :meth:`roll` drops them on another day)."""
        self.day = saved.day
        self.counts = Counter({k: int(v) for k, v in saved.counts.items() if k in COMMAND_KINDS})
        self.persistent_today = int(saved.persistent)
        self.budget_hit = bool(saved.budget_hit)

    def roll(self, now: datetime) -> None:
        if self.day != now.date():
            self.day = now.date()
            self.counts.clear()
            self.persistent_today = 0
            self.budget_hit = False


def _sign(x: float | None) -> int:
    if x is None:
        return 0
    return (x > 0) - (x < 0)


def _hysteresis(cfg: DeviceConfigBase) -> float:
    if cfg.setpoint_hysteresis_c is not None:
        return cfg.setpoint_hysteresis_c
    step = getattr(cfg, "step_c", 0.5)
    return 1.5 * float(step)


def same_for_device(
    a: DeviceAction, b: DeviceAction, hysteresis_c: float = 0.0, hysteresis_kw: float = 0.0
) -> bool:
    """Whether two quantised actions make the device do the same (setpoints within ``hysteresis_c``,
    powers within ``hysteresis_kw``)."""
    if a.kind is not b.kind or abs(a.power_kw - b.power_kw) > max(hysteresis_kw, 1e-6):
        return False
    if a.setpoint_c is None or b.setpoint_c is None:
        return a.setpoint_c is b.setpoint_c
    return abs(a.setpoint_c - b.setpoint_c) < max(hysteresis_c, 1e-6)


def stabilise(
    cfg: DeviceConfigBase,
    ctl: DeviceControl,
    wanted: DeviceAction,
    now: datetime,
    import_p: float | None = None,
) -> DeviceAction:
    """The action to apply now, given the (quantised) ``wanted`` one and what is in force; updates ``ctl``
    when the applied action changes."""
    prev = ctl.applied
    power_band = BATTERY_POWER_HYSTERESIS_KW if cfg.kind is LocalKind.BATTERY else 0.0
    hysteresis = 0.0 if wanted.reason.startswith(_PERSONS_PREFIX) else _hysteresis(cfg)
    if prev is not None and same_for_device(prev, wanted, hysteresis, power_band):
        if prev.reason != wanted.reason:  # the same for the device; the latest reason for people
            prev = ctl.applied = replace(prev, reason=wanted.reason)
        return prev
    urgent = wanted.reason.startswith(_IMMEDIATE_PREFIXES)
    if prev is not None and not urgent and not _may_change(cfg, ctl, prev, wanted, now, import_p):
        return prev
    _apply(cfg, ctl, wanted, now, import_p)
    return wanted


def _may_change(
    cfg: DeviceConfigBase,
    ctl: DeviceControl,
    prev: DeviceAction,
    wanted: DeviceAction,
    now: datetime,
    import_p: float | None,
) -> bool:
    if ctl.applied_at is None:
        return True
    dwell = timedelta(minutes=dwell_minutes(cfg))
    held = now - ctl.applied_at
    if cfg.kind is LocalKind.HEAT_PUMP:
        was_on, on = prev.kind in ON_KINDS, wanted.kind in ON_KINDS
        if was_on and not on:
            return ctl.on_since is None or now - ctl.on_since >= timedelta(minutes=cfg.min_run_minutes)
        if on and not was_on:
            if ctl.off_since is not None and now - ctl.off_since < timedelta(minutes=cfg.min_off_minutes):
                return False
            recent = [t for t in ctl.starts if now - t < timedelta(hours=1)]
            return len(recent) < cfg.max_starts_per_hour
        return held >= dwell
    if cfg.kind is LocalKind.EV and prev.kind is not wanted.kind:
        return True  # starting and stopping a charge is at once; only current changes dwell
    if cfg.kind is LocalKind.BATTERY and prev.kind is not wanted.kind and _sign(import_p) != ctl.price_sign:
        return True
    return held >= dwell


def _apply(
    cfg: DeviceConfigBase, ctl: DeviceControl, action: DeviceAction, now: datetime, import_p: float | None
) -> None:
    prev = ctl.applied
    ctl.applied, ctl.applied_at, ctl.price_sign = action, now, _sign(import_p)
    on = action.kind in ON_KINDS
    was_on = prev is not None and prev.kind in ON_KINDS
    if on and not was_on:
        ctl.on_since, ctl.off_since = now, None
        ctl.starts.append(now)
        while ctl.starts and now - ctl.starts[0] >= timedelta(hours=1):
            ctl.starts.popleft()
    elif was_on and not on:
        ctl.on_since, ctl.off_since = None, now


def forget_applied(ctl: DeviceControl, now: datetime) -> None:
    """The device was handed back: the next action we take is decided afresh (a stop counts as off)."""
    if ctl.applied is not None and ctl.applied.kind in ON_KINDS:
        ctl.on_since, ctl.off_since = None, now
    ctl.applied = ctl.applied_at = None
    ctl.expect = ctl.expect_since = None
    ctl.confirmed = False


def watch_person(cfg: DeviceConfigBase, ctl: DeviceControl, value: str | None, now: datetime) -> bool:
    """Look at the control value read back; True when it shows a person's change (then ``ctl`` holds)."""
    if not ctl.controlled or ctl.expect is None or value is None or cfg.manual_hold_minutes <= 0:
        return False
    if value == ctl.expect:
        ctl.confirmed = True
        return False
    if not ctl.confirmed or ctl.expect_since is None or now - ctl.expect_since < GRACE:
        return False
    ctl.hold_until = now + timedelta(minutes=cfg.manual_hold_minutes)
    ctl.controlled = False
    forget_applied(ctl, now)
    return True


def expect(ctl: DeviceControl, value: str | None, now: datetime) -> None:
    """We now want the device to read back ``value``."""
    if value != ctl.expect:
        ctl.expect, ctl.expect_since, ctl.confirmed = value, now, False


RELEASE_KINDS = frozenset({ActionKind.FOLLOW_KRAKEN})
