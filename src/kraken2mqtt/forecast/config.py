"""The ``[forecast]`` settings: where the panels are and which services to ask.

Azimuth follows Open-Meteo and Forecast.Solar: 0 = south, -90 = east, 90 = west, ±180 = north;
tilt 0 = flat, 90 = vertical.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator

SolarProvider = Literal["open-meteo", "forecast-solar", "solcast"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SolarPlane(_Section):
    name: Annotated[str, Field(min_length=1, max_length=40)] = "roof"
    tilt_deg: Annotated[float, Field(ge=0, le=90)] = 35.0
    azimuth_deg: Annotated[float, Field(ge=-180, le=180)] = 0.0
    kwp: Annotated[float, Field(gt=0, le=100)]
    #: Cable, inverter, soiling and temperature losses (PVGIS's default is 14 %).
    losses_pct: Annotated[float, Field(ge=0, lt=100)] = 14.0
    #: The inverter's AC limit for this plane (None: no clipping).
    inverter_kw: Annotated[float, Field(gt=0)] | None = None


class ForecastSettings(_Section):
    """Solar and weather forecasts. Off unless ``solar`` or ``weather`` is enabled."""

    solar: bool = False
    weather: bool = False
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    planes: tuple[SolarPlane, ...] = ()
    provider: SolarProvider = "open-meteo"
    #: Solcast: the rooftop site ids of the user's free hobbyist account, and its API key.
    solcast_sites: tuple[str, ...] = ()
    solcast_api_key: SecretStr | None = None
    #: Forecast.Solar personal API key (optional; the public tier needs none).
    forecast_solar_api_key: SecretStr | None = None
    #: Endpoints (overridable for a mirror or a test server).
    open_meteo_url: AnyHttpUrl = AnyHttpUrl("https://api.open-meteo.com/v1/forecast")
    forecast_solar_url: AnyHttpUrl = AnyHttpUrl("https://api.forecast.solar")
    solcast_url: AnyHttpUrl = AnyHttpUrl("https://api.solcast.com.au")
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    #: The share of the forecast sun the plan counts on. Counting on less than the forecast costs little
    #: when the sun comes (the battery stores it anyway) and saves buying at the day's price when it does
    #: not: 0.9 was chosen from 0.8-1.0 on 2018 windows of the replay (benchmarks/solar_replay.py, with
    #: today's measured-sun scale); the later years' figures are in benchmarks/README.md.
    solar_weight: Annotated[float, Field(gt=0, le=1.5)] = 0.9
    #: A forecast older than this is dropped ("no solar" rather than a stale guess).
    max_age_hours: Annotated[float, Field(gt=0, le=168)] = 30.0
    #: The house's measured consumption: an MQTT topic (e.g. GivTCP's ``GivEnergy/<serial>/Power/Power/
    #: Load_Power`` or an HA sensor published over MQTT), the JSON path of the value in its payload (None:
    #: the payload is the number) and its unit. The learned profile replaces ``planner.house_load_kw``
    #: once ``load_min_days`` of history exist.
    load_topic: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    load_json_path: str | None = None
    load_unit: Literal["W", "kW"] = "W"
    #: Whether the sensor includes the planned devices' own power (a whole-house meter does; GivTCP's
    #: Load_Power excludes the battery): their reported power is subtracted when it does.
    load_includes_devices: bool = True
    #: The panels' measured output (an MQTT topic, e.g. GivTCP's ``GivEnergy/<serial>/Power/Power/PV_Power``),
    #: the JSON path of the value and its unit: the rest of today's forecast is scaled by how the sun so far
    #: compares with the forecast (forecast/measured_sun.py), ``(measured + prior) / (forecast + prior)``.
    solar_topic: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    solar_json_path: str | None = None
    solar_unit: Literal["W", "kW"] = "W"
    measured_sun_prior_kwh: Annotated[float, Field(ge=0, le=50)] = 1.0
    #: With ``solar_topic`` and no forecast service answering (none set up, or its forecast too old), the
    #: plan counts on the measured sun of the last days (forecast/sun_history.py: 25 % yesterday, 75 % the
    #: 7-day mean, as the solar replay measures it) rather than on no sun at all.
    measured_sun_forecast: bool = True
    load_half_life_days: Annotated[float, Field(gt=0, le=365)] = 14.0
    load_min_days: Annotated[float, Field(ge=0, le=60)] = 7.0

    @model_validator(mode="after")
    def _complete(self) -> ForecastSettings:
        needs_location = self.weather or (self.solar and self.provider != "solcast")
        if needs_location and (self.latitude is None or self.longitude is None):
            raise ValueError("latitude and longitude are needed for the solar or weather forecast")
        if self.solar and self.provider != "solcast" and not self.planes:
            raise ValueError("solar forecast enabled but no [[forecast.planes]] configured")
        if (
            self.solar
            and self.provider == "solcast"
            and (not self.solcast_sites or self.solcast_api_key is None)
        ):
            raise ValueError("provider 'solcast' needs solcast_sites and solcast_api_key")
        names = [p.name for p in self.planes]
        if len(names) != len(set(names)):
            raise ValueError("plane names must be unique")
        return self
