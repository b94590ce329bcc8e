"""Typed inputs and outputs of the planner.

Frozen dataclasses with slots: they sit on the hot path (a plan is made every time an input changes and
the benchmark makes tens of thousands), so no validation framework here; :mod:`.scenario` validates
user-written files at the edge.

Units: prices in pence/kWh, power in kW, energy in kWh, temperatures in °C, user-facing state of charge in
percent (kWh internally). Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .money import GBP, Currency

#: Defaults shared with the config and the benchmarks.
DEFAULT_FORECAST_RULE = "min_1_7_level"
DEFAULT_EV_MIN_RUN_MIN = 15.0

# --------------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True, slots=True)
class TariffSlot:
    """One tariff slot (usually 30 min, 15 min on some tariffs), in the currency's minor unit per kWh (the
    planner's; Kraken's own, with ``Decimal`` values, is ``kraken.snapshot.PriceSlot``)."""

    start: datetime
    end: datetime
    import_p: float
    export_p: float = 0.0


@dataclass(frozen=True, slots=True)
class DispatchWindow:
    """An Intelligent Octopus dispatch: the whole house is billed at the off-peak rate inside it."""

    start: datetime
    end: datetime
    source: str = "smart-charge"


@dataclass(frozen=True, slots=True)
class Tariff:
    """Published prices, plus the rate that applies inside dispatch windows (if the tariff has them)."""

    prices: tuple[TariffSlot, ...]
    off_peak_p: float | None = None
    standing_charge_p_per_day: float = 0.0


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """House base load: equal steps over a local day (24, 48 or 96 values), in kW."""

    kw: tuple[float, ...]
    tz: str = "Europe/London"


@dataclass(frozen=True, slots=True)
class TemperaturePoint:
    """Outdoor temperature forecast point; the planner holds each value until the next point."""

    at: datetime
    celsius: float


@dataclass(frozen=True, slots=True)
class SolarSlot:
    """Forecast generation of the house's panels: ``kwh`` spread evenly over [start, end)."""

    start: datetime
    end: datetime
    kwh: float


@dataclass(frozen=True, slots=True)
class GridLimits:
    """Main fuse / DNO limits on the site's grid connection (None: unlimited)."""

    import_kw: float | None = None
    export_kw: float | None = None


# --------------------------------------------------------------------------------------------- devices


@dataclass(frozen=True, slots=True)
class EVModel:
    capacity_kwh: float
    max_kw: float
    min_kw: float = 0.0
    efficiency: float = 0.9  # energy into the car's battery per kWh from the grid
    continuous: bool = False  # prefer one uninterrupted charging block
    kraken_controlled: bool = False  # Intelligent Octopus: Kraken decides when it charges
    # No charging run shorter than this (minutes) unless the deadline needs it (0: no minimum).
    min_run_minutes: float = DEFAULT_EV_MIN_RUN_MIN


@dataclass(frozen=True, slots=True)
class EVState:
    soc_pct: float
    plugged_in: bool = True


@dataclass(frozen=True, slots=True)
class EVTarget:
    """Reach ``soc_pct`` (or add ``add_kwh`` into the car's battery) by ``deadline``."""

    deadline: datetime | None = None
    soc_pct: float | None = None
    add_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class EV:
    id: str
    model: EVModel
    state: EVState
    target: EVTarget | None = None


@dataclass(frozen=True, slots=True)
class BatteryModel:
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    min_soc_pct: float = 0.0
    max_soc_pct: float = 100.0
    reserve_soc_pct: float = 0.0  # kept back for outages: never discharged below by the plan
    allow_export: bool = True
    # Value of a kWh left in the battery at the end of the horizon (None: derived from the prices).
    stored_value_p: float | None = None
    # Wear: pence per kWh the battery delivers (discharges); the plan cycles only where the spread pays it.
    cycle_cost_p: float = 0.0


@dataclass(frozen=True, slots=True)
class BatteryState:
    soc_pct: float
    #: What the battery is doing now, in kW (+ charging, − discharging; 0 idle or unknown). When the plan
    #: time-shares the current slot between charging and discharging, the run under way continues first,
    #: so re-planning every minute does not flip the battery back and forth.
    power_kw: float = 0.0


@dataclass(frozen=True, slots=True)
class Battery:
    id: str
    model: BatteryModel
    state: BatteryState


@dataclass(frozen=True, slots=True)
class HeatPumpModel:
    heat_loss_kw_per_k: float  # UA of the building
    thermal_mass_kwh_per_k: float  # effective heat capacity
    max_kw: float  # electrical input
    cop_at_7c: float = 3.5
    cop_per_k: float = 0.08  # COP change per °C of outdoor temperature
    cop_min: float = 1.5
    cop_max: float = 6.0
    # Compressor limits (planner/heat_pump.py): never planned below min_kw, for a run shorter than
    # min_run_h, or with a pause shorter than min_off_h between two runs. 0: no limit.
    min_kw: float = 0.0
    min_run_h: float = 0.0
    min_off_h: float = 0.0


@dataclass(frozen=True, slots=True)
class ComfortBand:
    """From ``start`` to ``end`` keep the indoor temperature within [min_c, max_c]."""

    start: datetime
    end: datetime
    min_c: float
    max_c: float


@dataclass(frozen=True, slots=True)
class Comfort:
    min_c: float = 19.0
    max_c: float = 22.0
    bands: tuple[ComfortBand, ...] = ()  # override the default band where they apply


@dataclass(frozen=True, slots=True)
class HeatPumpState:
    indoor_c: float


@dataclass(frozen=True, slots=True)
class HeatPump:
    id: str
    model: HeatPumpModel
    state: HeatPumpState
    comfort: Comfort = field(default_factory=Comfort)


