from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kraken2mqtt.planner import EV, Battery, HeatPump, HotWaterTank, RelayLoad, make_plan
from kraken2mqtt.planner.cli import plan_command
from kraken2mqtt.planner.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config" / "scenarios").glob("*.toml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load_and_plan(path: Path) -> None:
    inputs = load_scenario(path)
    plan = make_plan(inputs)
    assert plan.slots
    out = io.StringIO()
    assert plan_command(path, as_json=False, out=out) == 0
    assert "Total cost" in out.getvalue()
    js = io.StringIO()
    assert plan_command(path, as_json=True, out=js) == 0
    data = json.loads(js.getvalue())
    assert {d["id"] for d in data["devices"]} == {d.id for d in inputs.devices}


def test_whole_house_example_has_every_kind() -> None:
    inputs = load_scenario(ROOT / "config/scenarios/whole_house.toml")
    kinds = {type(d) for d in inputs.devices}
    assert kinds == {EV, Battery, HeatPump, HotWaterTank, RelayLoad}
    assert inputs.grid.import_kw == 14 and inputs.prepay is not None


BAD = """
now = 2024-01-10T12:00:00
horizon_h = 500
[tariff]
start = 2024-01-10T12:00:00Z
import_p = [10, "x"]
[[ev]]
id = "car"
capacity_kwh = -3
max_kw = 7
soc_pct = 120
colour = "red"
[[battery]]
id = "car"
capacity_kwh = 10
max_charge_kw = 5
max_discharge_kw = 5
soc_pct = 50
"""


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    problems = "\n".join(e.value.problems)
    for needle in (
        "now: needs a time zone",
        "horizon_h: must be ≤ 96",
        "tariff.import_p",
        "ev[0].capacity_kwh: must be positive",
        "ev[0].soc_pct: must be ≤ 100",
        "ev[0].colour: unknown key",
        "'car' is used twice",
    ):
        assert needle in problems, problems


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    out, err = io.StringIO(), io.StringIO()
    assert plan_command(f, as_json=False, out=out, err=err) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) >= 5 and all(line.startswith("scenario error: ") for line in lines)
    assert "Traceback" not in err.getvalue() and out.getvalue() == ""


def test_cli_missing_file_and_invalid_toml(tmp_path: Path) -> None:
    err = io.StringIO()
    assert plan_command(tmp_path / "nope.toml", as_json=False, out=io.StringIO(), err=err) == 2
    assert "cannot read" in err.getvalue()
    f = tmp_path / "x.toml"
    f.write_text("now = [")
    err = io.StringIO()
    assert plan_command(f, as_json=True, out=io.StringIO(), err=err) == 2
    assert "not valid TOML" in err.getvalue()


def test_prices_from_an_agile_csv(tmp_path: Path) -> None:
    csv = tmp_path / "agile.csv"
    csv.write_text(
        "".join(
            f"2021-01-01T{h:02d}:{m:02d}:00Z,00:00,A,Eastern_England,{h + m / 60}\n"
            for h in range(24)
            for m in (0, 30)
        )
    )
    f = tmp_path / "s.toml"
    f.write_text(
        'now = 2021-01-01T10:00:00Z\nhorizon_h = 4\n[tariff]\nprices_csv = "agile.csv"\nexport_p = 4.0\n'
    )
    inputs = load_scenario(f)
    assert len(inputs.tariff.prices) == 28 and inputs.tariff.prices[0].export_p == 4.0


def test_wear_and_minimum_run_are_in_the_scenario_format() -> None:
    inputs = load_scenario(ROOT / "config/scenarios/home_battery.toml")
    bat = next(d for d in inputs.devices if isinstance(d, Battery))
    assert bat.model.cycle_cost_p == 3
    ev = load_scenario(ROOT / "config/scenarios/ev_overnight.toml").devices[0]
    assert isinstance(ev, EV) and ev.model.min_run_minutes == 15


MIXED = """
now = 2024-01-10T12:00:00Z
[tariff]
start = 2024-01-10T12:00:00Z
import_p = [10, 12]
export_p = [1, 2, 3]
[[ev]]
id = "car"
capacity_kwh = 60
max_kw = 2
min_kw = 3
soc_pct = 10
deadline = 2024-01-10T07:00:00
[[battery]]
id = "house"
capacity_kwh = "x"
max_charge_kw = 1
max_discharge_kw = 1
soc_pct = 10
min_soc_pct = 60
max_soc_pct = 50
[[dispatches]]
start = 2024-01-10T12:00:00Z
end = 2024-01-10T11:00:00Z
"""


def test_a_tables_cross_checks_are_reported_beside_its_other_problems(tmp_path: Path) -> None:
    """Scenario files go through pydantic models; a range check between two keys still shows at once."""
    f = tmp_path / "mixed.toml"
    f.write_text(MIXED)
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    assert e.value.problems == [
        "tariff.export_p: needs 1 or 2 values (one per import price)",
        "dispatches[0].end: must be after start",
        "ev[0].min_kw: must not exceed max_kw",
        "ev[0].deadline: needs a time zone (e.g. a trailing Z for UTC)",
        "battery[0].capacity_kwh: must be a number, not 'x'",
        "battery[0].min_soc_pct: must not exceed max_soc_pct",
    ]


def test_the_scenario_and_the_config_share_their_models_and_messages() -> None:
    from pydantic import ValidationError

    from kraken2mqtt.planner.config import DevicePlanConfig, PlanModel
    from kraken2mqtt.planner.scenario import BatteryTable, Scenario

    assert issubclass(Scenario, PlanModel) and issubclass(BatteryTable, PlanModel)
    with pytest.raises(ValidationError) as e:
        DevicePlanConfig(min_soc_pct=60, max_soc_pct=50)
    assert "min_soc_pct must not exceed max_soc_pct" in str(e.value)
