"""Fixtures of the Home Assistant tests: a view built from a real poll of the fake Kraken server."""

from __future__ import annotations

import pytest

from kraken2mqtt.devices.base import ReportedState
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.snapshot import Device
from kraken2mqtt.mqtt import homeassistant as ha
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.settings import load_settings
from tests.kraken.conftest import MakeClient

TOPICS = ha.Topics(base="kraken2mqtt", discovery_prefix="homeassistant")
HA_PLATFORMS = {
    "sensor",
    "binary_sensor",
    "switch",
    "number",
    "select",
    "text",
    "button",
    "climate",
    "water_heater",
}


def key_of(dev: Device) -> str:
    return f"{dev.kind.value}_{dev.id[:8]}"


@pytest.fixture
async def view(fake: FakeKraken, make_client: MakeClient, clock: object) -> ha.View:
    from kraken2mqtt.clock import ManualClock

    assert isinstance(clock, ManualClock)
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    local = load_settings(
        None,
        devices=[
            {"id": "ev", "kind": "ev", "adapter": "openevse", "topic": "openevse-1"},
            {"id": "immersion", "kind": "relay", "adapter": "tasmota", "topic": "immersion"},
        ],
    ).devices
    return ha.View(
        snapshot=poller.snapshot,
        signals=poller.signals(),
        now=clock.now(),
        local_devices=local,
        reported={"ev": ReportedState(plugged_in=True, power_kw=7.2, soc_pct=55.0)},
    )
