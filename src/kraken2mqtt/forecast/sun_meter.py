"""The shell around :class:`~.measured_sun.MeasuredSun`: samples from the panels' MQTT power sensor
(``forecast.solar_topic``), the per-half-hour history kept in the state store (saved at most every 30
minutes, to spare a Pi's SD card, and on stop) so that a restart keeps today's count and the last days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.load_meter import SAVE_EVERY, ProfileStore
from kraken2mqtt.forecast.load_profile import read_power
from kraken2mqtt.forecast.measured_sun import MeasuredSun

log = structlog.get_logger(__name__)
KEY = "measured_sun"


class SunMeter:
    def __init__(
        self, settings: ForecastSettings, store: ProfileStore | None, tz: str, clock: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.measured = MeasuredSun(tz)
        self.unreadable = 0
        self._saved_at: datetime | None = None
        raw = store.load_forecast(KEY) if store is not None else None
        if raw is not None:
            try:
                self.measured = MeasuredSun.from_json(raw, tz)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("stored measured sun unreadable; measuring afresh", error=str(exc))

    def sample(self, payload: bytes) -> bool:
        """One sensor message. False (and one log line for the first) when it holds no power."""
        kw = read_power(payload, self.settings.solar_json_path, unit=self.settings.solar_unit)
        if kw is None:
            if self.unreadable == 0:
                log.warning(
                    "solar sensor payload holds no power reading",
                    topic=self.settings.solar_topic,
                    path=self.settings.solar_json_path,
                )
            self.unreadable += 1
            return False
        now = self.clock()
        self.measured.sample(now, kw)
        if self._saved_at is None or now - self._saved_at >= SAVE_EVERY:
            self.save()
        return True

    def save(self) -> None:
        if self.store is not None:
            self.store.save_forecast(KEY, self.measured.to_json())
            self._saved_at = self.clock()
