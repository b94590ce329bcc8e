"""Publishes the Home Assistant view: discovery, availability, state and attributes, only what changed
(everything again after a reconnect or a Home Assistant restart)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kraken2mqtt.kraken.commands import default_key_of
from kraken2mqtt.mqtt import homeassistant as ha

Publish = Callable[[str, str, bool], Awaitable[bool]]


class HaPublisher:
    def __init__(self, publish: Publish, topics: ha.Topics) -> None:
        self._publish = publish
        self.topics = topics
        self._last: dict[str, str] = {}  # topic → payload last published (retained)
        self._devices: set[str] = set()

    def forget(self) -> None:
        """Publish everything on the next call (after a reconnect or HA's birth message)."""
        self._last.clear()

    async def publish(self, view: ha.View) -> int:
        devices = ha.build(view, default_key_of)
        keys = {d.key for d in devices}
        out = [m for dev in devices for m in ha.messages(dev, self.topics)]
        if self._devices:
            out += ha.removed(self._devices, keys, self.topics)
        sent = 0
        for topic, payload, retain in out:
            if self._last.get(topic) == payload:
                continue
            if await self._publish(topic, payload, retain):
                self._last[topic] = payload
                sent += 1
        self._devices = keys
        return sent
