"""The shell around :class:`~.load_profile.LoadLearner`: samples from an MQTT power sensor
(``forecast.load_topic``), the learned profile kept in the state store (forecast/sensor_meter.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.load_profile import LoadLearner
from kraken2mqtt.forecast.sensor_meter import ProfileStore, SensorMeter

log = structlog.get_logger(__name__)
KEY = "load_profile"


class LoadMeter(SensorMeter):
    key, what = KEY, "load"

    def __init__(
        self, settings: ForecastSettings, store: ProfileStore | None, tz: str, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(
            store,
            clock,
            topic=settings.load_topic,
            json_path=settings.load_json_path,
            unit=settings.load_unit,
        )
        self.settings = settings
        self.learner = LoadLearner(
            tz=tz, half_life_days=settings.load_half_life_days, min_days=settings.load_min_days
        )
        raw = self.stored()
        if raw is not None:
            try:
                self.learner = LoadLearner.from_json(
                    raw, half_life_days=settings.load_half_life_days, min_days=settings.load_min_days
                )
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("stored load profile unreadable; learning afresh", error=str(exc))

    def sample(self, payload: bytes, planned_devices_kw: float) -> bool:
        """One sensor message. False (and one log line for the first) when it holds no power."""
        got = self.read(payload)
        if got is None:
            return False
        now, kw = got
        devices = planned_devices_kw if self.settings.load_includes_devices else 0.0
        self.learner.add(now, kw, devices)
        self.saved_lately(now)
        return True

    def daily_kw(self) -> tuple[float, ...] | None:
        """The learned 48 half-hour base loads (None: not enough history yet)."""
        values = self.learner.daily()
        return tuple(values) if values is not None else None

    def to_json(self) -> dict[str, Any]:
        return self.learner.to_json()
