"""The core is pure: no clock, no I/O, no logging, no randomness (scenario/render/cli are the edge)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "kraken2mqtt" / "planner"
CORE_MODULES = [
    "actions.py",
    "battery.py",
    "costs.py",
    "ev.py",
    "heat_pump.py",
    "joint.py",
    "loads.py",
    "model.py",
    "money.py",
    "plan.py",
    "pwl.py",
    "reasons.py",
    "schedule.py",
    "slots.py",
    "topup.py",
]  # scenario.py, render.py and cli.py are the file/terminal edge
FORBIDDEN = [
    r"datetime\.now",
    r"\btime\.time\b",
    r"\bdate\.today",
    r"import random",
    r"import logging",
    r"structlog",
    r"\bopen\(",
    r"\.read_text|\.read_bytes|\.write_text",
    r"\bprint\(",
    r"import numpy",
    r"import scipy",
    r"import highspy",
    r"\bos\.environ",
]


@pytest.mark.parametrize("path", [CORE / m for m in CORE_MODULES], ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    text = path.read_text()
    for pat in FORBIDDEN:
        assert not re.search(pat, text), f"{path.name}: {pat}"
