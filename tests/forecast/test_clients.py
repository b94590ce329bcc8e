"""Each client against its service's documented answer (fixtures/README.md says where each comes from)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.forecast import forecast_solar, open_meteo, solcast
from kraken2mqtt.forecast.config import ForecastSettings, SolarPlane
from kraken2mqtt.forecast.errors import ForecastMalformed, ForecastRateLimited
from tests.forecast.fake_services import fixture

PLANE = SolarPlane(name="south", tilt_deg=35, azimuth_deg=0, kwp=4.0, losses_pct=14)


def test_open_meteo_irradiance_becomes_energy_of_the_hour_before() -> None:
    slots = open_meteo.plane_energy(fixture("open_meteo_forecast.json"), PLANE)
    noon = next(s for s in slots if s.end == datetime(2026, 6, 1, 12, tzinfo=UTC))
    assert noon.start == datetime(2026, 6, 1, 11, tzinfo=UTC)
    body = fixture("open_meteo_forecast.json")
    w_m2 = body["hourly"]["global_tilted_irradiance"][12]
    assert noon.kwh == pytest.approx(4.0 * w_m2 / 1000 * 0.86)
    # The model's nulls are left out, not read as zero sun.
    assert slots[-1].end == datetime(2026, 6, 3, 21, tzinfo=UTC)


def test_open_meteo_clips_at_the_inverter_and_ignores_negative_irradiance() -> None:
    body = fixture("open_meteo_forecast.json")
    body["hourly"]["global_tilted_irradiance"][3] = -84.0  # open-meteo/open-meteo issue 1355
    plane = PLANE.model_copy(update={"inverter_kw": 2.0})
    slots = open_meteo.plane_energy(body, plane)
    assert max(s.kwh for s in slots) == pytest.approx(2.0)
    assert min(s.kwh for s in slots) == 0.0


def test_open_meteo_temperatures_and_local_offsets() -> None:
    body = fixture("open_meteo_forecast.json")
    body["utc_offset_seconds"] = 3600
    temps = open_meteo.temperatures(body)
    assert temps[0].at == datetime(2026, 5, 31, 23, tzinfo=UTC)
    assert len(temps) == 71  # the last one is null


def test_open_meteo_params_name_the_plane() -> None:
    s = ForecastSettings(solar=True, weather=True, latitude=52.2, longitude=0.12, planes=(PLANE,))
    params = open_meteo.params_for(s, PLANE, weather=True)
    assert params["hourly"] == "global_tilted_irradiance,temperature_2m"
    assert (params["tilt"], params["azimuth"], params["timezone"]) == ("35", "0", "UTC")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"hourly": {"time": ["2026-06-01T00:00"], "global_tilted_irradiance": []}},
        {"hourly": {"time": ["yesterday"], "global_tilted_irradiance": [1.0]}},
        {"hourly": {"time": ["2026-06-01T00:00"], "global_tilted_irradiance": ["sunny"]}},
    ],
)
def test_open_meteo_malformed_answers_are_named(body: object) -> None:
    with pytest.raises(ForecastMalformed, match="Open-Meteo"):
        open_meteo.plane_energy(body, PLANE)


def test_forecast_solar_periods_sum_to_the_days_totals() -> None:
    body = fixture("forecast_solar_estimate.json")
    slots = forecast_solar.plane_energy(body, PLANE)
    by_day: dict[str, float] = {}
    for s in slots:
        day = s.end.astimezone(UTC).strftime("%Y-%m-%d")
        by_day[day] = by_day.get(day, 0.0) + s.kwh
    assert by_day["2024-04-26"] == pytest.approx(6.660)
    assert by_day["2024-04-27"] == pytest.approx(5.338)
    first = slots[0]  # 06:20:17 → 07:00 local (+02:00): the first period runs from the previous key
    assert first.start == datetime(2024, 4, 26, 4, 20, 17, tzinfo=UTC)
    assert first.end == datetime(2024, 4, 26, 5, tzinfo=UTC)


def test_forecast_solar_local_keys_use_the_answers_time_zone() -> None:
    body = fixture("forecast_solar_estimate.json")
    body["result"]["watt_hours_period"] = {"2024-04-26 12:00:00": 800, "2024-04-26 13:00:00": 700}
    slots = forecast_solar.plane_energy(body, PLANE)
    assert slots[1].start == datetime(2024, 4, 26, 10, tzinfo=UTC)  # 12:00 in Amsterdam (CEST)


def test_forecast_solar_rate_limit_says_when_to_come_back() -> None:
    assert forecast_solar.retry_at(fixture("forecast_solar_ratelimit.json")) == datetime(
        2024, 4, 27, 0, 48, 53, tzinfo=UTC
    )


def test_forecast_solar_url_holds_the_key_only_in_the_path() -> None:
    s = ForecastSettings(
        solar=True,
        provider="forecast-solar",
        latitude=52.16,
        longitude=4.47,
        planes=(PLANE,),
        forecast_solar_api_key="fs-secret",
    )
    assert forecast_solar.url_for(s, PLANE).endswith("/fs-secret/estimate/52.1600/4.4700/35/0/4")


def test_solcast_periods_end_at_period_end() -> None:
    slots = solcast.site_energy(fixture("solcast_forecasts.json"))
    assert slots[1].start == datetime(2026, 6, 1, 4, tzinfo=UTC)
    assert slots[1].end == datetime(2026, 6, 1, 4, 30, tzinfo=UTC)
    assert slots[1].kwh == pytest.approx(0.2)
    assert slots[1].end - slots[1].start == timedelta(minutes=30)


def test_solcast_malformed() -> None:
    with pytest.raises(ForecastMalformed, match="Solcast"):
        solcast.site_energy(
            {"forecasts": [{"period_end": "2026-06-01T04:00:00Z", "period": "P1D", "pv_estimate": 1}]}
        )


def test_rate_limited_error_carries_the_time() -> None:
    e = ForecastRateLimited("x", datetime(2026, 1, 1, tzinfo=UTC))
    assert e.retry_at is not None
