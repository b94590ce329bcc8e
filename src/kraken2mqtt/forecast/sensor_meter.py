"""The shell shared by the meters that learn from an MQTT power sensor (the house load, the panels): a
payload read as power, one log line for the first unreadable one, and the learned state kept in the state
store, saved at most every 30 minutes (to spare a Pi's SD card) and on stop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.load_profile import read_power

log = structlog.get_logger(__name__)
SAVE_EVERY = timedelta(minutes=30)
T = TypeVar("T")


class ProfileStore(Protocol):
    def load_forecast(self, name: str) -> dict[str, Any] | None: ...

    def save_forecast(self, name: str, data: dict[str, Any]) -> None: ...


class SensorMeter(ABC):
    """``key``: the stored state's name; ``what``: its name in log lines; ``sensor``: the sensor's name,
    also the prefix of its settings (``forecast.<sensor>_topic``, ``_json_path``, ``_unit``)."""

    key: str
    what: str
    sensor: str

    def __init__(
        self, settings: ForecastSettings, store: ProfileStore | None, tz: str, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.topic: str | None = getattr(settings, f"{self.sensor}_topic")
        self.json_path: str | None = getattr(settings, f"{self.sensor}_json_path")
        self.unit: str = getattr(settings, f"{self.sensor}_unit")
        self.unreadable = 0
        self._saved_at: datetime | None = None
        self.start(tz)

    @abstractmethod
    def start(self, tz: str) -> None:
        """Set up the learned state: from the store (:meth:`restored`) or afresh."""

    def restored(self, parse: Callable[[dict[str, Any]], T], afresh: str) -> T | None:
        """The stored state, parsed; None when there is none or (with one log line) it is unreadable."""
        raw = self.store.load_forecast(self.key) if self.store is not None else None
        if raw is None:
            return None
        try:
            return parse(raw)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(f"stored {self.what} unreadable; {afresh}", error=str(exc))
            return None

    def take(self, payload: bytes, add: Callable[[datetime, float], object]) -> bool:
        """One sensor message into ``add(now, kW)``, saved at most every 30 minutes. False (and one log
        line for the first) when it holds no power."""
        kw = read_power(payload, self.json_path, unit=self.unit)
        if kw is None:
            if self.unreadable == 0:
                log.warning(
                    f"{self.sensor} sensor payload holds no power reading",
                    topic=self.topic,
                    path=self.json_path,
                )
            self.unreadable += 1
            return False
        now = self.clock()
        add(now, kw)
        if self._saved_at is None or now - self._saved_at >= SAVE_EVERY:
            self.save()
        return True

    def save(self) -> None:
        if self.store is not None:
            self.store.save_forecast(self.key, self.to_json())
            self._saved_at = self.clock()

    @abstractmethod
    def to_json(self) -> dict[str, Any]: ...
