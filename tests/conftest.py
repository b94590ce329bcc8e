from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kraken2mqtt.redact import register_secret
from tests.brokers import Broker, start_broker

pytest_plugins = ["tests.fixtures_kraken"]


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
    import os

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
