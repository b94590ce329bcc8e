"""Simple physics of the sandbox house: an EV, a home battery, a heat pump, a hot-water tank, weather, load.

Every model is a plain dataclass with a ``step(seconds, ...)`` that integrates one short interval (the world
steps at most a minute at a time). Power signs: positive = drawn from the house supply (charging/heating),
negative = delivered to it (battery discharging).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kraken2mqtt.sandbox.sim_account import UK

BatteryMode = Literal["eco", "charge", "export", "pause"]


def outdoor_temperature(t: datetime, mean_c: float = 6.0, swing_c: float = 4.0) -> float:
    """A winter day: coldest at 03:00, warmest at 15:00 UK time."""
    local = t.astimezone(UK)
    hour = local.hour + local.minute / 60
    return mean_c + swing_c * math.cos((hour - 15) / 24 * 2 * math.pi)


def house_load_kw(t: datetime) -> float:
    """Everything else in the house: a base load with a morning and a bigger evening bump."""
    local = t.astimezone(UK)
    hour = local.hour + local.minute / 60
    load = 0.25
    if 7 <= hour < 9:
        load += 0.4
    if 17 <= hour < 21:
        load += 0.9
    return load


@dataclass
class SimEV:
    """The car. ``local_limit_kw`` is what a locally controlled charger imposes: None = no claim (the car
    charges when Kraken tells it to), 0 = charging disabled, > 0 = charge now at this power."""

    capacity_kwh: float = 60.0
    max_power_kw: float = 7.0
    efficiency: float = 0.9  # grid -> battery
    soc_pct: float = 40.0
    plugged_in: bool = False
    upper_limit_pct: float = 100.0
    local_limit_kw: float | None = None
    power_kw: float = 0.0  # drawn from the grid now

    def charge(self, power_kw: float, seconds: float, limit_pct: float) -> float:
        """Charge at up to ``power_kw`` for ``seconds`` but not beyond ``limit_pct``; grid kWh drawn."""
        limit = min(limit_pct, self.upper_limit_pct)
        if not self.plugged_in or power_kw <= 0 or self.soc_pct >= limit or seconds <= 0:
            self.power_kw = 0.0
            return 0.0
        room_kwh = (limit - self.soc_pct) / 100 * self.capacity_kwh / self.efficiency
        grid_kwh = min(power_kw * seconds / 3600, room_kwh)
        self.soc_pct = min(limit, self.soc_pct + grid_kwh * self.efficiency / self.capacity_kwh * 100)
        self.power_kw = grid_kwh * 3600 / seconds
        return grid_kwh

    def grid_kwh_to(self, target_pct: float) -> float:
        """Grid energy needed to reach ``target_pct`` (0 if already there)."""
        target = min(target_pct, self.upper_limit_pct)
        return max(0.0, (target - self.soc_pct) / 100 * self.capacity_kwh / self.efficiency)


@dataclass
class SimBattery:
    """A home battery behind an inverter (GivEnergy-like). Modes: ``eco`` covers the house load from the
    battery, except in the inverter's own overnight ``charge_window`` (UK minutes after midnight; None = no
    timed charge) where it charges to 100 %; ``charge``/``export`` force charge/discharge at a rate;
    ``pause`` holds the charge. Timed modes revert to ``eco`` at ``mode_until``."""

    capacity_kwh: float = 9.5
    max_charge_kw: float = 3.6
    max_discharge_kw: float = 3.6
    efficiency: float = 0.95  # each way
    soc_pct: float = 50.0
    reserve_pct: float = 4.0
    mode: BatteryMode = "eco"
    charge_rate_kw: float = 3.6
    discharge_rate_kw: float = 3.6
    mode_until: datetime | None = None
    charge_window: tuple[int, int] | None = (2 * 60, 5 * 60)
    power_kw: float = 0.0  # + charging, - discharging

    def command(
        self, mode: BatteryMode, *, until: datetime | None = None, rate_kw: float | None = None
    ) -> None:
        self.mode, self.mode_until = mode, until
        if rate_kw is not None and mode == "charge":
            self.charge_rate_kw = min(max(0.0, rate_kw), self.max_charge_kw)
        if rate_kw is not None and mode == "export":
            self.discharge_rate_kw = min(max(0.0, rate_kw), self.max_discharge_kw)

    def step(self, now: datetime, seconds: float, house_load_kw: float) -> float:
        """Integrate ``seconds``; returns the power drawn from the house supply (kW, negative = supplying)."""
        if self.mode_until is not None and now >= self.mode_until:
            self.mode, self.mode_until = "eco", None
        if self.mode == "charge":
            power = min(self.charge_rate_kw, self.max_charge_kw)
        elif self.mode == "export":
            power = -min(self.discharge_rate_kw, self.max_discharge_kw)
        elif self.mode == "eco" and self._in_window(now):
            power = min(self.charge_rate_kw, self.max_charge_kw)
        elif self.mode == "eco" and house_load_kw < 0:  # spare sun: store it (self-consumption)
            power = min(-house_load_kw, self.max_charge_kw)
        elif self.mode == "eco":
            power = -min(max(0.0, house_load_kw), self.max_discharge_kw)
        else:
            power = 0.0
        hours = seconds / 3600
        if power > 0:
            room = (100 - self.soc_pct) / 100 * self.capacity_kwh / self.efficiency
            power = min(power, room / hours) if hours > 0 else 0.0
            self.soc_pct += power * hours * self.efficiency / self.capacity_kwh * 100
        elif power < 0:
            avail = max(0.0, self.soc_pct - self.reserve_pct) / 100 * self.capacity_kwh * self.efficiency
            power = -min(-power, avail / hours) if hours > 0 else 0.0
            self.soc_pct += power * hours / self.efficiency / self.capacity_kwh * 100
        self.soc_pct = min(100.0, max(0.0, self.soc_pct))
        self.power_kw = power
        return power

    def _in_window(self, now: datetime) -> bool:
        if self.charge_window is None:
            return False
        local = now.astimezone(UK)
        minute = local.hour * 60 + local.minute
        start, end = self.charge_window
        return start <= minute < end if start <= end else minute >= start or minute < end


@dataclass
class SimHeatPump:
    """A modulating air-source heat pump heating one zone. Heat output follows the weather-compensated
    loss plus a proportional term on the room error; the room has a heat loss coefficient ``ua`` and a
    thermal capacity."""

    indoor_c: float = 19.5
    setpoint_c: float = 20.0
    enabled: bool = True
    max_input_kw: float = 2.5
    ua_kw_per_k: float = 0.18
    capacity_kwh_per_k: float = 8.0
    gain_kw_per_k: float = 2.0
    min_output_kw: float = 0.5  # below this it cycles off
    outdoor_c: float = 6.0
    power_kw: float = 0.0  # electrical input
    heat_kw: float = 0.0
    cop: float = 3.0

    @staticmethod
    def cop_at(outdoor_c: float) -> float:
        return min(5.0, max(1.8, 3.0 + 0.08 * (outdoor_c - 5.0)))

    def step(self, seconds: float, outdoor_c: float) -> float:
        """Integrate ``seconds``; returns the electrical power drawn (kW)."""
        self.outdoor_c = outdoor_c
        self.cop = self.cop_at(outdoor_c)
        demand = 0.0
        if self.enabled:
            demand = self.ua_kw_per_k * (self.setpoint_c - outdoor_c) + self.gain_kw_per_k * (
                self.setpoint_c - self.indoor_c
            )
            demand = min(max(0.0, demand), self.max_input_kw * self.cop)
            if demand < self.min_output_kw:
                demand = 0.0
        self.heat_kw = demand
        self.power_kw = demand / self.cop
        loss = self.ua_kw_per_k * (self.indoor_c - outdoor_c)
        self.indoor_c += (demand - loss) * seconds / 3600 / self.capacity_kwh_per_k
        return self.power_kw


@dataclass
class SimHotWater:
    """A hot-water cylinder with an immersion heater on a relay (thermostat cut-out at ``max_c``), a heat-pump
    coil that reheats it from ``reheat_below_c`` to ``reheat_to_c``, and two showers a day (07:00 and 19:00
    UK, 2 kWh each)."""

    temperature_c: float = 48.0
    kwh_per_k: float = 0.2
    loss_kw: float = 0.05
    heater_kw: float = 3.0
    max_c: float = 65.0
    relay_on: bool = False
    reheat_below_c: float = 40.0
    reheat_to_c: float = 46.0
    reheat_heat_kw: float = 3.0
    reheat_cop: float = 2.5
    reheating: bool = False
    power_kw: float = 0.0

    def step(self, now: datetime, seconds: float) -> float:
        """Integrate ``seconds``; returns the electrical power drawn (kW)."""
        local = now.astimezone(UK)
        minute = local.hour * 60 + local.minute
        draw = 6.0 if (420 <= minute < 440 or 1140 <= minute < 1160) else 0.0
        heat = self.heater_kw if self.relay_on and self.temperature_c < self.max_c else 0.0
        if self.temperature_c < self.reheat_below_c:
            self.reheating = True
        elif self.temperature_c >= self.reheat_to_c:
            self.reheating = False
        coil = self.reheat_heat_kw if self.reheating else 0.0
        self.power_kw = heat + coil / self.reheat_cop
        self.temperature_c += (heat + coil - draw - self.loss_kw) * seconds / 3600 / self.kwh_per_k
        self.temperature_c = max(10.0, min(self.max_c + 0.5, self.temperature_c))
        return self.power_kw