@dataclass(frozen=True, slots=True)
class HotWaterNeed:
    """``kwh`` of hot water (above cold) must be in the tank at ``at``; it is drawn off then."""

    at: datetime
    kwh: float


@dataclass(frozen=True, slots=True)
class HotWaterTank:
    id: str
    capacity_kwh: float
    heater_kw: float  # electrical input of the boost (immersion or heat pump DHW mode)
    energy_kwh: float  # current usable heat above cold
    heater_cop: float = 1.0  # 1.0 for an immersion heater
    loss_pct_per_h: float = 1.0
    needs: tuple[HotWaterNeed, ...] = ()


@dataclass(frozen=True, slots=True)
class RelayLoad:
    """A flexible on/off load (e.g. an immersion heater on a relay): ``energy_kwh`` between the times."""

    id: str
    power_kw: float
    energy_kwh: float
    earliest: datetime | None = None
    deadline: datetime | None = None


#: A device as the planner models it (Kraken's SmartFlex devices are ``kraken.snapshot.Device``).
PlannedDevice = EV | Battery | HeatPump | HotWaterTank | RelayLoad


@dataclass(frozen=True, slots=True)
class Prepay:
    """Smart prepay account: current balance and how top-ups are made."""

    balance_p: float
    warn_below_p: float = 0.0
    topup_step_p: float = 500.0
    buffer_p: float = 500.0


@dataclass(frozen=True, slots=True)
class PlanInputs:
    now: datetime
    tariff: Tariff
    devices: tuple[PlannedDevice, ...] = ()
    dispatches: tuple[DispatchWindow, ...] = ()
    house_load: LoadProfile | None = None
    #: Forecast solar generation: it feeds the house first, the rest goes to the devices or is exported
    #: at the export price (each slot's house load is the base load less the sun).
    solar: tuple[SolarSlot, ...] = ()
    #: An optimistic estimate of the same sun (e.g. the recent days' maximum, or the forecast times a
    #: margin). If given, a battery is charged from the grid (above the export price) only for the
    #: shortfall this much sun would not cover: never with energy the sun would store before it is used
    #: and then export (planner/sun_guard.py).
    solar_high: tuple[SolarSlot, ...] = ()
    outdoor: tuple[TemperaturePoint, ...] = ()
    grid: GridLimits = field(default_factory=GridLimits)
    prepay: Prepay | None = None
    horizon_h: float = 48.0
    # Fill slots past the last published price with a forecast from the previous days (see slots.py);
    # give the tariff a week of past prices for it.
    forecast_missing_prices: bool = True
    # How unpublished prices are forecast: a key of slots.FORECAST_RULES (benchmarks/README.md explains
    # the choice and its out-of-sample figures).
    forecast_rule: str = DEFAULT_FORECAST_RULE
    tz: str = "Europe/London"  # for reasons and the house-load profile
    currency: Currency = GBP  # how amounts and prices read in reasons and summaries
    # Coordination rounds between devices (joint.py); None: 2 for up to 12 devices, else 1 (each round
    # re-plans every device, and on a big site the first pass already captures nearly all of the value).
    joint_rounds: int | None = None


# --------------------------------------------------------------------------------------------- outputs


class ActionKind(StrEnum):
    CHARGE = "charge"
    DISCHARGE = "discharge"
    STOP = "stop"
    HOLD = "hold"
    HEAT = "heat"
    HOT_WATER_BOOST = "hot_water_boost"
    HOT_WATER_OFF = "hot_water_off"
    ON = "on"
    OFF = "off"
    FOLLOW_KRAKEN = "follow_kraken"
    REQUEST_BOOST = "request_boost"


@dataclass(frozen=True, slots=True)
class DeviceAction:
    """What a device should be doing: idempotent, so the reconcile loop can apply it repeatedly."""

    kind: ActionKind
    power_kw: float = 0.0
    setpoint_c: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Interval:
    """A device does ``action`` from ``start`` to ``end``; ``grid_kwh`` is its (signed) grid energy."""

    start: datetime
    end: datetime
    action: DeviceAction
    grid_kwh: float = 0.0
    cost_p: float = 0.0


@dataclass(frozen=True, slots=True)
class DevicePlan:
    device_id: str
    kind: str
    intervals: tuple[Interval, ...]  # contiguous, covering the plan
    idle: DeviceAction  # what to do outside the plan
    summary: str
    warnings: tuple[str, ...] = ()
    grid_kwh: float = 0.0
    cost_p: float = 0.0
    baseline_cost_p: float | None = None
    end_state: Mapping[str, float] = field(default_factory=dict)
    boost_recommended: bool = False


@dataclass(frozen=True, slots=True)
class SlotSummary:
    start: datetime
    end: datetime
    import_p: float
    export_p: float
    dispatch: bool
    forecast: bool
    house_kwh: float  # the house's base load less the forecast sun
    grid_kwh: float
    cost_p: float
    #: What the plan counted on in the slot: forecast sun (kWh) and outdoor temperature (None: no forecast).
    solar_kwh: float = 0.0
    outdoor_c: float | None = None


@dataclass(frozen=True, slots=True)
class TopUpAdvice:
    balance_now_p: float
    min_balance_p: float
    min_balance_at: datetime
    runs_low_at: datetime | None
    propose_p: float
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    now: datetime
    start: datetime
    end: datetime
    slots: tuple[SlotSummary, ...]
    devices: tuple[DevicePlan, ...]
    total_cost_p: float
    house_cost_p: float
    warnings: tuple[str, ...] = ()
    topup: TopUpAdvice | None = None

    def device(self, device_id: str) -> DevicePlan:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        raise KeyError(device_id)
