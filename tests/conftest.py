from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from kraken2mqtt.redact import register_secret
from tests.brokers import Broker, start_broker

pytest_plugins = ["tests.fixtures_kraken"]

# Property tests draw the same examples on every run and machine (a run never fails by luck of the draw);
# HYPOTHESIS_PROFILE=explore searches afresh each time.
settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """A real MQTT broker (private Mosquitto, else in-process amqtt) for the whole session."""
    b = start_broker()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the machine's config, credentials or state."""
    for key in list(os.environ):
        if key.startswith("KRAKEN2MQTT_") or key in {"CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"}:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setattr("kraken2mqtt.settings.DEFAULT_CONFIG", tmp_path / "absent.toml")


@pytest.fixture
def secret_api_key() -> str:
    key = "sk_test_fake_api_key"
    register_secret(key)
    return key
