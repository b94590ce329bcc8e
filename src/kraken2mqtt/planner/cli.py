"""``kraken2mqtt plan --scenario FILE [--json]`` (the lead wires argparse to :func:`plan_command`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .plan import make_plan
from .render import render_json, render_text
from .scenario import ScenarioError, load_scenario


def plan_command(
    scenario_path: Path, *, as_json: bool, out: TextIO, err: TextIO | None = None, chart: Path | None = None
) -> int:
    """Plan a scenario file and print it (and draw it to ``chart``). Returns 0, or 2 with one line per
    problem on ``err``."""
    err = err if err is not None else sys.stderr
    try:
        inputs = load_scenario(scenario_path)
    except ScenarioError as e:
        for p in e.problems:
            err.write(f"scenario error: {p}\n")
        return 2
    plan = make_plan(inputs)
    out.write(render_json(plan) if as_json else render_text(plan, inputs.tz, inputs.currency))
    if chart is not None:
        from .chart import ChartUnavailable, write_chart

        try:
            write_chart(plan, chart, tz=inputs.tz)
        except ChartUnavailable as e:
            err.write(f"{e}\n")
            return 2
        except OSError as e:
            err.write(f"cannot write {chart}: {e}\n")
            return 1
    return 0
