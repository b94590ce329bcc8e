"""A plain install stays lean: graphql-core and the sandbox are the ``[sandbox]`` extra, and ``run`` /
``check-config`` work without them (graphql is made unimportable in a child process)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from kraken2mqtt.cli import SANDBOX_MISSING
from kraken2mqtt.sandbox.fake_kraken import FakeKraken

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI with graphql unimportable, then reports on stderr which sandbox modules got loaded.
_WITHOUT_GRAPHQL = """
import sys
sys.modules["graphql"] = None  # `import graphql` now raises ModuleNotFoundError(name="graphql")
from kraken2mqtt.cli import main
try:
    rc = main(sys.argv[1:])
finally:
    loaded = sorted(m for m in sys.modules if m.startswith(("kraken2mqtt.sandbox", "graphql.")))
    print("LOADED", loaded, file=sys.stderr)
sys.exit(rc)
"""


def _cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN2MQTT_")}
    base.update(
        KRAKEN2MQTT_STATE_DIR=str(tmp_path / "state"),
        KRAKEN2MQTT_KRAKEN__API_KEY="sk_test_fake_api_key",  # FakeKraken's default
        KRAKEN2MQTT_LOGGING__LEVEL="warning",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_GRAPHQL, *args],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_graphql_core_is_the_sandbox_extra_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("graphql") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(d.startswith("graphql-core") for d in extras["sandbox"])
    assert "kraken2mqtt[sandbox]" in extras["test"]


def test_help_and_check_config_without_graphql(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "--help"]):
        result = _cli(args, tmp_path)
        assert result.returncode == 0, result.stderr
    result = _cli(["check-config"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED []" in result.stderr


def test_run_once_without_graphql_loads_no_sandbox(tmp_path: Path) -> None:
    with FakeKraken() as fk:  # the fake server lives in this process, which has the extra
        result = _cli(["run", "--once"], tmp_path, KRAKEN2MQTT_KRAKEN__ENDPOINT=fk.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED []" in result.stderr


def test_sandbox_without_graphql_says_what_to_install(tmp_path: Path) -> None:
    result = _cli(["sandbox", "--once"], tmp_path)
    assert result.returncode == 1
    assert SANDBOX_MISSING in result.stderr
    assert "install kraken2mqtt[sandbox]" in result.stderr
    assert "Traceback" not in result.stderr
