"""Load a self-contained scenario file (TOML) into :class:`~.model.PlanInputs`.

This is the CLI edge: it reads files and reports every problem it finds, one readable line each
(``ev[0].deadline: needs a time zone``), instead of stopping at the first. The format is documented in
``config/scenarios/README.md``.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from .model import (
    DEFAULT_EV_MIN_RUN_MIN,
    EV,
    Battery,
    BatteryModel,
    BatteryState,
    Comfort,
    ComfortBand,
    Device,
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
    Prepay,
    PriceSlot,
    RelayLoad,
    Tariff,
    TemperaturePoint,
)

T = TypeVar("T")


class ScenarioError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_MISSING = object()


class _Table:
    """Typed access to one TOML table; problems are collected, not raised."""

    def __init__(self, data: Any, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        if not isinstance(data, dict):
            self.err("", "must be a table")
            data = {}
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def err(self, key: str, msg: str) -> None:
        where = f"{self.path}.{key}" if self.path and key else (self.path or key)
        self.errors.append(f"{where}: {msg}")

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key, _MISSING)

    def num(
        self,
        key: str,
        default: float | None = None,
        *,
        lo: float | None = None,
        hi: float | None = None,
        positive: bool = False,
    ) -> float:
        v = self._get(key)
        if v is _MISSING:
            if default is None:
                self.err(key, "is required")
                return math.nan
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.err(key, f"must be a number, not {v!r}")
            return math.nan
        x = float(v)
        if positive and x <= 0:
            self.err(key, f"must be positive, not {x:g}")
        if lo is not None and x < lo:
            self.err(key, f"must be ≥ {lo:g}, not {x:g}")
        if hi is not None and x > hi:
            self.err(key, f"must be ≤ {hi:g}, not {x:g}")
        return x

    def opt_num(self, key: str, **kw: Any) -> float | None:
        if key not in self.data:
            self.used.add(key)
            return None
        return self.num(key, **kw)

    def flag(self, key: str, default: bool) -> bool:
        v = self._get(key)
        if v is _MISSING:
            return default
        if not isinstance(v, bool):
            self.err(key, f"must be true or false, not {v!r}")
            return default
        return v

    def text(self, key: str, default: str | None = None) -> str:
        v = self._get(key)
        if v is _MISSING:
            if default is None:
                self.err(key, "is required")
                return ""
            return default
        if not isinstance(v, str) or not v:
            self.err(key, f"must be a non-empty string, not {v!r}")
            return default or ""
        return v

    def when(self, key: str, required: bool = True) -> datetime | None:
        v = self._get(key)
        if v is _MISSING:
            if required:
                self.err(key, "is required")
            return None
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                self.err(key, f"is not an ISO 8601 time: {v!r}")
                return None
        if isinstance(v, date) and not isinstance(v, datetime):
            self.err(key, "needs a time of day and a time zone, e.g. 2024-01-10T07:00:00Z")
            return None
        if not isinstance(v, datetime):
            self.err(key, f"must be a time, not {v!r}")
            return None
        if v.tzinfo is None:
            self.err(key, "needs a time zone (e.g. a trailing Z for UTC)")
            return None
        return v.astimezone(UTC)

    def tables(self, key: str) -> list[_Table]:
        v = self._get(key)
        if v is _MISSING:
            return []
        if not isinstance(v, list):
            self.err(key, "must be an array of tables ([[...]])")
            return []
        base = f"{self.path}.{key}" if self.path else key
        return [_Table(item, f"{base}[{i}]", self.errors) for i, item in enumerate(v)]

    def table(self, key: str) -> _Table | None:
        v = self._get(key)
        if v is _MISSING:
            return None
        return _Table(v, f"{self.path}.{key}" if self.path else key, self.errors)

    def numbers(self, key: str) -> list[float] | None:
        v = self._get(key)
        if v is _MISSING:
            return None
        if isinstance(v, int | float) and not isinstance(v, bool):
            return [float(v)]
        if not isinstance(v, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            self.err(key, "must be a number or an array of numbers")
            return None
        return [float(x) for x in v]

    def done(self) -> None:
        for k in self.data:
            if k not in self.used:
                self.err(k, "unknown key")


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
    errors: list[str] = []
    top = _Table(data, "", errors)
    now = top.when("now")
    horizon = top.num("horizon_h", 48.0, lo=0.5, hi=96.0)
    tz = top.text("tz", "Europe/London")
    forecast = top.flag("forecast_missing_prices", True)
    tariff = _tariff(top.table("tariff"), now, horizon, base_dir, errors)
    windows: list[DispatchWindow] = []
    for t in top.tables("dispatches"):
        source = t.text("source", "smart-charge")
        s, e = _span(t)
        if s is not None and e is not None:
            windows.append(DispatchWindow(s, e, source))
    dispatches = tuple(windows)
    house = None
    hl = top.table("house_load")
    if hl is not None:
        kw = hl.numbers("kw")
        if kw is None:
            hl.err("kw", "is required (a number, or 24/48/96 values over the local day)")
        elif len(kw) not in (1, 24, 48, 96) or any(x < 0 for x in kw):
            hl.err("kw", f"needs 1, 24, 48 or 96 non-negative values, got {len(kw)}")
        else:
            house = LoadProfile(tuple(kw), hl.text("tz", tz))
        hl.done()
    outdoor = tuple(
        TemperaturePoint(at, t.num("celsius"))
        for t in top.tables("outdoor")
        for at in [t.when("at")]
        if at is not None
    )
    grid = GridLimits()
    g = top.table("grid")
    if g is not None:
        grid = GridLimits(g.opt_num("import_kw", positive=True), g.opt_num("export_kw", positive=True))
        g.done()
    prepay = None
    pp = top.table("prepay")
    if pp is not None:
        prepay = Prepay(
            pp.num("balance_p"),
            pp.num("warn_below_p", 0.0),
            pp.num("topup_step_p", 500.0, positive=True),
            pp.num("buffer_p", 500.0, lo=0.0),
        )
        pp.done()
    devices: list[Device] = []
    devices += _each(top, "ev", _ev)
    devices += _each(top, "battery", _battery)
    devices += _each(top, "heat_pump", _heat_pump)
    devices += _each(top, "hot_water", _hot_water)
    devices += _each(top, "relay", _relay)
    seen: set[str] = set()
    for d in devices:
        if d.id in seen:
            errors.append(f"device id {d.id!r} is used twice")
        seen.add(d.id)
    rounds = top.opt_num("joint_rounds", lo=1, hi=20)
    joint_rounds = int(rounds) if rounds is not None else None
    top.done()
    if errors or now is None or tariff is None:
        raise ScenarioError(errors or ["scenario is incomplete"])
    return PlanInputs(
        now=now,
        tariff=tariff,
        devices=tuple(devices),
        dispatches=dispatches,
        house_load=house,
        outdoor=outdoor,
        grid=grid,
        prepay=prepay,
        horizon_h=horizon,
        forecast_missing_prices=forecast,
        tz=tz,
        joint_rounds=joint_rounds,
    )


def _each(top: _Table, key: str, fn: Callable[[_Table], T | None]) -> list[T]:
    out: list[T] = []
    for t in top.tables(key):
        d = fn(t)
        t.done()
        if d is not None:
            out.append(d)
    return out


def _span(t: _Table) -> tuple[datetime | None, datetime | None]:
    s, e = t.when("start"), t.when("end")
    if s is not None and e is not None and e <= s:
        t.err("end", "must be after start")
        return None, None
    t.done()
    return s, e


def _tariff(
    t: _Table | None, now: datetime | None, horizon: float, base_dir: Path, errors: list[str]
) -> Tariff | None:
    if t is None:
        errors.append("tariff: is required")
        return None
    off_peak = t.opt_num("off_peak_p")
    standing = t.num("standing_charge_p_per_day", 0.0, lo=0.0)
    minutes = t.num("slot_minutes", 30.0)
    if minutes not in (15.0, 30.0, 60.0):
        t.err("slot_minutes", "must be 15, 30 or 60")
        minutes = 30.0
    step = timedelta(minutes=minutes)
    prices: list[PriceSlot] = []
    imp = t.numbers("import_p")
    export_default = 0.0
    exp = t.numbers("export_p")
    if imp is not None:
        start = t.when("start")
        if start is not None:
            if exp is not None and len(exp) not in (1, len(imp)):
                t.err("export_p", f"needs 1 or {len(imp)} values (one per import price)")
            for k, p in enumerate(imp):
                e = (exp[k] if len(exp) > 1 else exp[0]) if exp else 0.0
                prices.append(PriceSlot(start + k * step, start + (k + 1) * step, p, e))
    elif exp is not None:
        if len(exp) != 1:
            t.err("export_p", "without import_p it must be one number (the flat export rate)")
        else:
            export_default = exp[0]
    for r in t.tables("prices"):
        r_start = r.when("start")
        r_end = r.when("end", required=False)
        ip = r.num("import_p")
        ep = r.num("export_p", export_default)
        r.done()
        if r_start is not None:
            prices.append(PriceSlot(r_start, r_end or r_start + step, ip, ep))
    csv_name = t._get("prices_csv")
    if csv_name is not _MISSING:
        if not isinstance(csv_name, str):
            t.err("prices_csv", "must be a file name")
        elif now is not None:
            prices += _csv_prices(base_dir / csv_name, now, horizon, export_default, t)
    t.done()
    if not prices:
        t.err("", "has no prices (give import_p + start, [[tariff.prices]] or prices_csv)")
        return None
    return Tariff(tuple(sorted(prices, key=lambda p: p.start)), off_peak, standing)


def _csv_prices(path: Path, now: datetime, horizon: float, export_p: float, t: _Table) -> list[PriceSlot]:
    """Rows of an Agile CSV (start UTC, local time, region, name, price) from a day before ``now``."""
    lo, hi = now - timedelta(days=1), now + timedelta(hours=horizon)
    out: list[PriceSlot] = []
    try:
        with path.open(newline="") as f:
            for row in csv.reader(f):
                if len(row) < 5:
                    continue
                start = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
                if lo <= start < hi:
                    out.append(PriceSlot(start, start + timedelta(minutes=30), float(row[4]), export_p))
    except (OSError, ValueError) as e:
        t.err("prices_csv", f"cannot read {path}: {e}")
    if not out:
        t.err("prices_csv", f"{path} has no prices around {now:%Y-%m-%d %H:%M}Z")
    return out


def _ev(t: _Table) -> EV | None:
    cap = t.num("capacity_kwh", positive=True)
    model = EVModel(
        capacity_kwh=cap,
        max_kw=t.num("max_kw", positive=True),
        min_kw=t.num("min_kw", 0.0, lo=0.0),
        efficiency=t.num("efficiency", 0.9, lo=0.05, hi=1.0),
        continuous=t.flag("continuous", False),
        kraken_controlled=t.flag("kraken_controlled", False),
        min_run_minutes=t.num("min_run_minutes", DEFAULT_EV_MIN_RUN_MIN, lo=0.0, hi=240.0),
    )
    if model.min_kw > model.max_kw:
        t.err("min_kw", "must not exceed max_kw")
    state = EVState(t.num("soc_pct", lo=0.0, hi=100.0), t.flag("plugged_in", True))
    soc = t.opt_num("target_soc_pct", lo=0.0, hi=100.0)
    add = t.opt_num("target_add_kwh", lo=0.0)
    deadline = t.when("deadline", required=False)
    if soc is not None and add is not None:
        t.err("target_soc_pct", "give target_soc_pct or target_add_kwh, not both")
    target = EVTarget(deadline, soc, add) if (soc is not None or add is not None) else None
    return EV(t.text("id"), model, state, target)


def _battery(t: _Table) -> Battery | None:
    m = BatteryModel(
        capacity_kwh=t.num("capacity_kwh", positive=True),
        max_charge_kw=t.num("max_charge_kw", positive=True),
        max_discharge_kw=t.num("max_discharge_kw", positive=True),
        charge_efficiency=t.num("charge_efficiency", 0.95, lo=0.05, hi=1.0),
        discharge_efficiency=t.num("discharge_efficiency", 0.95, lo=0.05, hi=1.0),
        min_soc_pct=t.num("min_soc_pct", 0.0, lo=0.0, hi=100.0),
        max_soc_pct=t.num("max_soc_pct", 100.0, lo=0.0, hi=100.0),
        reserve_soc_pct=t.num("reserve_soc_pct", 0.0, lo=0.0, hi=100.0),
        allow_export=t.flag("allow_export", True),
        stored_value_p=t.opt_num("stored_value_p"),
        cycle_cost_p=t.num("cycle_cost_p", 0.0, lo=0.0, hi=100.0),
    )
    if m.min_soc_pct > m.max_soc_pct:
        t.err("min_soc_pct", "must not exceed max_soc_pct")
    return Battery(t.text("id"), m, BatteryState(t.num("soc_pct", lo=0.0, hi=100.0)))


def _heat_pump(t: _Table) -> HeatPump | None:
    m = HeatPumpModel(
        heat_loss_kw_per_k=t.num("heat_loss_kw_per_k", positive=True),
        thermal_mass_kwh_per_k=t.num("thermal_mass_kwh_per_k", positive=True),
        max_kw=t.num("max_kw", positive=True),
        cop_at_7c=t.num("cop_at_7c", 3.5, lo=1.0),
        cop_per_k=t.num("cop_per_k", 0.08, lo=0.0),
        cop_min=t.num("cop_min", 1.5, lo=0.5),
        cop_max=t.num("cop_max", 6.0, lo=1.0),
    )
    bands: list[ComfortBand] = []
    for b in t.tables("bands"):
        s, e = b.when("start"), b.when("end")
        lo, hi = b.num("min_c"), b.num("max_c")
        b.done()
        if lo > hi:
            b.err("min_c", "must not exceed max_c")
        if s is not None and e is not None:
            bands.append(ComfortBand(s, e, lo, hi))
    comfort = Comfort(t.num("comfort_min_c", 19.0), t.num("comfort_max_c", 22.0), tuple(bands))
    if comfort.min_c > comfort.max_c:
        t.err("comfort_min_c", "must not exceed comfort_max_c")
    return HeatPump(t.text("id"), m, HeatPumpState(t.num("indoor_c")), comfort)


def _hot_water(t: _Table) -> HotWaterTank | None:
    needs: list[HotWaterNeed] = []
    for nd in t.tables("needs"):
        at = nd.when("at")
        kwh = nd.num("kwh", lo=0.0)
        nd.done()
        if at is not None:
            needs.append(HotWaterNeed(at, kwh))
    return HotWaterTank(
        id=t.text("id"),
        capacity_kwh=t.num("capacity_kwh", positive=True),
        heater_kw=t.num("heater_kw", positive=True),
        energy_kwh=t.num("energy_kwh", lo=0.0),
        heater_cop=t.num("heater_cop", 1.0, positive=True),
        loss_pct_per_h=t.num("loss_pct_per_h", 1.0, lo=0.0, hi=50.0),
        needs=tuple(needs),
    )


def _relay(t: _Table) -> RelayLoad | None:
    return RelayLoad(
        t.text("id"),
        t.num("power_kw", positive=True),
        t.num("energy_kwh", lo=0.0),
        t.when("earliest", required=False),
        t.when("deadline", required=False),
    )
