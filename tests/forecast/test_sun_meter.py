from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.sun_meter import KEY, SunMeter
from tests.forecast.test_load_meter import Store

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def test_samples_are_measured_saved_sparingly_and_restored() -> None:
    now = [T0]
    settings = ForecastSettings(solar_topic="pv/power", solar_json_path="pv")
    store = Store()
    meter = SunMeter(settings, store, "UTC", lambda: now[0])
    for i in range(24 * 60):  # a sample a minute for a day: 2 kW from 10:00 to 14:00
        now[0] = T0 + timedelta(minutes=i)
        assert meter.sample(b'{"pv": 2000}' if 600 <= i < 840 else b'{"pv": 0}')
    assert store.saves == 24 * 2  # every 30 minutes, not every sample
    meter.save()
    again = SunMeter(settings, store, "UTC", lambda: now[0])
    assert again.measured.today_kwh(now[0]) == meter.measured.today_kwh(now[0])
    assert again.measured.history.past_days(T0 + timedelta(days=1)) != []


def test_an_unreadable_payload_or_record_costs_only_itself() -> None:
    store = Store()
    store.data[KEY] = {"tz": "UTC", "days": {"2026-06-01": [1.0, 2.0]}}
    meter = SunMeter(ForecastSettings(solar_topic="t"), store, "UTC", lambda: T0)
    assert meter.measured.history.days == {}  # unreadable: measuring afresh
    assert not meter.sample(b"on")
    assert not meter.sample(b"{}")
    assert meter.unreadable == 2
    assert meter.sample(b"1500")
