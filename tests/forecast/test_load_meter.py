from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.load_meter import LoadMeter

T0 = datetime(2026, 1, 5, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.saves = 0

    def load_forecast(self, name: str) -> dict[str, Any] | None:
        return self.data.get(name)

    def save_forecast(self, name: str, data: dict[str, Any]) -> None:
        self.data[name] = data
        self.saves += 1


def test_samples_are_learned_saved_sparingly_and_restored() -> None:
    now = [T0]
    settings = ForecastSettings(load_topic="house/power", load_json_path="power", load_min_days=1)
    store = Store()
    meter = LoadMeter(settings, store, "UTC", lambda: now[0])
    for i in range(2 * 24 * 60):  # a sample a minute for two days
        now[0] = T0 + timedelta(minutes=i)
        assert meter.sample(b'{"power": 900}', planned_devices_kw=0.5)
    assert store.saves == 2 * 24 * 2  # every 30 minutes, not every sample
    daily = meter.daily_kw()
    assert daily is not None and all(abs(v - 0.4) < 1e-9 for v in daily)
    again = LoadMeter(settings, store, "UTC", lambda: now[0])
    assert again.daily_kw() == daily


def test_an_unreadable_payload_costs_the_sample() -> None:
    meter = LoadMeter(ForecastSettings(load_topic="t"), None, "UTC", lambda: T0)
    assert not meter.sample(b"on", 0.0)
    assert not meter.sample(b"{}", 0.0)
    assert meter.unreadable == 2
    assert meter.daily_kw() is None
