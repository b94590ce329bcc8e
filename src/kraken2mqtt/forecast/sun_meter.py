"""The shell around :class:`~.measured_sun.MeasuredSun`: samples from the panels' MQTT power sensor
(``forecast.solar_topic``), the per-half-hour history kept in the state store (forecast/sensor_meter.py),
so that a restart keeps today's count and the last days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.measured_sun import MeasuredSun
from kraken2mqtt.forecast.sensor_meter import ProfileStore, SensorMeter

log = structlog.get_logger(__name__)
KEY = "measured_sun"


class SunMeter(SensorMeter):
    key, what = KEY, "solar"

    def __init__(
        self, settings: ForecastSettings, store: ProfileStore | None, tz: str, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(
            store,
            clock,
            topic=settings.solar_topic,
            json_path=settings.solar_json_path,
            unit=settings.solar_unit,
        )
        self.measured = MeasuredSun(tz)
        raw = self.stored()
        if raw is not None:
            try:
                self.measured = MeasuredSun.from_json(raw, tz)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("stored measured sun unreadable; measuring afresh", error=str(exc))

    def sample(self, payload: bytes) -> bool:
        """One sensor message. False (and one log line for the first) when it holds no power."""
        got = self.read(payload)
        if got is None:
            return False
        now, kw = got
        self.measured.sample(now, kw)
        self.saved_lately(now)
        return True

    def to_json(self) -> dict[str, Any]:
        return self.measured.to_json()
