"""The simulated EV's routine and Kraken's Intelligent-Octopus-like control of it.

* Routine: the car leaves at ~``leave_at`` UK and plugs in at ~``arrive_at`` with 30–50 % (jitter from the
  seed and the date only, so the same seed gives the same days however time is advanced). It never leaves
  before its ready-by time (+10 min).
* Smart charging: while plugged in with smart control on, dispatches on the cheapest half hours before the
  ready-by time of the device's preferences (:mod:`.smart_charge`); replanned on plug-in, boost,
  suspend/resume, new preferences, and at a half hour when it has fallen behind (e.g. a local charger
  blocked it). Ended dispatches become completed ones (``AT_HOME``, delta = energy actually delivered).
* Boost (``device.boosting``, set by ``updateBoostCharge``): a ``bump-charge`` dispatch from now until the
  upper SoC limit, then ``boosting`` is cleared. Suspend (``device.suspended``) cancels dispatches.
* A local charger's claim (``ev.local_limit_kw``) overrides all of it: blocked, or forced on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from kraken2mqtt.plan_inputs import currency_of
from kraken2mqtt.sandbox.physics import SimEV
from kraken2mqtt.sandbox.prices import AgilePrices
from kraken2mqtt.sandbox.sim_account import UK, SimAccount, SimChargingSession, SimDevice, SimDispatch
from kraken2mqtt.sandbox.sim_events import WorldEvent, span
from kraken2mqtt.sandbox.smart_charge import charge_target, plan_dispatches


@dataclass(frozen=True)
class Trip:
    """One day's routine: the car leaves in the morning and comes back in the evening."""

    leave: datetime
    arrive: datetime
    arrive_soc: float


@dataclass
class Session:
    """The EV's current plug-in."""

    plugged_at: datetime
    start_soc: float
    target: float
    ready_by: datetime
    energy_kwh: float = 0.0
    cost_pence: float = 0.0
    first_charge: datetime | None = None
    last_charge: datetime | None = None
    boosted: bool = False


@dataclass
class Planned:
    dispatch: SimDispatch
    delivered_kwh: float = 0.0


