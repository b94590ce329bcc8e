"""Load a self-contained scenario file (TOML) into :class:`~.model.PlanInputs`.

This is the CLI edge: it reads files and reports every problem it finds, one readable line each
(``ev[0].deadline: needs a time zone``), instead of stopping at the first. The format is documented in
``config/scenarios/README.md``.

The file is validated by the pydantic models below, built on the config's device-plan models
(:mod:`.config`: the same strict base model, value types and range checks with the same messages); the
error list is pydantic's, one line per problem, in the scenario's own words (``must be ≤ 96, not 500``).
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .config import Pct, PlanModel, comfort_range_problem, soc_range_problem
from .model import (
    DEFAULT_EV_MIN_RUN_MIN,
    EV,
    Battery,
    BatteryModel,
    BatteryState,
    Comfort,
    ComfortBand,
    DispatchWindow,
    EVModel,
    EVState,
    EVTarget,
    GridLimits,
    HeatPump,
    HeatPumpModel,
    HeatPumpState,
    HotWaterNeed,
    HotWaterTank,
    LoadProfile,
    PlanInputs,
    PlannedDevice,
    Prepay,
    RelayLoad,
    Tariff,
    TariffSlot,
    TemperaturePoint,
)


class ScenarioError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# ------------------------------------------------------------------------------------------ value types


def _when(v: object) -> datetime:
    """A TOML offset date-time or an ISO 8601 string, with a time zone; converted to UTC."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"is not an ISO 8601 time: {v!r}") from None
    if isinstance(v, date) and not isinstance(v, datetime):
        raise ValueError("needs a time of day and a time zone, e.g. 2024-01-10T07:00:00Z")
    if not isinstance(v, datetime):
        raise ValueError(f"must be a time, not {v!r}")
    if v.tzinfo is None:
        raise ValueError("needs a time zone (e.g. a trailing Z for UTC)")
    return v.astimezone(UTC)


def _listify(v: object) -> object:
    return [v] if isinstance(v, int | float) and not isinstance(v, bool) else v


#: A time with a time zone (in UTC once read).
When = Annotated[datetime, PlainValidator(_when)]
#: A finite number (an integer or a float, never a string or a boolean).
Num = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Positive = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
NonNeg = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
Efficiency = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.05, le=1)]
Percent = Annotated[Pct, Field(strict=True, allow_inf_nan=False)]
Flag = Annotated[bool, Field(strict=True)]
Text = Annotated[str, Field(strict=True, min_length=1)]
#: One number, or an array of numbers.
Numbers = Annotated[list[Num], BeforeValidator(_listify)]


# ------------------------------------------------------------------------------------------- the tables


def _after(field: str, earlier: str, problem: Callable[[float, float], str | None]) -> Any:
    """A check of ``field`` against the ``earlier`` field (declared before it), reported at ``field``;
    it runs even when other fields of the table are wrong, so every problem shows at once."""

    def check(cls: type, v: Any, info: ValidationInfo) -> Any:
        other = info.data.get(earlier)
        if v is not None and other is not None and (msg := problem(v, other)):
            raise ValueError(msg)
        return v

    return field_validator(field)(classmethod(check))


class Span(PlanModel):
    start: When
    end: When

    _order = _after("end", "start", lambda end, start: "must be after start" if end <= start else None)


class Dispatch(Span):
    source: Text = "smart-charge"


class PriceRow(PlanModel):
    start: When
    end: When | None = None  # default: start + slot_minutes
    import_p: Num
    export_p: Num | None = None  # default: the tariff's flat export rate


