"""The repository names no path of one machine: CI, a Pi and a user's laptop clone it anywhere, with
``shared/`` (if at all) beside it, so data and docs are reached relative to the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Absolute paths of a development machine: the session's tree, a user's home (not the bare `/home`, which
# the deploy docs name as what the unit hides), macOS homes.
MACHINE_PATH = re.compile(r"(?<![\w.~-])(?:/work/|/home/[a-z_][\w-]*/|/Users/[A-Za-z])")


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name]


def test_no_file_names_an_absolute_path_of_this_machine() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file() or path == Path(__file__).resolve():  # this file's examples
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # binary (the packaged price slice)
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "absolute paths (use paths relative to the repository):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ('Path("/work/proj/data/agile/a.csv")', True),
        ("see /home/pi/kraken2mqtt", True),
        ("/Users/alice/src", True),
        ("`/home` invisible, `/tmp` private", False),
        ("../shared/data/agile/ beside the repository", False),
        ("/etc/kraken2mqtt/kraken2mqtt.toml and /var/lib/kraken2mqtt", False),
    ],
)
def test_the_pattern(line: str, bad: bool) -> None:
    assert bool(MACHINE_PATH.search(line)) is bad
