from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kraken2mqtt.cli import main
from kraken2mqtt.kraken.tokens import TokenSet
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore
from tests.brokers import Broker
from tests.test_settings import installed
from tests.timing import scaled


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kraken2mqtt.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "sandbox", "check-config", "plan", "status"):
        assert command in result.stdout


def test_sandbox_once_finds_the_simulated_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--once"]) == 0
    out = capsys.readouterr().out
    assert "A-SANDBOX1" in out
    assert "prices: import" in out
    assert "sk_test" not in out


def test_run_without_credentials_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "no Kraken credentials" in capsys.readouterr().out


def test_status_without_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 0
    assert '"token_expires_at": null' in capsys.readouterr().out
    assert main(["status"]) == 0
    assert "no data yet" in capsys.readouterr().out


def test_run_once_against_the_fake_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKraken(api_key="sk_test_fake_api_key") as fk:
        monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__ENDPOINT", fk.url)
        monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__API_KEY", "sk_test_fake_api_key")
        monkeypatch.setenv("KRAKEN2MQTT_STATE_DIR", str(tmp_path / "state"))
        assert main(["run", "--once"]) == 0
        assert main(["run", "--once"]) == 0  # a second start reuses the persisted token
        assert fk.stats.mints == {"api_key": 1}
    out = capsys.readouterr().out
    assert fk.account.number in out
    assert main(["status", "--json"]) == 0
    assert '"account": "' + fk.account.number in capsys.readouterr().out
    assert main(["status"]) == 0
    assert "prices: import" in capsys.readouterr().out


# -- after `sudo deploy/install.sh`: the deploy README's commands, outside the service -------------------


def test_check_config_reads_the_installed_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], broker: Broker
) -> None:
    """`sudo kraken2mqtt --config /etc/kraken2mqtt/kraken2mqtt.toml check-config [--online]`."""
    with FakeKraken(api_key="sk_live_installed1") as fk:
        config = installed(tmp_path, monkeypatch)
        config.write_text(
            f'[kraken]\nendpoint = "{fk.url}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
        )
        home, scratch = tmp_path / "root-home", tmp_path / "tmp"
        home.mkdir()
        scratch.mkdir()
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_STATE_HOME")
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        assert main(["--config", str(config), "check-config"]) == 0
        assert "[ok] Kraken credentials present" in capsys.readouterr().out
        assert main(["--config", str(config), "check-config", "--online"]) == 0
        out = capsys.readouterr().out
        assert "[ok] Kraken: authenticated" in out and "[ok] MQTT: connected" in out, out
        assert fk.stats.mints == {"api_key": 1}
    # No token left behind: not in root's home, not in the service's state directory, not in /tmp.
    assert list(home.rglob("*")) == []
    assert not (tmp_path / "var" / "lib" / "kraken2mqtt").exists()
    assert list(scratch.iterdir()) == []


def test_status_reads_the_service_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sudo kraken2mqtt --config /etc/kraken2mqtt/kraken2mqtt.toml status` sees what the service stored."""
    config = installed(tmp_path, monkeypatch)
    service_state = tmp_path / "var" / "lib" / "kraken2mqtt"
    with StateStore(service_state) as store:
        SqliteTokenStore(store).save(TokenSet(token="tok-service-1", expires_at=1_900_000_000.0))
    assert main(["--config", str(config), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state_dir"] == str(service_state)
    assert status["token_expires_at"] == "2030-03-17T17:46:40+00:00"


ROOT_ONLY_RUN = """
import sys
from pathlib import Path
import kraken2mqtt.settings as s
root = Path(sys.argv[1])
s.DEFAULT_CONFIG = root / "etc/kraken2mqtt/kraken2mqtt.toml"
s.SERVICE_UNIT = root / "etc/systemd/system/kraken2mqtt.service"
s.SERVICE_STATE_ROOT = root / "var/lib"
from kraken2mqtt.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_without_sudo_the_installed_files_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """As user `pi` without sudo: the root-only credentials and state are named, never 'no data yet'."""
    root = Path(tempfile.mkdtemp(prefix="k2m-installed-"))
    try:
        root.chmod(0o755)
        config = installed(root, monkeypatch)
        service_state = root / "var" / "lib" / "kraken2mqtt"
        service_state.mkdir(parents=True, mode=0o700)
        home = root / "home"
        home.mkdir(mode=0o777)

        def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 sys.executable, "-c", ROOT_ONLY_RUN, str(root), "--config", str(config), *args],
                capture_output=True, text=True, timeout=scaled(60),
                env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
            )  # fmt: skip

        probe = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", "import kraken2mqtt"],
            capture_output=True, text=True, timeout=scaled(60),
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        if probe.returncode != 0:  # a checkout under a private directory (mktemp -d is 0700)
            pytest.skip("the checkout or its venv is not readable by an unprivileged user here")
        check = as_nobody("check-config")
        assert check.returncode == 1, check
        assert f"cannot read the credentials in {config.parent / 'credentials'}/" in check.stderr
        assert "run with sudo" in check.stderr
        status = as_nobody("status")
        assert status.returncode == 1, status
        assert f"cannot read the state directory {service_state}" in status.stderr
        assert "no data yet" not in status.stdout
    finally:
        shutil.rmtree(root)


def test_status_shows_the_daemons_tasks_and_the_clock_wait(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the running daemon saved (Daemon._save_state): each task's state and restarts, and why it waits
    for the clock; a secret in a task's last error is not shown."""
    from datetime import UTC, datetime

    from kraken2mqtt.redact import register_secret
    from kraken2mqtt.state import DAEMON_STATE_KEY, encode_daemon_state

    register_secret("sk_live_status_secret_1")
    monkeypatch.setenv("KRAKEN2MQTT_STATE_DIR", str(tmp_path / "state"))
    tasks = [
        {"name": "mqtt", "state": "running", "restarts": 0, "critical": True, "last_error": None},
        {
            "name": "poller",
            "state": "restarting",
            "restarts": 3,
            "critical": True,
            "last_error": "RuntimeError: bad key sk_live_status_secret_1",
        },
        {"name": "metrics", "state": "failed", "restarts": 1, "critical": False, "last_error": "OSError: x"},
    ]
    why = "the clock says 1970-01-01T00:00:12+00:00, before this version was written"
    with StateStore(tmp_path / "state") as store:
        store.set(DAEMON_STATE_KEY, encode_daemon_state(tasks, why, datetime(2026, 12, 2, 8, tzinfo=UTC)))
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["waiting_for_clock"] == why
    assert [(t["name"], t["state"], t["restarts"]) for t in status["tasks"]] == [
        ("mqtt", "running", 0),
        ("poller", "restarting", 3),
        ("metrics", "failed", 1),
    ]
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"waiting for the clock: {why}" in out
    assert "tasks (at 2026-12-02T08:00:00+00:00): mqtt running, poller restarting (3 restarts; last: " in out
    assert "metrics failed (1 restart; last: OSError: x)" in out
    assert "sk_live_status_secret_1" not in out + json.dumps(status)


def test_a_dead_man_problem_names_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "k.toml"
    config.write_text(
        '[planner]\nreconcile_seconds = 60\n[[devices]]\nid = "r"\nkind = "relay"\nadapter = "tasmota"\n'
        'topic = "t"\npulse_time_seconds = 100\n'
    )
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "  devices[r].pulse_time_seconds: 100 s is shorter than 4 reconcile passes" in err
    assert "[TOML devices[r].pulse_time_seconds (or planner.reconcile_seconds)]" in err
    assert "top level" not in err