class TariffTable(PlanModel):
    start: When | None = None  # of import_p's first slot
    slot_minutes: Num = 30.0
    import_p: Numbers | None = None
    export_p: Numbers | None = None
    prices: tuple[PriceRow, ...] = ()
    prices_csv: Annotated[str, Field(strict=True)] | None = None
    off_peak_p: Num | None = None
    standing_charge_p_per_day: NonNeg = 0.0

    @field_validator("slot_minutes")
    @classmethod
    def _slot(cls, v: float) -> float:
        if v not in (15.0, 30.0, 60.0):
            raise ValueError("must be 15, 30 or 60")
        return v

    @field_validator("import_p")
    @classmethod
    def _start(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if v is not None and "start" in info.data and info.data["start"] is None:
            raise ValueError("needs start (the first slot's start)")
        return v

    @field_validator("export_p")
    @classmethod
    def _export(cls, v: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if v is None or "import_p" not in info.data:
            return v
        imp = info.data["import_p"]
        if imp is not None and len(v) not in (1, len(imp)):
            raise ValueError(f"needs 1 or {len(imp)} values (one per import price)")
        if imp is None and len(v) != 1:
            raise ValueError("without import_p it must be one number (the flat export rate)")
        return v

    @model_validator(mode="after")
    def _some(self) -> TariffTable:
        if self.import_p is None and self.start is not None:
            raise ValueError("start is only for import_p")
        if self.import_p is None and not self.prices and self.prices_csv is None:
            raise ValueError("has no prices (give import_p + start, [[tariff.prices]] or prices_csv)")
        return self


class HouseLoad(PlanModel):
    kw: Numbers
    tz: Text | None = None  # default: the scenario's

    @field_validator("kw")
    @classmethod
    def _profile(cls, v: list[float]) -> list[float]:
        if len(v) not in (1, 24, 48, 96) or any(x < 0 for x in v):
            raise ValueError(f"needs 1, 24, 48 or 96 non-negative values, got {len(v)}")
        return v


class Outdoor(PlanModel):
    at: When
    celsius: Num


class Grid(PlanModel):
    import_kw: Positive | None = None
    export_kw: Positive | None = None


class PrepayTable(PlanModel):
    balance_p: Num
    warn_below_p: Num = 0.0
    topup_step_p: Positive = 500.0
    buffer_p: NonNeg = 500.0


class EvTable(PlanModel):
    id: Text
    capacity_kwh: Positive
    max_kw: Positive
    min_kw: NonNeg = 0.0
    efficiency: Efficiency = 0.9
    continuous: Flag = False
    kraken_controlled: Flag = False
    min_run_minutes: Annotated[NonNeg, Field(le=240)] = DEFAULT_EV_MIN_RUN_MIN
    soc_pct: Percent
    plugged_in: Flag = True
    target_soc_pct: Percent | None = None
    target_add_kwh: NonNeg | None = None
    deadline: When | None = None

    _min_kw = _after("min_kw", "max_kw", lambda lo, hi: "must not exceed max_kw" if lo > hi else None)
    _one_target = _after(
        "target_add_kwh", "target_soc_pct", lambda _a, _s: "give target_soc_pct or target_add_kwh, not both"
    )


class BatteryTable(PlanModel):
    id: Text
    capacity_kwh: Positive
    max_charge_kw: Positive
    max_discharge_kw: Positive
    charge_efficiency: Efficiency = 0.95
    discharge_efficiency: Efficiency = 0.95
    max_soc_pct: Percent = 100.0
    min_soc_pct: Percent = 0.0
    reserve_soc_pct: Percent = 0.0
    allow_export: Flag = True
    stored_value_p: Num | None = None
    cycle_cost_p: Annotated[NonNeg, Field(le=100)] = 0.0
    soc_pct: Percent

    _soc_range = _after("min_soc_pct", "max_soc_pct", soc_range_problem)


class Band(PlanModel):
    start: When
    end: When
    max_c: Num
    min_c: Num

    _range = _after("min_c", "max_c", lambda lo, hi: "must not exceed max_c" if lo > hi else None)


class HeatPumpTable(PlanModel):
    id: Text
    heat_loss_kw_per_k: Positive
    thermal_mass_kwh_per_k: Positive
    max_kw: Positive
    cop_at_7c: Annotated[Num, Field(ge=1)] = 3.5
    cop_per_k: NonNeg = 0.08
    cop_min: Annotated[Num, Field(ge=0.5)] = 1.5
    cop_max: Annotated[Num, Field(ge=1)] = 6.0
    bands: tuple[Band, ...] = ()
    comfort_max_c: Num = 22.0
    comfort_min_c: Num = 19.0
    indoor_c: Num

    _comfort = _after("comfort_min_c", "comfort_max_c", comfort_range_problem)


class Need(PlanModel):
    at: When
    kwh: NonNeg


class HotWaterTable(PlanModel):
    id: Text
    capacity_kwh: Positive
    heater_kw: Positive
    energy_kwh: NonNeg
    heater_cop: Positive = 1.0
    loss_pct_per_h: Annotated[NonNeg, Field(le=50)] = 1.0
    needs: tuple[Need, ...] = ()


class RelayTable(PlanModel):
    id: Text
    power_kw: Positive
    energy_kwh: NonNeg
    earliest: When | None = None
    deadline: When | None = None


class Scenario(PlanModel):
    """A whole scenario file (see ``config/scenarios/README.md``)."""

    now: When
    horizon_h: Annotated[Num, Field(ge=0.5, le=96)] = 48.0
    tz: Text = "Europe/London"
    forecast_missing_prices: Flag = True
    joint_rounds: Annotated[Num, Field(ge=1, le=20)] | None = None
    tariff: TariffTable
    dispatches: tuple[Dispatch, ...] = ()
    house_load: HouseLoad | None = None
    outdoor: tuple[Outdoor, ...] = ()
    grid: Grid = Grid()
    prepay: PrepayTable | None = None
    ev: tuple[EvTable, ...] = ()
    battery: tuple[BatteryTable, ...] = ()
    heat_pump: tuple[HeatPumpTable, ...] = ()
    hot_water: tuple[HotWaterTable, ...] = ()
    relay: tuple[RelayTable, ...] = ()


DEVICE_TABLES = ("ev", "battery", "heat_pump", "hot_water", "relay")


# ----------------------------------------------------------------------------------------------- errors


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(v: object) -> str:
    return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else repr(v)


def describe_problems(exc: ValidationError) -> list[str]:
    """One line per problem, ``where: what`` (``ev[0].soc_pct: must be ≤ 100, not 120``)."""
    lines = []
    for err in exc.errors(include_url=False):
        kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "greater_than" and ctx.get("gt") == 0:
            msg = f"must be positive, not {_shown(value)}"
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            sign = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
            bound = next(iter(ctx.values()))
            msg = f"must be {sign[kind]} {_shown(bound)}, not {_shown(value)}"
        elif kind in ("float_type", "float_parsing", "finite_number"):
            msg = f"must be a number, not {_shown(value)}"
        elif kind == "bool_type":
            msg = f"must be true or false, not {value!r}"
        elif kind in ("string_type", "string_too_short"):
            msg = f"must be a non-empty string, not {value!r}"
        elif kind == "list_type":
            msg = "must be a number or an array of numbers"
        elif kind == "tuple_type":
            msg = "must be an array of tables ([[...]])"
        elif kind == "model_type":
            msg = "must be a table"
        else:
            text = err["msg"].removeprefix("Value error, ")
            msg = text[:1].lower() + text[1:] if text else "invalid"
        lines.append(f"{_where(err['loc'])}: {msg}" if err["loc"] else msg)
    return lines


# ---------------------------------------------------------------------------------------------- loading


def load_scenario(path: Path) -> PlanInputs:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ScenarioError([f"{path}: cannot read: {e.strerror or e}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError([f"{path}: not valid TOML: {e}"]) from None
    return parse_scenario(data, base_dir=path.parent)


def parse_scenario(data: dict[str, Any], base_dir: Path = Path()) -> PlanInputs:
    errors = _duplicate_ids(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe_problems(exc) + errors) from None
    prices = _prices(scenario, base_dir, errors)
    if errors:
        raise ScenarioError(errors)
    return PlanInputs(
        now=scenario.now,
        tariff=Tariff(
            tuple(sorted(prices, key=lambda p: p.start)),
            scenario.tariff.off_peak_p,
            scenario.tariff.standing_charge_p_per_day,
        ),
        devices=_devices(scenario),
        dispatches=tuple(DispatchWindow(d.start, d.end, d.source) for d in scenario.dispatches),
        house_load=(
            LoadProfile(tuple(scenario.house_load.kw), scenario.house_load.tz or scenario.tz)
            if scenario.house_load is not None
            else None
        ),
        outdoor=tuple(TemperaturePoint(o.at, o.celsius) for o in scenario.outdoor),
        grid=GridLimits(scenario.grid.import_kw, scenario.grid.export_kw),
        prepay=(
            Prepay(p.balance_p, p.warn_below_p, p.topup_step_p, p.buffer_p)
            if (p := scenario.prepay) is not None
            else None
        ),
        horizon_h=scenario.horizon_h,
        forecast_missing_prices=scenario.forecast_missing_prices,
        tz=scenario.tz,
        joint_rounds=int(scenario.joint_rounds) if scenario.joint_rounds is not None else None,
    )


def _duplicate_ids(data: dict[str, Any]) -> list[str]:
    """Read from the raw tables, so that a reused id is reported beside the tables' own problems."""
    errors: list[str] = []
    seen: set[str] = set()
    for key in DEVICE_TABLES:
        tables = data.get(key)
        for t in tables if isinstance(tables, list) else ():
            device_id = t.get("id") if isinstance(t, dict) else None
            if isinstance(device_id, str) and device_id:
                if device_id in seen:
                    errors.append(f"device id {device_id!r} is used twice")
                seen.add(device_id)
    return errors


def _prices(s: Scenario, base_dir: Path, errors: list[str]) -> list[TariffSlot]:
    t = s.tariff
    step = timedelta(minutes=t.slot_minutes)
    prices: list[TariffSlot] = []
    export_default = 0.0
    if t.import_p is not None and t.start is not None:
        exp = t.export_p
        for k, p in enumerate(t.import_p):
            e = (exp[k] if len(exp) > 1 else exp[0]) if exp else 0.0
            prices.append(TariffSlot(t.start + k * step, t.start + (k + 1) * step, p, e))
    elif t.export_p is not None:
        export_default = t.export_p[0]
    for r in t.prices:
        ep = r.export_p if r.export_p is not None else export_default
        prices.append(TariffSlot(r.start, r.end or r.start + step, r.import_p, ep))
    if t.prices_csv is not None:
        prices += _csv_prices(base_dir / t.prices_csv, s.now, s.horizon_h, export_default, errors)
    if not prices:
        errors.append("tariff: has no prices (give import_p + start, [[tariff.prices]] or prices_csv)")
    return prices


def _csv_prices(
    path: Path, now: datetime, horizon: float, export_p: float, errors: list[str]
) -> list[TariffSlot]:
    """Rows of an Agile CSV (start UTC, local time, region, name, price) from a day before ``now``."""
    lo, hi = now - timedelta(days=1), now + timedelta(hours=horizon)
    out: list[TariffSlot] = []
    try:
        with path.open(newline="") as f:
            for row in csv.reader(f):
                if len(row) < 5:
                    continue
                start = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
                if lo <= start < hi:
                    out.append(TariffSlot(start, start + timedelta(minutes=30), float(row[4]), export_p))
    except (OSError, ValueError) as e:
        errors.append(f"tariff.prices_csv: cannot read {path}: {e}")
    if not out:
        errors.append(f"tariff.prices_csv: {path} has no prices around {now:%Y-%m-%d %H:%M}Z")
    return out


def _devices(s: Scenario) -> tuple[PlannedDevice, ...]:
    devices: list[PlannedDevice] = []
    for ev in s.ev:
        model = EVModel(
            capacity_kwh=ev.capacity_kwh,
            max_kw=ev.max_kw,
            min_kw=ev.min_kw,
            efficiency=ev.efficiency,
            continuous=ev.continuous,
            kraken_controlled=ev.kraken_controlled,
            min_run_minutes=ev.min_run_minutes,
        )
        soc, add = ev.target_soc_pct, ev.target_add_kwh
        target = EVTarget(ev.deadline, soc, add) if (soc is not None or add is not None) else None
        devices.append(EV(ev.id, model, EVState(ev.soc_pct, ev.plugged_in), target))
    for b in s.battery:
        m = BatteryModel(
            capacity_kwh=b.capacity_kwh,
            max_charge_kw=b.max_charge_kw,
            max_discharge_kw=b.max_discharge_kw,
            charge_efficiency=b.charge_efficiency,
            discharge_efficiency=b.discharge_efficiency,
            min_soc_pct=b.min_soc_pct,
            max_soc_pct=b.max_soc_pct,
            reserve_soc_pct=b.reserve_soc_pct,
            allow_export=b.allow_export,
            stored_value_p=b.stored_value_p,
            cycle_cost_p=b.cycle_cost_p,
        )
        devices.append(Battery(b.id, m, BatteryState(b.soc_pct)))
    for h in s.heat_pump:
        hm = HeatPumpModel(
            heat_loss_kw_per_k=h.heat_loss_kw_per_k,
            thermal_mass_kwh_per_k=h.thermal_mass_kwh_per_k,
            max_kw=h.max_kw,
            cop_at_7c=h.cop_at_7c,
            cop_per_k=h.cop_per_k,
            cop_min=h.cop_min,
            cop_max=h.cop_max,
        )
        bands = tuple(ComfortBand(b.start, b.end, b.min_c, b.max_c) for b in h.bands)
        comfort = Comfort(h.comfort_min_c, h.comfort_max_c, bands)
        devices.append(HeatPump(h.id, hm, HeatPumpState(h.indoor_c), comfort))
    for w in s.hot_water:
        devices.append(
            HotWaterTank(
                id=w.id,
                capacity_kwh=w.capacity_kwh,
                heater_kw=w.heater_kw,
                energy_kwh=w.energy_kwh,
                heater_cop=w.heater_cop,
                loss_pct_per_h=w.loss_pct_per_h,
                needs=tuple(HotWaterNeed(n.at, n.kwh) for n in w.needs),
            )
        )
    for r in s.relay:
        devices.append(RelayLoad(r.id, r.power_kw, r.energy_kwh, r.earliest, r.deadline))
    return tuple(devices)
