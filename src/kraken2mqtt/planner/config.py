"""Planner settings from the TOML file: the ``[planner]`` section and each device's ``plan`` table.

These are user-facing pydantic models (validated at the edge); :mod:`kraken2mqtt.plan_inputs` (beside the
wiring) turns them, with the snapshot and the devices' reported state, into the planner's dataclasses.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .model import DEFAULT_EV_MIN_RUN_MIN

Kw = Annotated[float, Field(gt=0, le=1000)]
Pct = Annotated[float, Field(ge=0, le=100)]
Eff = Annotated[float, Field(gt=0, le=1)]


class PlanModel(BaseModel):
    """The base of the planner's user-facing models (config and scenario files): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# The range checks shared with the scenario files (planner/scenario.py): what is wrong with the first value.
def soc_range_problem(min_soc_pct: float, max_soc_pct: float) -> str | None:
    return "must not exceed max_soc_pct" if min_soc_pct > max_soc_pct else None


def comfort_range_problem(comfort_min_c: float, comfort_max_c: float) -> str | None:
    return "must not exceed comfort_max_c" if comfort_min_c > comfort_max_c else None


class HotWaterNeedConfig(PlanModel):
    at: time  # local time of day
    kwh: Annotated[float, Field(ge=0, le=100)]


class DevicePlanConfig(PlanModel):
    """How the planner models one local device. Which options are required depends on the device kind:

    ev: capacity_kwh, max_kw · battery: capacity_kwh, max_charge_kw, max_discharge_kw · heat_pump:
    heat_loss_kw_per_k, thermal_mass_kwh_per_k, max_kw · hot_water: capacity_kwh, heater_kw · relay:
    power_kw, energy_kwh.
    """

    capacity_kwh: Kw | None = None
    # EV / charger
    max_kw: Kw | None = None
    min_kw: Annotated[float, Field(ge=0, le=1000)] = 0.0
    efficiency: Eff = 0.9
    continuous: bool = False
    # no charging run shorter than this (minutes) unless the ready-by time needs it; 0: no minimum
    min_run_minutes: Annotated[float, Field(ge=0, le=240)] = DEFAULT_EV_MIN_RUN_MIN
    target_soc_pct: Pct = 80.0
    ready_by: time = time(7, 0)
    assumed_soc_pct: Pct = 50.0  # used while the device reports no state of charge
    # battery
    max_charge_kw: Kw | None = None
    max_discharge_kw: Kw | None = None
    charge_efficiency: Eff = 0.95
    discharge_efficiency: Eff = 0.95
    min_soc_pct: Pct = 0.0
    max_soc_pct: Pct = 100.0
    reserve_soc_pct: Pct = 0.0
    allow_export: bool = True
    # wear, pence per kWh discharged: the plan does not cycle for a smaller gain (e.g. 3-5p for a home
    # battery: its price over its lifetime throughput)
    cycle_cost_p: Annotated[float, Field(ge=0, le=100)] = 0.0
    # heat pump
    heat_loss_kw_per_k: Kw | None = None
    thermal_mass_kwh_per_k: Kw | None = None
    cop_at_7c: Annotated[float, Field(ge=1, le=10)] = 3.5
    comfort_min_c: Annotated[float, Field(ge=5, le=30)] = 19.0
    comfort_max_c: Annotated[float, Field(ge=5, le=30)] = 22.0
    assumed_indoor_c: Annotated[float, Field(ge=-10, le=40)] = 20.0
    # hot-water tank
    heater_kw: Kw | None = None
    heater_cop: Annotated[float, Field(gt=0, le=10)] = 1.0
    assumed_energy_kwh: Annotated[float, Field(ge=0)] = 2.0
    needs: tuple[HotWaterNeedConfig, ...] = ()
    # relay load (e.g. an immersion heater): energy_kwh a day between earliest and deadline
    power_kw: Kw | None = None
    energy_kwh: Annotated[float, Field(ge=0, le=1000)] | None = None
    earliest: time | None = None
    deadline: time | None = None

    @model_validator(mode="after")
    def _ranges(self) -> DevicePlanConfig:
        if problem := soc_range_problem(self.min_soc_pct, self.max_soc_pct):
            raise ValueError(f"min_soc_pct {problem}")
        if problem := comfort_range_problem(self.comfort_min_c, self.comfort_max_c):
            raise ValueError(f"comfort_min_c {problem}")
        return self


REQUIRED: dict[str, tuple[str, ...]] = {
    "ev": ("capacity_kwh", "max_kw"),
    "battery": ("capacity_kwh", "max_charge_kw", "max_discharge_kw"),
    "heat_pump": ("heat_loss_kw_per_k", "thermal_mass_kwh_per_k", "max_kw"),
    "hot_water": ("capacity_kwh", "heater_kw"),
    "relay": ("power_kw", "energy_kwh"),
}


def missing_for(kind: str, plan: DevicePlanConfig) -> list[str]:
    return [name for name in REQUIRED.get(kind, ()) if getattr(plan, name) is None]


#: A local time window "HH:MM-HH:MM", or "" for none.
WINDOW = r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"


class PlannerSettings(PlanModel):
    enabled: bool = True
    horizon_hours: Annotated[float, Field(ge=6, le=48)] = 36.0
    # House base load in kW: one value, or 24/48/96 values over the local day.
    house_load_kw: float | tuple[float, ...] = 0.4
    grid_import_limit_kw: Kw | None = None
    # The DNO's export limit (G99: often 3.68 kW per phase): sun and battery export beyond it is curtailed.
    grid_export_limit_kw: Kw | None = None
    outdoor_c: Annotated[float, Field(ge=-40, le=50)] = 7.0  # used when no heat pump reports one
    timezone: str = "Europe/London"
    # Seconds between two passes of the reconcile loop (it also runs at once when the plan changes).
    reconcile_seconds: Annotated[float, Field(ge=5, le=600)] = 30.0
    # Failsafe while there is no plan (no valid prices: Kraken unreachable for long, prices ran out), for
    # the devices with a plan table. Windows are local "HH:MM-HH:MM" (may wrap midnight); "" disables one
    # (the device is then left to its own logic).
    failsafe_ev_window: Annotated[str, Field(pattern=WINDOW)] = "00:30-05:00"  # charge at max_kw inside
    failsafe_hot_water_window: Annotated[str, Field(pattern=WINDOW)] = ""  # boost inside, off outside
    failsafe_battery: Literal["hold", "follow_kraken"] = "hold"

    @model_validator(mode="after")
    def _profile(self) -> PlannerSettings:
        if isinstance(self.house_load_kw, tuple) and len(self.house_load_kw) not in (24, 48, 96):
            raise ValueError("house_load_kw takes one value, or 24, 48 or 96 values over the day")
        for name in ("failsafe_ev_window", "failsafe_hot_water_window"):
            window = getattr(self, name)
            if window and window[:5] == window[6:]:
                raise ValueError(f"{name}: start and end must differ")
        return self

    def in_window(self, window: str, now: datetime) -> bool:
        """Whether ``now`` is inside a local ``HH:MM-HH:MM`` window (end excluded; may wrap midnight)."""
        if not window:
            return False
        start, end = time.fromisoformat(window[:5]), time.fromisoformat(window[6:])
        local = now.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        if start < end:
            return start <= local < end
        return local >= start or local < end
