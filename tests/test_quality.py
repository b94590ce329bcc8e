"""The codebase stays typed (mypy --strict) and linted (ruff): part of the one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> list[str]:
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return [found]


def test_ruff_lint_clean() -> None:
    result = subprocess.run([*_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    result = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


SRC = ROOT / "src" / "kraken2mqtt"


def test_one_module_opens_the_sqlite_file() -> None:
    """``store/database.py`` owns the connection policy: nobody else calls ``sqlite3.connect``."""
    owners = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "sqlite3.connect(" in p.read_text()
    )
    assert owners == ["store/database.py"]


def test_the_store_reads_rows_by_name_without_type_ignores() -> None:
    for path in (SRC / "store").rglob("*.py"):
        text = path.read_text()
        assert "type: ignore" not in text, path.name
        assert '.split(";")' not in text, f"{path.name}: SQL statements are listed one by one"
