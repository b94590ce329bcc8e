from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kraken2mqtt.cli import main
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.brokers import Broker, free_port

KEY = "sk_test_fake_api_key"


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(api_key=KEY) as fk:
        yield fk


def config(tmp_path: Path, endpoint: str, port: int, account: str | None = None) -> str:
    text = f'state_dir = "{tmp_path / "state"}"\n[kraken]\nendpoint = "{endpoint}"\n'
    if account:
        text += f'account_number = "{account}"\n'
    text += f"[mqtt]\nport = {port}\n"
    path = tmp_path / "k.toml"
    path.write_text(text)
    return str(path)


def test_online_check_reports_each_step(
    tmp_path: Path,
    fake: FakeKraken,
    broker: Broker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__API_KEY", KEY)
    path = config(tmp_path, fake.url, broker.port, fake.account.number)
    assert main(["--config", path, "check-config", "--online"]) == 0
    out = capsys.readouterr().out
    assert "[ok] Kraken: authenticated" in out
    assert f"[ok] Kraken: account {fake.account.number} found" in out
    assert f"[ok] MQTT: connected to 127.0.0.1:{broker.port}" in out
    assert KEY not in out


def test_online_check_failures(
    tmp_path: Path, fake: FakeKraken, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__API_KEY", "sk_test_wrong_key_42")
    path = config(tmp_path, fake.url, free_port())
    assert main(["--config", path, "check-config", "--online"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] Kraken: KT-CT-1135" in out
    assert "[FAIL] MQTT: cannot connect" in out
    assert "sk_test_wrong_key_42" not in out
