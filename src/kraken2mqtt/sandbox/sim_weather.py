"""The simulated house's sky: sun on its panels and a fake Open-Meteo that forecasts it.

The sun follows the solar geometry of the sandbox's location (Cambridge, 52.2° N) with a cloud factor
per day drawn from the seed; the forecast knows that factor with a day-to-day error, so the planner
plans with a forecast that is good but not perfect. The fake server answers Open-Meteo's documented
format (``hourly.time`` / ``global_tilted_irradiance`` / ``temperature_2m``, radiation as the mean of
the preceding hour), so the daemon's real client reads it.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kraken2mqtt.sandbox.physics import outdoor_temperature

LATITUDE, LONGITUDE = 52.2, 0.12
KWP = 4.0
PERFORMANCE_RATIO = 0.86


class SimSky:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def cloud(self, day: date) -> float:
        """Share of the clear-sky irradiance that gets through on ``day`` (0.15-1.0)."""
        return 0.15 + 0.85 * math.pow(random.Random(f"{self.seed}-{day.isoformat()}").random(), 0.7)

    def forecast_cloud(self, day: date) -> float:
        """The forecast's view of the same day: right within ±25 %."""
        error = random.Random(f"{self.seed}-{day.isoformat()}-forecast").uniform(-0.25, 0.25)
        return min(1.0, max(0.05, self.cloud(day) * (1 + error)))

    def irradiance(self, t: datetime, *, forecast: bool = False) -> float:
        """W/m² on the (flat) array at ``t``."""
        utc = t.astimezone(UTC)
        clear = clear_sky(utc)
        factor = self.forecast_cloud(utc.date()) if forecast else self.cloud(utc.date())
        return clear * factor

    def pv_kw(self, t: datetime) -> float:
        return KWP * self.irradiance(t) / 1000 * PERFORMANCE_RATIO


def clear_sky(t: datetime) -> float:
    """A clear-sky global horizontal irradiance (W/m²) from the sun's elevation (a simple model)."""
    doy = t.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
    solar_hour = t.hour + t.minute / 60 + LONGITUDE / 15
    hour_angle = math.radians(15 * (solar_hour - 12))
    lat = math.radians(LATITUDE)
    sin_elev = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    return 0.0 if sin_elev <= 0 else 1000.0 * math.pow(sin_elev, 1.15)


def open_meteo_answer(sky: SimSky, now: datetime, query: dict[str, str]) -> dict[str, Any]:
    """Open-Meteo's ``/v1/forecast`` answer for three days from today (UTC), as the real one gives it."""
    hourly_vars = query.get("hourly", "").split(",")
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times = [start + timedelta(hours=h) for h in range(72)]
    hourly: dict[str, list[Any]] = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in times]}
    units = {"time": "iso8601"}
    if "global_tilted_irradiance" in hourly_vars:
        # The mean over the preceding hour, from four quarter-hour samples.
        hourly["global_tilted_irradiance"] = [
            round(
                sum(sky.irradiance(t - timedelta(minutes=m), forecast=True) for m in (7, 22, 37, 52)) / 4, 1
            )
            for t in times
        ]
        units["global_tilted_irradiance"] = "W/m²"
    if "temperature_2m" in hourly_vars:
        hourly["temperature_2m"] = [round(outdoor_temperature(t), 1) for t in times]
        units["temperature_2m"] = "°C"
    return {
        "latitude": LATITUDE,
        "longitude": LONGITUDE,
        "generationtime_ms": 0.2,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 12.0,
        "hourly_units": units,
        "hourly": hourly,
    }


class FakeOpenMeteo:
    """A local HTTP server answering ``/v1/forecast`` like Open-Meteo, on the simulated clock."""

    def __init__(self, sky: SimSky, now: Callable[[], datetime]) -> None:
        self.sky, self.now = sky, now
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/forecast"

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/v1/forecast":
                    status, body = 404, {"error": True, "reason": "Not Found"}
                else:
                    fake.requests += 1
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    status, body = 200, open_meteo_answer(fake.sky, fake.now(), query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-open-meteo").start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
