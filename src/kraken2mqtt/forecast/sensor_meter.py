"""The shell shared by the meters that learn from an MQTT power sensor (the house load, the panels): a
payload read as power, one log line for the first unreadable one, and the learned state kept in the state
store, saved at most every 30 minutes (to spare a Pi's SD card) and on stop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from kraken2mqtt.forecast.load_profile import read_power

log = structlog.get_logger(__name__)
SAVE_EVERY = timedelta(minutes=30)


class ProfileStore(Protocol):
    def load_forecast(self, name: str) -> dict[str, Any] | None: ...

    def save_forecast(self, name: str, data: dict[str, Any]) -> None: ...


class SensorMeter(ABC):
    """``key``: the stored state's name; ``what``: the sensor's name in log lines."""

    key: str
    what: str

    def __init__(
        self,
        store: ProfileStore | None,
        clock: Callable[[], datetime],
        *,
        topic: str | None,
        json_path: str | None,
        unit: str,
    ) -> None:
        self.store = store
        self.clock = clock
        self.topic, self.json_path, self.unit = topic, json_path, unit
        self.unreadable = 0
        self._saved_at: datetime | None = None

    def stored(self) -> dict[str, Any] | None:
        return self.store.load_forecast(self.key) if self.store is not None else None

    def read(self, payload: bytes) -> tuple[datetime, float] | None:
        """The sample's time and power in kW; None (and one log line for the first) when it holds none."""
        kw = read_power(payload, self.json_path, unit=self.unit)
        if kw is None:
            if self.unreadable == 0:
                log.warning(
                    f"{self.what} sensor payload holds no power reading",
                    topic=self.topic,
                    path=self.json_path,
                )
            self.unreadable += 1
            return None
        return self.clock(), kw

    def saved_lately(self, now: datetime) -> None:
        """Save unless that was done less than 30 minutes ago."""
        if self._saved_at is None or now - self._saved_at >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        if self.store is not None:
            self.store.save_forecast(self.key, self.to_json())
            self._saved_at = self.clock()

    @abstractmethod
    def to_json(self) -> dict[str, Any]: ...