class SmartEV:
    def __init__(
        self,
        account: SimAccount,
        device: SimDevice,
        ev: SimEV,
        prices: AgilePrices,
        *,
        seed: int = 0,
        leave_at: time = time(7, 30),
        arrive_at: time = time(18, 0),
    ) -> None:
        self.account, self.device, self.ev, self.prices = account, device, ev, prices
        self.seed, self.leave_at, self.arrive_at = seed, leave_at, arrive_at
        self.session: Session | None = None
        self.plan: list[Planned] = []
        self.completed = 0
        self._boosting, self._suspended = device.boosting, device.suspended

    # -- routine ---------------------------------------------------------------------------------------------
    def trip(self, day: date) -> Trip:
        """The routine of UK day ``day`` (deterministic for a seed)."""
        rng = random.Random(self.seed * 1_000_003 + day.toordinal())
        leave = _at(day, self.leave_at) + timedelta(minutes=rng.randint(-15, 15))
        arrive = _at(day, self.arrive_at) + timedelta(minutes=rng.randint(-30, 60))
        return Trip(leave, arrive, round(rng.uniform(30.0, 50.0), 1))

    def start(self, t: datetime, events: list[WorldEvent]) -> None:
        """Place the car at ``t``: at home (plugged in) between today's/yesterday's arrival and departure."""
        today = t.astimezone(UK).date()
        trip, yesterday = self.trip(today), self.trip(today - timedelta(days=1))
        self.device.sim_plugged_in = False
        self.ev.soc_pct = trip.arrive_soc + 30.0  # away: what it left with
        if t >= trip.arrive:
            self._plug_in(t, trip.arrive_soc, events)
        elif t < trip.leave:
            self._plug_in(t, yesterday.arrive_soc, events)

    def step(self, t: datetime, events: list[WorldEvent]) -> None:
        """Discrete changes at ``t``: leave/arrive, dispatches ending, reactions to mutations."""
        self._routine(t, events)
        self._finish_dispatches(t, events)
        self._controls(t, events)

    def _routine(self, t: datetime, events: list[WorldEvent]) -> None:
        trip = self.trip(t.astimezone(UK).date())
        s = self.session
        if self.ev.plugged_in and s is not None:
            leave = max(trip.leave, s.ready_by + timedelta(minutes=10))
            if s.plugged_at < trip.leave <= t and t >= leave:
                self._unplug(t, events)
        elif not self.ev.plugged_in and t >= trip.arrive and (s is None or s.plugged_at < trip.arrive):
            self._plug_in(t, trip.arrive_soc, events)

    def _plug_in(self, t: datetime, soc: float, events: list[WorldEvent]) -> None:
        self.ev.soc_pct, self.ev.plugged_in = soc, True
        self.device.sim_plugged_in = True
        target, ready = charge_target(self.device, t)
        self.session = Session(t, soc, target, ready)
        when = ready.astimezone(UK)
        events.append(
            WorldEvent(t, "ev", f"EV plugged in at {soc:.0f} % (target {target:.0f} % by {when:%a %H:%M})")
        )
        self._replan(t, events)

    def _unplug(self, t: datetime, events: list[WorldEvent]) -> None:
        d, s, ev = self.device, self.session, self.ev
        assert s is not None
        for p in list(self.plan):
            if p.dispatch.start < t:
                self._complete(p, t, events)
        self.plan.clear()
        ev.plugged_in, ev.power_kw = False, 0.0
        d.sim_plugged_in = False
        if d.boosting:
            d.boosting = self._boosting = False
        met = "reached" if ev.soc_pct >= s.target - 0.5 else "MISSED"
        events.append(
            WorldEvent(
                t,
                "ev",
                f"EV left at {ev.soc_pct:.0f} % (target {s.target:.0f} % {met}; "
                f"{s.energy_kwh:.1f} kWh for {currency_of(self.account.deployment).money(s.cost_pence)})",
            )
        )
        if s.energy_kwh > 0 and s.first_charge is not None and s.last_charge is not None:
            d.charging_sessions.append(
                SimChargingSession(
                    s.first_charge,
                    s.last_charge,
                    round(s.energy_kwh, 2),
                    round(s.cost_pence, 1),
                    round(ev.soc_pct - s.start_soc, 1),
                    round(ev.soc_pct, 1),
                    type="BOOST" if s.boosted else "SMART",
                )
            )
            del d.charging_sessions[:-20]
        ev.soc_pct = max(5.0, ev.soc_pct - 25.0)  # the day's driving, until it comes back
        self.session = None

    # -- charging --------------------------------------------------------------------------------------------
    def demand(self, t: datetime) -> tuple[float, float, Planned | None]:
        """(power kW, SoC limit %, the Kraken dispatch it counts toward) for the EV at ``t``."""
        ev, d = self.ev, self.device
        if not ev.plugged_in or self.session is None:
            return 0.0, 0.0, None
        running = next((p for p in self.plan if p.dispatch.start <= t < p.dispatch.end), None)
        if ev.local_limit_kw is not None:
            return min(ev.local_limit_kw, ev.max_power_kw), ev.upper_limit_pct, None
        if d.boosting:
            return ev.max_power_kw, ev.upper_limit_pct, running
        if running is not None and not d.suspended:
            return ev.max_power_kw, self.session.target, running
        return 0.0, 0.0, None

    def charge(self, t0: datetime, t1: datetime, price: float) -> float:
        """Charge the car from ``t0`` to ``t1``; grid kWh drawn."""
        kw, limit, planned = self.demand(t0)
        kwh = self.ev.charge(kw, (t1 - t0).total_seconds(), limit)
        seconds = (t1 - t0).total_seconds()
        self.device.sim_soc_pct = round(self.ev.soc_pct, 1)
        self.device.sim_power_kw = round(kwh * 3600 / seconds, 2) if seconds > 0 else 0.0
        if planned is not None:
            planned.delivered_kwh += kwh
        s = self.session
        if s is not None and kwh > 0:
            s.energy_kwh += kwh
            s.cost_pence += kwh * price
            s.first_charge = s.first_charge or t0
            s.last_charge = t1
        return kwh

    # -- dispatches ------------------------------------------------------------------------------------------
    def _complete(self, p: Planned, end: datetime, events: list[WorldEvent]) -> None:
        disp = p.dispatch
        if p in self.plan:
            self.plan.remove(p)
        end = min(end, disp.end)
        if end <= disp.start:
            return
        delta = -round(p.delivered_kwh, 3) if p.delivered_kwh > 0.001 else disp.delta_kwh
        self.account.completed_dispatches.append(
            SimDispatch(disp.start, end, delta, source=None, location="AT_HOME")
        )
        self.completed += 1
        events.append(
            WorldEvent(
                end,
                "dispatch",
                f"dispatch done {span(disp.start, end)} "
                f"({p.delivered_kwh:.1f} kWh, EV at {self.ev.soc_pct:.0f} %)",
            )
        )

    def _finish_dispatches(self, t: datetime, events: list[WorldEvent]) -> None:
        d, ev, s = self.device, self.ev, self.session
        for p in [p for p in self.plan if p.dispatch.end <= t]:
            self._complete(p, t, events)
        if d.boosting and ev.soc_pct >= ev.upper_limit_pct - 0.01:
            d.boosting = self._boosting = False
            for p in [p for p in self.plan if p.dispatch.source == "bump-charge"]:
                self._complete(p, t, events)
            events.append(WorldEvent(t, "boost", f"boost finished: EV at {ev.soc_pct:.0f} %"))
            self._replan(t, events)
        elif (
            t.minute % 30 == 0
            and s is not None
            and not d.boosting
            and not d.suspended
            and ev.local_limit_kw is None
            and not any(p.dispatch.start <= t < p.dispatch.end for p in self.plan)
        ):
            planned = -sum(p.dispatch.delta_kwh for p in self.plan)
            if ev.grid_kwh_to(s.target) > planned + 0.5:  # fallen behind: Kraken replans
                self._replan(t, events)

    def _controls(self, t: datetime, events: list[WorldEvent]) -> None:
        """React to mutations: boost, suspend/resume, new preferences."""
        d, s = self.device, self.session
        changed = False
        if d.boosting != self._boosting:
            self._boosting = d.boosting
            if s is not None and d.boosting:
                s.boosted = True
            events.append(WorldEvent(t, "boost", "boost requested" if d.boosting else "boost cancelled"))
            changed = True
        if d.suspended != self._suspended:
            self._suspended = d.suspended
            text = "smart control suspended" if d.suspended else "smart control resumed"
            events.append(WorldEvent(t, "control", text))
            changed = True
        if s is not None:
            target = charge_target(d, s.plugged_at)
            if target != (s.target, s.ready_by):
                s.target, s.ready_by = target
                when = s.ready_by.astimezone(UK)
                events.append(
                    WorldEvent(t, "control", f"charge target now {s.target:.0f} % by {when:%a %H:%M}")
                )
                changed = True
        if changed:
            self._replan(t, events)

    def _replan(self, t: datetime, events: list[WorldEvent]) -> None:
        d, s, ev = self.device, self.session, self.ev
        had = bool(self.plan)
        for p in list(self.plan):
            if p.dispatch.start < t:
                self._complete(p, t, events)
        self.plan.clear()
        if s is None or not ev.plugged_in or d.suspended:
            if had:
                events.append(WorldEvent(t, "dispatch", "planned dispatches cancelled"))
            return
        if d.boosting:
            need = ev.grid_kwh_to(ev.upper_limit_pct)
            end = t + timedelta(hours=max(need, 0.1) / ev.max_power_kw)
            self.plan = [Planned(SimDispatch(t, end, -round(need, 3), source="bump-charge"))]
            events.append(WorldEvent(t, "boost", f"boost charging {span(t, end)} ({need:.1f} kWh)"))
            return
        need = ev.grid_kwh_to(s.target)
        if need < 0.05:
            return
        plan = plan_dispatches(t, s.ready_by, need, ev.max_power_kw, self.prices.price_at)
        self.plan = [Planned(p) for p in plan]
        rate = currency_of(self.account.deployment).rate
        for disp in plan:
            cheapest = min(self.prices.price_at(x) for x in _slot_starts(disp.start, disp.end))
            events.append(
                WorldEvent(
                    t,
                    "dispatch",
                    f"dispatch planned {span(disp.start, disp.end)} "
                    f"({-disp.delta_kwh:.1f} kWh, from {rate(cheapest)})",
                )
            )

    def planned_dispatches(self, now: datetime, ahead: timedelta) -> list[SimDispatch]:
        """The plan as ``plannedDispatches`` shows it: not ended, starting within ``ahead``."""
        return [p.dispatch for p in self.plan if p.dispatch.end > now and p.dispatch.start < now + ahead]


def _at(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=UK).astimezone(UTC)


def _slot_starts(start: datetime, end: datetime) -> list[datetime]:
    out, t = [], start
    while t < end:
        out.append(t)
        t = t.replace(minute=(t.minute // 30) * 30, second=0, microsecond=0) + timedelta(minutes=30)
    return out
