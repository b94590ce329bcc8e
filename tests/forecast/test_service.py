"""The forecast service over HTTP against the fake services, on a simulated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kraken2mqtt.forecast.config import ForecastSettings, SolarPlane
from kraken2mqtt.forecast.service import ForecastService, solar_interval
from tests.forecast.fake_services import FakeServices

T0 = datetime(2026, 6, 1, 6, tzinfo=UTC)
PLANES = (
    SolarPlane(name="east", tilt_deg=30, azimuth_deg=-90, kwp=3.0),
    SolarPlane(name="west", tilt_deg=30, azimuth_deg=90, kwp=3.0),
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def load_forecast(self, name: str) -> dict[str, Any] | None:
        return self.data.get(name)

    def save_forecast(self, name: str, data: dict[str, Any]) -> None:
        self.data[name] = data


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=0.5) as c:
        yield c


def settings(services: FakeServices, **kw: Any) -> ForecastSettings:
    base: dict[str, Any] = {
        "solar": True,
        "weather": True,
        "latitude": 52.2,
        "longitude": 0.12,
        "planes": PLANES,
        "open_meteo_url": f"{services.url}/v1/forecast",
        "forecast_solar_url": services.url,
        "solcast_url": services.url,
    }
    return ForecastSettings(**{**base, **kw})


async def test_open_meteo_one_call_per_plane_with_the_weather_riding_along(
    services: FakeServices, client: httpx.AsyncClient
) -> None:
    clock, store = Clock(), MemoryStore()
    svc = ForecastService(settings(services), client, store, clock)
    assert await svc.poll_due()
    assert len(services.requests) == 2
    assert services.requests[0].query["hourly"] == "global_tilted_irradiance,temperature_2m"
    assert services.requests[1].query["azimuth"] == "90"
    assert all(r.headers["user-agent"].startswith("kraken2mqtt/") for r in services.requests)
    solar = svc.solar_now()
    assert solar is not None and solar.energy_between(T0, T0 + timedelta(days=1)) > 10
    assert svc.weather_now() is not None
    # Nothing is due again for an hour.
    assert not await svc.poll_due()
    assert len(services.requests) == 2
    assert svc.next_due() == T0 + timedelta(hours=1)
    # A restart starts from the persisted forecasts, before any request.
    again = ForecastService(settings(services), client, store, clock)
    assert again.solar_now() == solar


async def test_an_outage_keeps_the_last_good_forecast_then_drops_it(
    services: FakeServices, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    svc = ForecastService(settings(services, max_age_hours=6), client, None, clock)
    await svc.poll_due()
    good = svc.solar_now()
    services.fault = "500"
    clock.now += timedelta(hours=1)
    assert not await svc.poll_due()
    assert svc.solar_now() == good
    status = svc.status()["solar"]
    assert isinstance(status, dict) and status["error"] == "Open-Meteo: HTTP 500" and status["usable"]
    # Retried after 5 minutes, then 10: not every second, not only in an hour.
    assert svc.solar_stream.due == clock.now + timedelta(minutes=5)
    clock.now += timedelta(minutes=5)
    await svc.poll_due()
    assert svc.solar_stream.due == clock.now + timedelta(minutes=10)
    clock.now = T0 + timedelta(hours=7)
    assert svc.solar_now() is None  # too old: plan with no solar rather than a stale guess
    services.fault = None
    await svc.poll_due()
    assert svc.solar_now() is not None and svc.status()["solar"] == {
        "fetched_at": clock.now.isoformat(),
        "stale": False,
        "usable": True,
        "error": None,
    }


@pytest.mark.parametrize("fault", ["not-json", "wrong-shape", "400", "hang"])
async def test_bad_answers_cost_one_poll(
    services: FakeServices, client: httpx.AsyncClient, fault: str
) -> None:
    svc = ForecastService(settings(services, weather=False), client, None, Clock())
    services.fault = fault
    assert not await svc.poll_due()
    assert svc.solar is None
    error = svc.solar_stream.error
    assert error is not None and error.startswith("Open-Meteo")
    if fault == "400":
        assert "tilt" in error  # the service's own reason reaches the person
    if fault == "hang":
        assert error == "Open-Meteo: timed out"


async def test_forecast_solar_rate_limit_waits_until_retry_at(
    services: FakeServices, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    clock.now = datetime(2024, 4, 26, 23, tzinfo=UTC)
    svc = ForecastService(settings(services, provider="forecast-solar", weather=False), client, None, clock)
    services.fault = "429"
    await svc.poll_due()
    assert svc.solar_stream.due == datetime(2024, 4, 27, 0, 48, 53, tzinfo=UTC)
    services.fault = None
    clock.now = datetime(2024, 4, 27, 1, tzinfo=UTC)
    await svc.poll_due()
    assert [r.query.get("time") for r in services.requests[-2:]] == ["iso8601", "iso8601"]
    solar = svc.solar_now()
    assert solar is not None
    # Two planes, each the recorded day: twice the day's 6.66 kWh.
    day = solar.energy_between(datetime(2024, 4, 26, tzinfo=UTC), datetime(2024, 4, 27, tzinfo=UTC))
    assert day == pytest.approx(2 * 6.660)


async def test_solcast_key_is_sent_and_never_in_an_error(
    services: FakeServices, client: httpx.AsyncClient
) -> None:
    good = settings(
        services,
        provider="solcast",
        weather=False,
        planes=(),
        solcast_sites=("abcd-1234",),
        solcast_api_key="solcast-key-123",
    )
    svc = ForecastService(good, client, None, Clock())
    assert await svc.poll_due()
    assert services.requests[-1].path == "/rooftop_sites/abcd-1234/forecasts"
    bad = good.model_copy(
        update={"solcast_api_key": good.solcast_api_key and type(good.solcast_api_key)("wrong-key")}
    )
    svc = ForecastService(bad, client, None, Clock())
    await svc.poll_due()
    assert svc.solar_stream.error == "Solcast: HTTP 401: Invalid API key"
    assert "wrong-key" not in repr(svc.status())


def test_free_tier_intervals() -> None:
    base: dict[str, Any] = {"solar": True, "latitude": 1, "longitude": 1, "planes": PLANES}
    assert solar_interval(ForecastSettings(**base)) == timedelta(hours=1)
    assert solar_interval(ForecastSettings(**base, provider="forecast-solar")) == timedelta(hours=1)
    solcast = ForecastSettings(solar=True, provider="solcast", solcast_sites=("a", "b"), solcast_api_key="k")
    assert 24 * 2 / solar_interval(solcast).total_seconds() * 3600 <= 9.01  # calls a day, of 10 allowed


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"solar": True, "planes": PLANES}, "latitude and longitude"),
        ({"solar": True, "latitude": 1, "longitude": 1}, "no \\[\\[forecast.planes\\]\\]"),
        ({"solar": True, "provider": "solcast"}, "solcast_sites"),
        ({"solar": True, "latitude": 1, "longitude": 1, "planes": (PLANES[0], PLANES[0])}, "unique"),
    ],
)
def test_settings_say_what_is_missing(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ForecastSettings(**kw)


def test_the_forecast_section_loads_from_toml_and_its_keys_are_secrets(tmp_path: Any) -> None:
    from kraken2mqtt.redact import redact_text
    from kraken2mqtt.settings import load_settings

    cfg = tmp_path / "k.toml"
    cfg.write_text(
        '[forecast]\nsolar = true\nweather = true\nlatitude = 52.2\nlongitude = 0.12\n'
        'forecast_solar_api_key = "fs-key-998877"\n'
        '[[forecast.planes]]\nname = "south"\nkwp = 4.2\ntilt_deg = 35\n'
    )
    s = load_settings(cfg)
    assert s.forecast.planes[0].kwp == 4.2
    assert "fs-key-998877" not in redact_text("url /fs-key-998877/estimate")
