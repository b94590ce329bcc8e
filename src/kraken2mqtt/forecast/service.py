"""Polls the forecast services on their own schedules (thin shell around the pure clients).

Each service is asked at most as often as its free tier allows; a failed poll keeps the last good
forecast (persisted, so a restart has it too) and is retried with a backoff; a forecast older than
``max_age_hours`` is dropped, so the planner sees "no solar" rather than a stale guess.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog

from kraken2mqtt.forecast import forecast_solar, open_meteo, solcast
from kraken2mqtt.forecast.config import ForecastSettings
from kraken2mqtt.forecast.errors import ForecastError, ForecastRateLimited
from kraken2mqtt.forecast.model import EnergySlot, SolarForecast, WeatherForecast, sum_planes

log = structlog.get_logger(__name__)

RETRY_FIRST = timedelta(minutes=5)


class ForecastStore(Protocol):
    """Where the last good forecasts are kept across restarts (the daemon's state store)."""

    def load_forecast(self, name: str) -> dict[str, Any] | None: ...

    def save_forecast(self, name: str, data: dict[str, Any]) -> None: ...


@dataclass
class Stream:
    """One forecast stream's schedule and health."""

    interval: timedelta
    due: datetime | None = None
    failures: int = 0
    error: str | None = None

    def succeeded(self, now: datetime) -> None:
        self.failures, self.error, self.due = 0, None, now + self.interval

    def failed(self, now: datetime, exc: ForecastError) -> None:
        self.failures += 1
        self.error = str(exc)
        wait = min(self.interval, RETRY_FIRST * 2 ** (self.failures - 1))
        if isinstance(exc, ForecastRateLimited):
            wait = max(wait, (exc.retry_at - now) if exc.retry_at is not None else self.interval)
        self.due = now + wait


def solar_interval(settings: ForecastSettings) -> timedelta:
    """How often the solar provider may be asked within its free tier."""
    if settings.provider == "solcast":
        # 10 calls a day in all, one per site a poll: keep one call in hand.
        return timedelta(hours=24 * max(1, len(settings.solcast_sites)) / (solcast.DAILY_CALLS - 1))
    if settings.provider == "forecast-solar":
        # 12 calls an hour per IP; one per plane a poll; use at most 10 of them.
        return timedelta(minutes=60 * max(1, math.ceil(len(settings.planes) / 10)))
    return timedelta(hours=1)


@dataclass
class ForecastService:
    settings: ForecastSettings
    client: httpx.AsyncClient
    store: ForecastStore | None
    clock: Callable[[], datetime]
    solar: SolarForecast | None = None
    weather: WeatherForecast | None = None
    solar_stream: Stream = field(init=False)
    weather_stream: Stream = field(init=False)

    def __post_init__(self) -> None:
        self.solar_stream = Stream(solar_interval(self.settings))
        self.weather_stream = Stream(timedelta(hours=1))
        if self.store is not None:
            self._restore()

    # ------------------------------------------------------------------------------------------ reading

    def solar_now(self) -> SolarForecast | None:
        """The solar forecast the planner may use now (None: none, or too old: plan with no solar)."""
        return self.solar if self._fresh(self.solar) else None

    def weather_now(self) -> WeatherForecast | None:
        return self.weather if self._fresh(self.weather) else None

    def status(self) -> dict[str, object]:
        """For ``status``, HA and metrics: per stream, when fetched, whether stale, and the last error."""
        now = self.clock()
        out: dict[str, object] = {}
        for name, enabled, fc, stream in (
            ("solar", self.settings.solar, self.solar, self.solar_stream),
            ("weather", self.settings.weather, self.weather, self.weather_stream),
        ):
            if not enabled:
                continue
            out[name] = {
                "fetched_at": fc.fetched_at.isoformat() if fc is not None else None,
                "stale": fc is None or now - fc.fetched_at > 2 * stream.interval,
                "usable": self._fresh(fc),
                "error": stream.error,
            }
        return out

    def _fresh(self, fc: SolarForecast | WeatherForecast | None) -> bool:
        return fc is not None and self.clock() - fc.fetched_at <= timedelta(hours=self.settings.max_age_hours)

    # ------------------------------------------------------------------------------------------ polling

    def next_due(self) -> datetime | None:
        dues = [
            s.due or self.clock()
            for enabled, s in (
                (self.settings.solar, self.solar_stream),
                (self.settings.weather, self.weather_stream),
            )
            if enabled
        ]
        return min(dues) if dues else None

    async def poll_due(self) -> bool:
        """Fetch every stream that is due. True when a forecast changed."""
        now = self.clock()
        changed = False
        solar_due = self.settings.solar and (self.solar_stream.due is None or self.solar_stream.due <= now)
        weather_due = self.settings.weather and (
            self.weather_stream.due is None or self.weather_stream.due <= now
        )
        # Open-Meteo gives the temperature in the same answer as the first plane: one call, not two.
        ride_along = solar_due and weather_due and self.settings.provider == "open-meteo"
        if solar_due:
            changed |= await self._poll_solar(now, with_weather=ride_along)
        if weather_due and not ride_along:
            changed |= await self._poll_weather(now)
        return changed

    async def run(self, sleep: Callable[[float], Awaitable[None]], on_change: Callable[[], None]) -> None:
        while True:
            if await self.poll_due():
                on_change()
            due = self.next_due()
            if due is None:
                return
            await sleep(max(1.0, (due - self.clock()).total_seconds()))

    async def _poll_solar(self, now: datetime, *, with_weather: bool) -> bool:
        s = self.settings
        try:
            planes: list[list[EnergySlot]] = []
            weather_body: Any = None
            if s.provider == "open-meteo":
                for i, plane in enumerate(s.planes):
                    body = await open_meteo.fetch(self.client, s, plane, weather=with_weather and i == 0)
                    planes.append(open_meteo.plane_energy(body, plane))
                    if with_weather and i == 0:
                        weather_body = body
            elif s.provider == "forecast-solar":
                for plane in s.planes:
                    body = await forecast_solar.fetch(self.client, s, plane)
                    planes.append(forecast_solar.plane_energy(body, plane))
            else:
                for site in s.solcast_sites:
                    planes.append(solcast.site_energy(await solcast.fetch(self.client, s, site)))
        except ForecastError as exc:
            self._failed("solar", self.solar_stream, now, exc)
            if with_weather:
                self._failed("weather", self.weather_stream, now, exc)
            return False
        self.solar = sum_planes(s.provider, now, planes)
        self.solar_stream.succeeded(now)
        self._save("solar", self.solar.to_json())
        log.info(
            "solar forecast", provider=s.provider, kwh_48h=round(sum(x.kwh for x in self.solar.slots), 1)
        )
        if weather_body is not None:
            self._set_weather(now, weather_body)
        return True

    async def _poll_weather(self, now: datetime) -> bool:
        try:
            body = await open_meteo.fetch(self.client, self.settings, None, weather=True)
            self._set_weather(now, body)
        except ForecastError as exc:
            self._failed("weather", self.weather_stream, now, exc)
            return False
        return True

    def _set_weather(self, now: datetime, body: Any) -> None:
        try:
            points = open_meteo.temperatures(body)
        except ForecastError as exc:
            self._failed("weather", self.weather_stream, now, exc)
            return
        self.weather = WeatherForecast(open_meteo.SERVICE, now, tuple(points))
        self.weather_stream.succeeded(now)
        self._save("weather", self.weather.to_json())

    def _failed(self, name: str, stream: Stream, now: datetime, exc: ForecastError) -> None:
        first = stream.failures == 0
        stream.failed(now, exc)
        # One line when a stream starts failing, not one a poll.
        if first:
            log.warning("forecast unavailable; keeping the last good one", stream=name, error=str(exc))

    # ------------------------------------------------------------------------------------------ persistence

    def _save(self, name: str, data: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.save_forecast(name, data)

    def _restore(self) -> None:
        assert self.store is not None
        try:
            raw = self.store.load_forecast("solar")
            if raw is not None:
                self.solar = SolarForecast.from_json(raw)
            raw = self.store.load_forecast("weather")
            if raw is not None:
                self.weather = WeatherForecast.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("stored forecast unreadable; starting without it", error=str(exc))
