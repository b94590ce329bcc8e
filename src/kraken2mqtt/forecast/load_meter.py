"""The shell around :class:`~.load_profile.LoadLearner`: samples from an MQTT power sensor, the learned
profile kept in the state store (saved at most every 30 minutes, to spare a Pi's SD card)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.load_profile import LoadLearner, read_power

log = structlog.get_logger(__name__)
SAVE_EVERY = timedelta(minutes=30)
KEY = "load_profile"


class ProfileStore(Protocol):
    def load_forecast(self, name: str) -> dict[str, Any] | None: ...

    def save_forecast(self, name: str, data: dict[str, Any]) -> None: ...


class LoadMeter:
    def __init__(
        self, settings: ForecastSettings, store: ProfileStore | None, tz: str, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.learner = LoadLearner(
            tz=tz, half_life_days=settings.load_half_life_days, min_days=settings.load_min_days
        )
        self.unreadable = 0
        self._saved_at: datetime | None = None
        raw = store.load_forecast(KEY) if store is not None else None
        if raw is not None:
            try:
                self.learner = LoadLearner.from_json(
                    raw, half_life_days=settings.load_half_life_days, min_days=settings.load_min_days
                )
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("stored load profile unreadable; learning afresh", error=str(exc))

    def sample(self, payload: bytes, planned_devices_kw: float) -> bool:
        """One sensor message. False (and one log line for the first) when it holds no power."""
        kw = read_power(payload, self.settings.load_json_path, unit=self.settings.load_unit)
        if kw is None:
            if self.unreadable == 0:
                log.warning(
                    "load sensor payload holds no power reading",
                    topic=self.settings.load_topic,
                    path=self.settings.load_json_path,
                )
            self.unreadable += 1
            return False
        now = self.clock()
        devices = planned_devices_kw if self.settings.load_includes_devices else 0.0
        self.learner.add(now, kw, devices)
        if self._saved_at is None or now - self._saved_at >= SAVE_EVERY:
            self.save()
        return True

    def daily_kw(self) -> tuple[float, ...] | None:
        """The learned 48 half-hour base loads (None: not enough history yet)."""
        values = self.learner.daily()
        return tuple(values) if values is not None else None

    def save(self) -> None:
        if self.store is not None:
            self.store.save_forecast(KEY, self.learner.to_json())
            self._saved_at = self.clock()
