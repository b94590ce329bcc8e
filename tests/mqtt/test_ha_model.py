"""The Home Assistant model the recorder benchmark reads our messages with: one row per state change."""

from __future__ import annotations

import json

from kraken2mqtt.mqtt import homeassistant as ha
from tests.mqtt.conftest import TOPICS
from tests.mqtt.ha_model import Message, replay


def _messages(dev: ha.HaDevice, t: float) -> list[Message]:
    return [
        Message(t, topic, payload.encode(), retain) for topic, payload, retain in ha.messages(dev, TOPICS)
    ]


def test_rows_are_counted_only_when_an_entitys_state_or_attributes_change() -> None:
    def device(price: float, stale: bool) -> ha.HaDevice:
        return ha.HaDevice(
            "account",
            "Account",
            "Octopus",
            "full",
            (
                ha.Entity("import_price", "sensor", "Import price", price),
                ha.Entity("stale", "binary_sensor", "Stale", ha.on_off(stale), attributes={"n": int(stale)}),
                ha.Entity("quiet", "sensor", "Quiet", 1, enabled=False),
            ),
        )

    price, stale = "sensor.kraken2mqtt_account_import_price", "binary_sensor.kraken2mqtt_account_stale"

    def rows_after(*steps: tuple[float, bool]) -> tuple[int, int]:
        msgs = [Message(0, TOPICS.status, b"online")]
        for t, (p, st) in enumerate(steps):
            msgs += _messages(device(p, st), t + 1)
        names = [entity for _, entity in replay(msgs).rows]
        return names.count(price), names.count(stale)

    first = rows_after((0.2, False))  # created, available, its first value
    assert rows_after((0.2, False), (0.2, False)) == first  # the same again: no row
    assert rows_after((0.2, False), (0.3, False)) == (first[0] + 1, first[1])  # the price only
    # state and attributes in one message: HA writes them at once (one row)
    assert rows_after((0.2, False), (0.2, True)) == (first[0], first[1] + 1)
    result = replay(_messages(device(0.2, True), 1))
    assert result.disabled == 1
    assert result.warnings == []
    assert json.loads(result.entities[stale].attributes or "{}") == {"n": 1}
