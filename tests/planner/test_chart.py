from __future__ import annotations

import io
from pathlib import Path

from kraken2mqtt.planner.cli import plan_command

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"


def test_chart_is_a_png_of_the_plan(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    chart = tmp_path / "plan.png"
    assert (
        plan_command(SCENARIOS / "intelligent_octopus.toml", as_json=False, out=out, err=err, chart=chart)
        == 0
    )
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    assert "Total cost" in out.getvalue()


def test_unwritable_chart_is_a_clear_error(tmp_path: Path) -> None:
    err = io.StringIO()
    code = plan_command(
        SCENARIOS / "ev_overnight.toml",
        as_json=True,
        out=io.StringIO(),
        err=err,
        chart=tmp_path / "missing-dir" / "plan.png",
    )
    assert code == 1
    assert "cannot write" in err.getvalue()
