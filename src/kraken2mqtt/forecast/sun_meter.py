"""The shell around :class:`~.measured_sun.MeasuredSun`: samples from the panels' MQTT power sensor
(``forecast.solar_topic``), the per-half-hour history kept in the state store (forecast/sensor_meter.py),
so that a restart keeps today's count and the last days."""

from __future__ import annotations

from typing import Any

from kraken2mqtt.forecast.measured_sun import MeasuredSun
from kraken2mqtt.forecast.sensor_meter import SensorMeter

KEY = "measured_sun"


class SunMeter(SensorMeter):
    key, what, sensor = KEY, "measured sun", "solar"

    def start(self, tz: str) -> None:
        restored = self.restored(lambda raw: MeasuredSun.from_json(raw, tz), "measuring afresh")
        self.measured = restored if restored is not None else MeasuredSun(tz)

    def sample(self, payload: bytes) -> bool:
        """One sensor message. False (and one log line for the first) when it holds no power."""
        return self.take(payload, self.measured.sample)

    def to_json(self) -> dict[str, Any]:
        return self.measured.to_json()
