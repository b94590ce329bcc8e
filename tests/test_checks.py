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


def test_online_check_sends_each_document_once_and_says_which_were_accepted(
    tmp_path: Path,
    fake: FakeKraken,
    broker: Broker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kraken2mqtt.checks import documents_for

    monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__API_KEY", KEY)
    path = config(tmp_path, fake.url, broker.port, fake.account.number)
    # The live API rejecting a removed field, the way graphql-core words it.
    rejected = {"errors": [{"message": "Cannot query field 'plannedDispatches' on type 'Query'."}]}
    fake.faults.inject("raw", operation="PollLiveGb", body=rejected)
    assert main(["--config", path, "check-config", "--online"]) == 1
    out = capsys.readouterr().out
    sent = documents_for("octopus-gb")
    assert "PollLiveGb" in {d.name for d in sent} and "PollAccountDe" not in {d.name for d in sent}
    assert all(d.kind == "query" for d in sent)
    for doc in sent:
        assert fake.stats.requests[doc.name] == 1, doc.name  # once each, no retries
        line = next(line for line in out.splitlines() if f"Kraken document {doc.name}:" in line)
        if doc.name == "PollLiveGb":
            assert line == (
                "[FAIL] Kraken document PollLiveGb: rejected: "
                "Cannot query field 'plannedDispatches' on type 'Query'."
            )
        else:
            assert line.startswith(f"[ok] Kraken document {doc.name}: accepted"), line
    assert not any(name and name[0].islower() for name in fake.stats.requests)  # no mutation sent
    assert not fake.mutations
    assert KEY not in out


def test_check_config_says_which_kraken_heat_pump_a_local_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KRAKEN2MQTT_KRAKEN__API_KEY", KEY)
    path = Path(config(tmp_path, "http://127.0.0.1:9/graphql/", free_port()))
    path.write_text(
        path.read_text()
        + '[[devices]]\nid = "daikin"\nkind = "heat_pump"\nadapter = "espaltherma"\n'
        + 'kraken_device = "heat_pump_f001"\n'
    )
    assert main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "[ok] device daikin: is Kraken heat pump 'heat_pump_f001': a setpoint or heating on/off" in out
