from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kraken2mqtt.cli import main
from kraken2mqtt.sandbox.fake_kraken import FakeKraken


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
