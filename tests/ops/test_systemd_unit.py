"""systemd/kraken2mqtt.service: the directives the daemon relies on, ``systemd-analyze verify`` clean and
``systemd-analyze security`` at most 2.0 (both skipped where systemd-analyze is absent)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kraken2mqtt.settings import CREDENTIAL_FILES, DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "kraken2mqtt.service"
EXEC = "/opt/kraken2mqtt/venv/bin/kraken2mqtt"
MAX_EXPOSURE = 2.0


def directives(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of every section (keys may repeat), comments and continuations aside."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def one(d: dict[str, list[str]], key: str) -> str:
    values = d.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def test_the_unit_has_what_the_daemon_needs() -> None:
    d = directives(UNIT.read_text())
    assert one(d, "Type") == "notify"
    assert one(d, "NotifyAccess") == "main"
    assert float(one(d, "WatchdogSec")) >= 30
    assert one(d, "Restart") == "on-failure"
    assert one(d, "RestartPreventExitStatus") == "2"  # configuration errors: restarting cannot help
    assert one(d, "DynamicUser") == "yes"
    assert one(d, "StateDirectory") == "kraken2mqtt"
    assert one(d, "ConfigurationDirectory") == "kraken2mqtt"
    assert one(d, "ExecStart") == f"{EXEC} --config {DEFAULT_CONFIG} run"
    assert one(d, "UMask") == "0077"
    assert "MemoryMax" in d and "WantedBy" in d
    # The notify socket is AF_UNIX; the Kraken API and the broker are AF_INET/AF_INET6.
    assert set(one(d, "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_ordered_after_the_clock_and_logging_priorities() -> None:
    d = directives(UNIT.read_text())
    after = {unit for value in d["After"] for unit in value.split()}
    assert {"time-set.target", "time-sync.target", "network-online.target"} <= after
    # systemd.special(7): "Services where accurate time is essential should be ordered after this unit,
    # but not pull it in."
    assert not any("time-sync.target" in v for v in d.get("Wants", []) + d.get("Requires", []))
    assert d.get("SyslogLevelPrefix", ["yes"]) == ["yes"]  # journald reads the daemon's "<N>" prefixes


def test_the_settings_find_the_units_state_directory() -> None:
    from kraken2mqtt.settings import SERVICE_STATE_ROOT, service_state_dir

    assert service_state_dir(UNIT) == SERVICE_STATE_ROOT / one(directives(UNIT.read_text()), "StateDirectory")


def test_every_credential_is_loaded_and_optional() -> None:
    d = directives(UNIT.read_text())
    loaded = dict(v.split(":", 1) for v in d["LoadCredential"])
    assert set(loaded) == set(CREDENTIAL_FILES)  # the names settings.py reads from $CREDENTIALS_DIRECTORY
    for name, path in loaded.items():
        assert path == f"/etc/kraken2mqtt/credentials/{name}"
    # A SetCredential= of the same name is the fallback when the file is missing; its value ("\n") is
    # blank once stripped, which the settings treat as not set.
    defaults = dict(v.split(":", 1) for v in d["SetCredential"])
    assert defaults == {name: "\\n" for name in CREDENTIAL_FILES}
    assert not any("Environment" in k and "KEY" in " ".join(v).upper() for k, v in d.items())


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    return tool


def _testable_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists (verify insists on it)."""
    stub = tmp_path / "bin" / "kraken2mqtt"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    unit = unit_dir / "kraken2mqtt.service"
    text = UNIT.read_text()
    assert EXEC in text
    unit.write_text(text.replace(EXEC, str(stub)))
    return unit


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    tool = _analyze()
    unit = _testable_unit(tmp_path)
    result = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, cwd=unit.parent, check=False
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "kraken2mqtt" in line]
    assert result.returncode == 0, result.stdout + result.stderr
    assert ours == [], "\n".join(ours)


def test_systemd_analyze_security_rates_it_at_most_2(tmp_path: Path) -> None:
    tool = _analyze()
    usage = subprocess.run([tool, "--help"], capture_output=True, text=True, check=False).stdout
    if "--offline" not in usage:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    unit = _testable_unit(tmp_path)
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=unit.parent,
        check=False,
    )
    match = re.search(r"Overall exposure level for kraken2mqtt\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
    assert "kraken2mqtt.service:" not in result.stderr, result.stderr  # no parse warnings either
