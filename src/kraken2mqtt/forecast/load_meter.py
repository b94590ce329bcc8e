"""The shell around :class:`~.load_profile.LoadLearner`: samples from an MQTT power sensor
(``forecast.load_topic``), the learned profile kept in the state store (forecast/sensor_meter.py)."""

from __future__ import annotations

from typing import Any

from kraken2mqtt.forecast.load_profile import LoadLearner
from kraken2mqtt.forecast.sensor_meter import SensorMeter

KEY = "load_profile"


class LoadMeter(SensorMeter):
    key, what, sensor = KEY, "load profile", "load"

    def start(self, tz: str) -> None:
        half_life, min_days = self.settings.load_half_life_days, self.settings.load_min_days
        restored = self.restored(
            lambda raw: LoadLearner.from_json(raw, half_life_days=half_life, min_days=min_days),
            "learning afresh",
        )
        self.learner = (
            restored
            if restored is not None
            else LoadLearner(tz=tz, half_life_days=half_life, min_days=min_days)
        )

    def sample(self, payload: bytes, planned_devices_kw: float) -> bool:
        """One sensor message. False (and one log line for the first) when it holds no power."""
        devices = planned_devices_kw if self.settings.load_includes_devices else 0.0
        return self.take(payload, lambda now, kw: self.learner.add(now, kw, devices))

    def daily_kw(self) -> tuple[float, ...] | None:
        """The learned 48 half-hour base loads (None: not enough history yet)."""
        values = self.learner.daily()
        return tuple(values) if values is not None else None

    def to_json(self) -> dict[str, Any]:
        return self.learner.to_json()
