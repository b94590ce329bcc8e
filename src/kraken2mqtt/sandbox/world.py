"""The living sandbox account: a simulated house whose state evolves with (simulated) time.

:meth:`SimWorld.advance` is a pure state transition: given a time it integrates the physics up to it in steps
of at most a minute, applies the day's routine and Kraken's smart charging, and writes the results into the
:class:`SimAccount` the fake Kraken server serves. It never sleeps and never reads a clock; advancing to a
time already reached does nothing, and big jumps are fine (one step per simulated minute).

What happens:

* **EV** (:mod:`.smart_ev`): leaves at ~07:30 UK, plugs in at ~18:00 with 30–50 %; while plugged in with
  smart control on, Intelligent-Octopus-like dispatches on the cheapest half hours before the ready-by time
  of its preferences, published as ``plannedDispatches`` (24 h ahead) and then ``completedDispatches`` (12 h
  behind, ``AT_HOME``); boost (``bump-charge``) and suspend as the mutations set them. A local charger (see
  :mod:`.sim_devices`) can block or force charging: :meth:`SimWorld.set_ev_charger`.
* **Prices**: the import tariff's rates are today's replayed Agile prices, plus tomorrow's from 16:00 UK.
* **Battery, heat pump, hot water**: :mod:`kraken2mqtt.sandbox.physics`; commanded by the local sim devices
  (:meth:`command_battery`, :meth:`set_heat_pump`, :meth:`set_immersion`) or, for the heat pump, by Kraken's
  ``setRoomTemperature``/``setClimateControlState``. Their state is mirrored into the account (inverter
  telemetry, heat-pump controller and legacy heat pump).
* **Prepay**: credit falls with the import at the current price plus the standing charge; below
  ``low_credit_pence`` an auto top-up (the balance-triggered payment schedule's amount) adds credit.

All reads and writes of the account happen under ``lock`` (pass the fake server's ``fk.lock``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from kraken2mqtt.clock import Clock
from kraken2mqtt.plan_inputs import currency_of
from kraken2mqtt.sandbox.physics import (
    BatteryMode,
    SimBattery,
    SimEV,
    SimHeatPump,
    SimHotWater,
    house_load_kw,
    outdoor_temperature,
)
from kraken2mqtt.sandbox.prices import AgilePrices
from kraken2mqtt.sandbox.sim_account import UK, SimAccount, SimDevice, SimTariff
from kraken2mqtt.sandbox.sim_events import WorldEvent
from kraken2mqtt.sandbox.sim_prepay import SimPrepay
from kraken2mqtt.sandbox.sim_weather import SimSky
from kraken2mqtt.sandbox.smart_ev import SmartEV, Trip

STEP = timedelta(minutes=1)
PLANNED_AHEAD = timedelta(hours=24)
COMPLETED_BEHIND = timedelta(hours=12)

__all__ = ["SimWorld", "Trip", "WorldEvent", "WorldTotals"]


@dataclass
class WorldTotals:
    """Running totals since the world started (for summaries and tests)."""

    import_kwh: float = 0.0
    cost_pence: float = 0.0
    ev_kwh: float = 0.0
    battery_in_kwh: float = 0.0
    battery_out_kwh: float = 0.0
    heat_pump_kwh: float = 0.0
    immersion_kwh: float = 0.0
    solar_kwh: float = 0.0
    export_kwh: float = 0.0
    indoor_min_c: float = 99.0
    indoor_max_c: float = -99.0


class SimWorld:
    def __init__(
        self,
        account: SimAccount,
        clock: Clock | None = None,
        rng_seed: int = 0,
        *,
        start: datetime | None = None,
        prices: AgilePrices | None = None,
        ev: SimEV | None = None,
        battery: SimBattery | None = None,
        heat_pump: SimHeatPump | None = None,
        hot_water: SimHotWater | None = None,
        lock: AbstractContextManager[Any] | None = None,
        low_credit_pence: int = 500,
        leave_at: time = time(7, 30),
        arrive_at: time = time(18, 0),
    ) -> None:
        if start is None and clock is None:
            raise ValueError("SimWorld needs a clock or a start time")
        self.account = account
        self.clock = clock
        self.prices = prices or AgilePrices.packaged()
        self.lock: AbstractContextManager[Any] = lock or threading.RLock()
        self.ev_device: SimDevice | None = account.legacy_device()
        d = self.ev_device
        cap = (d.battery_size_kwh if d else None) or 60.0
        limit = (d.upper_soc_limit if d else None) or 100
        self.ev = ev or SimEV(capacity_kwh=cap, upper_limit_pct=float(limit))
        self.smart_ev: SmartEV | None = (
            None
            if d is None
            else SmartEV(
                account, d, self.ev, self.prices, seed=rng_seed, leave_at=leave_at, arrive_at=arrive_at
            )
        )
        self.battery = battery or SimBattery(soc_pct=_inverter_soc(account))
        self.heat_pump = heat_pump or SimHeatPump()
        self.hot_water = hot_water or SimHotWater()
        self.prepay = SimPrepay(account, low_credit_pence)
        self.totals = WorldTotals()
        self.sky = SimSky(rng_seed)  # sun on the house's panels (sandbox/sim_weather.py)
        self.now: datetime = (start or _require(clock).now()).astimezone(UTC)
        self.grid_kw = 0.0
        self.solar_kw = 0.0  # the panels' output now (GivTCP's PV_Power)
        self._pending: list[WorldEvent] = []
        self._published_until: datetime | None = None
        self._hp_seen: tuple[float, bool] | None = None
        with self.lock:
            self._init_state()

    # -- public API -----------------------------------------------------------------------------------------
    def advance(self, now: datetime) -> list[WorldEvent]:
        """Move the world to ``now`` (no-op if already there or past); the events that happened."""
        now = now.astimezone(UTC)
        with self.lock:
            self._heat_pump_commands()
            events: list[WorldEvent] = []
            while self.now < now:
                nxt = min(now, self.now.replace(second=0, microsecond=0) + STEP)
                self._integrate(self.now, nxt)
                self.now = nxt
                self._discrete(nxt, events)
            self._sync_account()
            events, self._pending = self._pending + events, []
        return events

    async def run(self, on_event: Callable[[WorldEvent], None], *, step_seconds: float = 60.0) -> None:
        """Follow the clock forever: advance, report events, sleep ``step_seconds`` of simulated time."""
        clock = _require(self.clock)
        while True:
            for event in self.advance(clock.now()):
                on_event(event)
            await clock.sleep(step_seconds)

    @property
    def low_credit_pence(self) -> int:
        return self.prepay.low_credit_pence

    def trip(self, day: date) -> Trip | None:
        """The EV's routine of UK day ``day`` (deterministic for a seed); None without an EV."""
        return None if self.smart_ev is None else self.smart_ev.trip(day)

    @property
    def ready_by(self) -> datetime | None:
        s = None if self.smart_ev is None else self.smart_ev.session
        return None if s is None else s.ready_by

    @property
    def target_soc(self) -> float | None:
        s = None if self.smart_ev is None else self.smart_ev.session
        return None if s is None else s.target

    def ev_power_kw(self) -> float:
        """The power the EV draws at this moment (0 when it is full, away or not asked to charge)."""
        with self.lock:
            if self.smart_ev is None:
                return 0.0
            kw, limit, _ = self.smart_ev.demand(self.now)
            if kw <= 0 or self.ev.soc_pct >= min(limit, self.ev.upper_limit_pct):
                return 0.0
            return kw

    def set_ev_charger(self, limit_kw: float | None, source: str = "charger") -> None:
        """A local charger's claim: None = released (Kraken decides), 0 = disabled, > 0 = charge now."""
        with self.lock:
            if limit_kw == self.ev.local_limit_kw:
                return
            self.ev.local_limit_kw = limit_kw
            what = (
                "released (Kraken decides)"
                if limit_kw is None
                else "charging disabled"
                if limit_kw <= 0
                else f"charge now at {limit_kw:.1f} kW"
            )
            self._note("ev", f"{source}: {what}")

    def command_battery(
        self, mode: BatteryMode, *, until: datetime | None = None, rate_kw: float | None = None
    ) -> None:
        with self.lock:
            self.battery.command(mode, until=until, rate_kw=rate_kw)
            extra = f" at {rate_kw:.1f} kW" if rate_kw is not None else ""
            end = f" until {until.astimezone(UK):%H:%M}" if until is not None else ""
            self._note("battery", f"battery: {mode}{extra}{end} (SoC {self.battery.soc_pct:.0f} %)")

    def set_battery_rate(self, *, charge_kw: float | None = None, discharge_kw: float | None = None) -> None:
        with self.lock:
            b = self.battery
            if charge_kw is not None:
                b.charge_rate_kw = min(max(0.0, charge_kw), b.max_charge_kw)
            if discharge_kw is not None:
                b.discharge_rate_kw = min(max(0.0, discharge_kw), b.max_discharge_kw)

    def set_heat_pump(
        self, *, setpoint_c: float | None = None, enabled: bool | None = None, source: str = "local"
    ) -> None:
        with self.lock:
            self._set_heat_pump(setpoint_c, enabled, source)
            self._sync_heat_pump()

    def _set_heat_pump(self, setpoint_c: float | None, enabled: bool | None, source: str) -> None:
        hp = self.heat_pump
        if setpoint_c is not None and setpoint_c != hp.setpoint_c:
            hp.setpoint_c = setpoint_c
            self._note("heat_pump", f"heat pump setpoint {setpoint_c:.1f} °C ({source})")
        if enabled is not None and enabled != hp.enabled:
            hp.enabled = enabled
            self._note("heat_pump", f"heat pump {'on' if enabled else 'off'} ({source})")

    def set_immersion(self, on: bool, source: str = "relay") -> None:
        with self.lock:
            if on != self.hot_water.relay_on:
                self.hot_water.relay_on = on
                self._note(
                    "hot_water",
                    f"{source}: immersion {'on' if on else 'off'} "
                    f"(tank {self.hot_water.temperature_c:.0f} °C)",
                )

    def status_line(self) -> str:
        """One line for the terminal: price, EV, battery, room, water, credit."""
        with self.lock:
            t = self.now
            ev = self.ev
            ev_text = f"EV {ev.soc_pct:.0f} % {'plugged' if ev.plugged_in else 'away'}" + (
                f" {ev.power_kw:.1f} kW" if ev.power_kw > 0 else ""
            )
            cr = self.prepay.credit
            cur = currency_of(self.account.deployment)
            credit = "" if cr is None else f" | credit {cur.money(cr)}"
            return (
                f"{t.astimezone(UK):%a %H:%M} | Agile {cur.rate(self.prices.price_at(t))} | {ev_text}"
                f" | battery {self.battery.soc_pct:.0f} % {self.battery.power_kw:+.1f} kW"
                f" | room {self.heat_pump.indoor_c:.1f} °C (HP {self.heat_pump.power_kw:.1f} kW)"
                f" | water {self.hot_water.temperature_c:.0f} °C | grid {self.grid_kw:.1f} kW{credit}"
            )

    # -- internals ------------------------------------------------------------------------------------------
    def _note(self, kind: str, text: str) -> None:
        self._pending.append(WorldEvent(self.now, kind, text))

    def _init_state(self) -> None:
        acc, t = self.account, self.now
        acc.planned_dispatches.clear()
        acc.completed_dispatches.clear()
        hp = acc.legacy_heat_pump
        if hp is not None:
            self.heat_pump.setpoint_c, self.heat_pump.enabled = hp.target_climate_c, hp.climate_enabled
            self.heat_pump.indoor_c = hp.current_climate_c
            self._hp_seen = (hp.target_climate_c, hp.climate_enabled)
        self.heat_pump.outdoor_c = outdoor_temperature(t)
        if self.smart_ev is not None:
            self.smart_ev.start(t, self._pending)
        self._update_prices(t, self._pending, announce=False)
        self._sync_account()

    def _integrate(self, t0: datetime, t1: datetime) -> None:
        seconds = (t1 - t0).total_seconds()
        hours = seconds / 3600
        price = self.prices.price_at(t0)
        ev_kwh = 0.0 if self.smart_ev is None else self.smart_ev.charge(t0, t1, price)
        load = house_load_kw(t0)
        hp_kw = self.heat_pump.step(seconds, outdoor_temperature(t0))
        hw_kw = self.hot_water.step(t0, seconds)
        solar_kw = self.solar_kw = self.sky.pv_kw(t0)
        house = load + hp_kw + hw_kw + self.ev.power_kw - solar_kw
        bat_kw = self.battery.step(t0, seconds, house)
        self.grid_kw = house + bat_kw
        import_kwh = max(0.0, self.grid_kw) * hours
        cost = import_kwh * price + self._standing_charge() * hours / 24
        self.prepay.spend(cost)
        tot = self.totals
        tot.import_kwh += import_kwh
        tot.cost_pence += cost
        tot.ev_kwh += ev_kwh
        tot.battery_in_kwh += max(0.0, bat_kw) * hours
        tot.battery_out_kwh += max(0.0, -bat_kw) * hours
        tot.heat_pump_kwh += hp_kw * hours
        tot.immersion_kwh += hw_kw * hours
        tot.solar_kwh += solar_kw * hours
        tot.export_kwh += max(0.0, -self.grid_kw) * hours
        tot.indoor_min_c = min(tot.indoor_min_c, self.heat_pump.indoor_c)
        tot.indoor_max_c = max(tot.indoor_max_c, self.heat_pump.indoor_c)

    def _discrete(self, t: datetime, events: list[WorldEvent]) -> None:
        if self.smart_ev is not None:
            self.smart_ev.step(t, events)
        self._update_prices(t, events)
        self._roll_calendar(t)
        topped = self.prepay.top_up(t)
        if topped is not None:
            events.append(topped)

    # prices and calendar ------------------------------------------------------------------------------------
    def _import_tariff(self) -> SimTariff | None:
        for prop in self.account.properties:
            for mp in prop.meter_points:
                if mp.direction != "IMPORT":
                    continue
                for ag in mp.agreements:
                    if ag.tariff.kind == "HALF_HOURLY":
                        return ag.tariff
        return None

    def _standing_charge(self) -> float:
        tariff = self._import_tariff()
        return 0.0 if tariff is None else tariff.standing_charge

    def _update_prices(self, t: datetime, events: list[WorldEvent], *, announce: bool = True) -> None:
        until = self.prices.published_until(t)
        if until == self._published_until:
            return
        grew = self._published_until is not None and until - self._published_until >= timedelta(hours=23)
        self._published_until = until
        tariff = self._import_tariff()
        if tariff is None:
            return
        tariff.unit_rates = self.prices.published_rates(t)
        if announce and grew:
            day = (until - timedelta(hours=1)).astimezone(UK).date()
            rates = self.prices.day_rates(day)
            low = min(rates, key=lambda r: r.value)
            high = max(rates, key=lambda r: r.value)
            rate = currency_of(self.account.deployment).rate
            events.append(
                WorldEvent(
                    t,
                    "prices",
                    f"Agile prices for {day:%a %d %b} published: {rate(low.value)} at "
                    f"{low.valid_from.astimezone(UK):%H:%M} to {rate(high.value)} at "
                    f"{high.valid_from.astimezone(UK):%H:%M}",
                )
            )

    def _roll_calendar(self, t: datetime) -> None:
        """Keep the demo's greenness forecast starting today, and bring saving sessions that ended over a
        day ago back a week later (upcoming, not joined)."""
        g = self.account.greenness
        if g:
            midnight = datetime.combine(t.astimezone(UK).date(), time(0), tzinfo=UK).astimezone(UTC)
            days = (midnight - g[0].valid_from) // timedelta(days=1)
            if days >= 1:
                shift = timedelta(days=days)
                for item in g:
                    item.valid_from += shift
                    item.valid_to += shift
        for event in self.account.saving_events:
            if event.end < t - timedelta(days=1):
                weeks = timedelta(weeks=1 + (t - event.end) // timedelta(weeks=1))
                event.start += weeks
                event.end += weeks
                event.status, event.joined = "UPCOMING", False

    # account mirror ---------------------------------------------------------------------------------------
    def _sync_account(self) -> None:
        acc, t = self.account, self.now
        if self.smart_ev is not None:
            acc.planned_dispatches[:] = self.smart_ev.planned_dispatches(t, PLANNED_AHEAD)
        acc.completed_dispatches[:] = [d for d in acc.completed_dispatches if d.end > t - COMPLETED_BEHIND]
        self.prepay.sync()
        acc.site_demand_w = round(max(0.0, self.grid_kw) * 1000, 1)
        b = self.battery
        for dev in acc.devices:
            if dev.kind == "inverter" and dev.telemetry is not None:
                tel = dev.telemetry
                tel.battery_soc = round(b.soc_pct, 1)
                tel.battery_power_kw = round(-b.power_kw, 3)  # API: negative = charging
                tel.inverter_power_kw = round(-b.power_kw, 3)
                tel.grid_power_kw = round(-self.grid_kw, 3)  # API: negative = importing
                tel.solar_power_kw = round(self.solar_kw, 3)
                tel.site_consumption_kw = round(self.grid_kw - b.power_kw + self.solar_kw, 3)
                tel.site_export_kw = round(max(0.0, -self.grid_kw), 3)
            if dev.kind == "heat_pump":
                dev.hp_zone_temperatures = {
                    "ZONE1": round(self.heat_pump.indoor_c, 2),
                    "WATER": round(self.hot_water.temperature_c, 1),
                }
                dev.hp_target_temperature = self.heat_pump.setpoint_c
        self._sync_heat_pump()

    def _heat_pump_commands(self) -> None:
        """Apply setRoomTemperature / setClimateControlState made since the last sync."""
        legacy = self.account.legacy_heat_pump
        if legacy is None or self._hp_seen is None:
            return
        target, enabled = self._hp_seen
        if legacy.target_climate_c != target:
            self._set_heat_pump(legacy.target_climate_c, None, "Kraken")
        if legacy.climate_enabled != enabled:
            self._set_heat_pump(None, legacy.climate_enabled, "Kraken")

    def _sync_heat_pump(self) -> None:
        hp, acc = self.heat_pump, self.account
        legacy = acc.legacy_heat_pump
        if legacy is not None:
            legacy.current_climate_c = round(hp.indoor_c, 1)
            legacy.target_climate_c, legacy.climate_enabled = hp.setpoint_c, hp.enabled
            legacy.current_water_c = round(self.hot_water.temperature_c, 1)
            self._hp_seen = (hp.setpoint_c, hp.enabled)
        for c in acc.heat_pump_controllers:
            c.cop = round(hp.cop, 2)
            c.power_input_kw = round(hp.power_kw, 3)
            c.heat_output_kw = round(hp.heat_kw, 3)
            c.outdoor_temperature_c = round(hp.outdoor_c, 1)
            for z in c.zones:
                if z.zone == "ZONE1":
                    z.setpoint_c = hp.setpoint_c
                    z.relay_on = z.heat_demand = hp.heat_kw > 0
                if z.zone == "WATER":
                    z.relay_on = self.hot_water.relay_on
            for i, sensor in enumerate(c.sensors):
                sensor.temperature_c = round(hp.indoor_c - 0.6 * i, 1)


def _require(clock: Clock | None) -> Clock:
    if clock is None:
        raise ValueError("this SimWorld has no clock")
    return clock


def _inverter_soc(account: SimAccount) -> float:
    for d in account.devices:
        if d.kind == "inverter" and d.telemetry is not None:
            return d.telemetry.battery_soc
    return 50.0
