"""The account snapshot: typed, frozen, timestamped per stream.

The poller replaces whole streams (``Snapshot.with_data`` / ``with_failure``); readers (the scheduler, the
MQTT side) never see a half-updated stream. Parsing is tolerant: Kraken ``Decimal`` arrives as a string or a
number, date-times with ``Z`` or an offset (naive means UTC), and enum values we do not know become
``UNKNOWN`` (logged once) instead of failing the whole response.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

log = structlog.get_logger(__name__)

_LOGGED_UNKNOWN: set[tuple[str, str]] = set()


def log_unknown_once(kind: str, value: object) -> None:
    """Log an unrecognised enum value / device type / provider the first time it is seen."""
    key = (kind, str(value))
    if key not in _LOGGED_UNKNOWN:
        _LOGGED_UNKNOWN.add(key)
        log.warning("kraken.unknown_value", kind=kind, value=str(value)[:80])


class TolerantEnum(StrEnum):
    """A string enum whose unknown values map to ``UNKNOWN`` (logged once per value)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        log_unknown_once(cls.__name__, value)
        return cls("unknown")


def _to_decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("boolean is not a decimal")
    if isinstance(value, int | float | str):
        try:
            out = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal: {value!r}") from None
        if not out.is_finite():
            raise ValueError(f"not a finite decimal: {value!r}")
        return out
    raise ValueError(f"not a decimal: {type(value).__name__}")


def _to_utc(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise ValueError(f"not a date-time: {type(value).__name__}")


#: Decimal from a string ("1.0") or a number (1.0); floats go through ``str`` (no binary noise).
Dec = Annotated[Decimal, BeforeValidator(_to_decimal)]
#: Timezone-aware UTC datetime; naive input is taken as UTC (the API's documented default).
UtcDateTime = Annotated[datetime, BeforeValidator(_to_utc)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


# ---------------------------------------------------------------------------------------------- enums


class DeviceKind(TolerantEnum):
    VEHICLE = "vehicle"
    CHARGE_POINT = "charge_point"
    BATTERY = "battery"
    INVERTER = "inverter"
    HEAT_PUMP = "heat_pump"
    STORAGE_HEATERS = "storage_heaters"
    GENERIC = "generic"
    UNKNOWN = "unknown"


class DeviceType(TolerantEnum):
    """``KrakenFlexDeviceTypes``."""

    ELECTRIC_VEHICLES = "ELECTRIC_VEHICLES"
    CHARGE_POINTS = "CHARGE_POINTS"
    BATTERIES = "BATTERIES"
    INVERTERS = "INVERTERS"
    HEAT_PUMPS = "HEAT_PUMPS"
    STORAGE_HEATERS = "STORAGE_HEATERS"
    THERMOSTATS = "THERMOSTATS"
    UNKNOWN = "unknown"


class Lifecycle(TolerantEnum):
    """``SmartFlexDeviceLifecycleStatus``."""

    ONBOARDING = "ONBOARDING"
    PENDING_LIVE = "PENDING_LIVE"
    LIVE = "LIVE"
    FAILED_ONBOARDING_TEST = "FAILED_ONBOARDING_TEST"
    RETIRED = "RETIRED"
    UNKNOWN = "unknown"


class DeviceState(TolerantEnum):
    """``SmartFlexDeviceState`` (the value set is undocumented; these are the ones we act on)."""

    AUTHENTICATION_PENDING = "AUTHENTICATION_PENDING"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    AUTHENTICATION_COMPLETE = "AUTHENTICATION_COMPLETE"
    TEST_CHARGE_IN_PROGRESS = "TEST_CHARGE_IN_PROGRESS"
    TEST_CHARGE_FAILED = "TEST_CHARGE_FAILED"
    TEST_CHARGE_NOT_AVAILABLE = "TEST_CHARGE_NOT_AVAILABLE"
    SETUP_COMPLETE = "SETUP_COMPLETE"
    SMART_CONTROL_CAPABLE = "SMART_CONTROL_CAPABLE"
    SMART_CONTROL_IN_PROGRESS = "SMART_CONTROL_IN_PROGRESS"
    SMART_CONTROL_NOT_AVAILABLE = "SMART_CONTROL_NOT_AVAILABLE"
    SMART_CONTROL_OFF = "SMART_CONTROL_OFF"
    BOOSTING = "BOOSTING"
    NOT_PLUGGED_IN = "NOT_PLUGGED_IN"
    LOST_CONNECTION = "LOST_CONNECTION"
    RETIRED = "RETIRED"
    UNKNOWN = "unknown"


PLUGGED_STATES = frozenset(
    {
        DeviceState.SMART_CONTROL_CAPABLE,
        DeviceState.SMART_CONTROL_IN_PROGRESS,
        DeviceState.BOOSTING,
        DeviceState.TEST_CHARGE_IN_PROGRESS,
    }
)
CHARGING_STATES = frozenset(
    {DeviceState.SMART_CONTROL_IN_PROGRESS, DeviceState.BOOSTING, DeviceState.TEST_CHARGE_IN_PROGRESS}
)


class ConnectionStatus(TolerantEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    UNKNOWN = "unknown"


class GreennessIndex(TolerantEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    UNKNOWN = "unknown"


class Direction(TolerantEnum):
    IMPORT = "IMPORT"
    EXPORT = "EXPORT"
    UNKNOWN = "unknown"


class TariffKind(TolerantEnum):
    STANDARD = "standard"
    DAY_NIGHT = "day_night"
    THREE_RATE = "three_rate"
    FOUR_RATE_EV = "four_rate_ev"  # day/night for the home, EV peak/off-peak for the charger
    HALF_HOURLY = "half_hourly"
    TIME_OF_USE = "time_of_use"  # DE TimeOfUseProductUnitRateInformation: named timeslots
    PREPAY = "prepay"
    BANDED = "banded"  # rates by band without documented time windows (AU productRates)
    UNKNOWN = "unknown"


class DispatchState(StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# ------------------------------------------------------------------------------------------- account


class MeterPoint(Model):
    mpan: str
    direction: Direction = Direction.UNKNOWN
    gsp_group_id: str | None = None
    meter_serials: tuple[str, ...] = ()
    esme_device_id: str | None = None  # smart import meter EUI64 (prepay balance, telemetry)
    payment_mode: str | None = None
    #: Every smart device on the meter point's meters (``meters.smartDevices``): the auto top-up config
    #: sits on one of them, not necessarily on the ESME.
    smart_device_ids: tuple[str, ...] = ()


class Property(Model):
    id: str
    postcode: str | None = None
    meter_points: tuple[MeterPoint, ...] = ()


class AccountInfo(Model):
    number: str
    properties: tuple[Property, ...] = ()
    heat_pump_controller_euids: tuple[str, ...] = ()
    agreement_ids: tuple[str, ...] = ()  # DE agreement(id) / AU agreements
    product_codes: tuple[str, ...] = ()  # AU product(code)

    @property
    def esme_device_id(self) -> str | None:
        for prop in self.properties:
            for mp in prop.meter_points:
                if mp.direction == Direction.IMPORT and mp.esme_device_id:
                    return mp.esme_device_id
        return None

    @property
    def smart_device_ids(self) -> tuple[str, ...]:
        """The import meters' smart devices, the ESME first (candidates for the auto top-up config)."""
        out: list[str] = []
        for prop in self.properties:
            for mp in prop.meter_points:
                if mp.direction != Direction.IMPORT:
                    continue
                for device_id in (mp.esme_device_id, *mp.smart_device_ids):
                    if device_id and device_id not in out:
                        out.append(device_id)
        return tuple(out)

    @property
    def is_prepay(self) -> bool:
        return any(mp.payment_mode == "PREPAY" for prop in self.properties for mp in prop.meter_points)


# ------------------------------------------------------------------------------------------- tariffs


class PriceSlot(Model):
    start: UtcDateTime
    end: UtcDateTime
    value: Dec  # minor currency unit per kWh, inc VAT


class TimeWindow(Model):
    """A daily local-time window ``[start, end)`` in minutes after local midnight (may wrap midnight)."""

    start_min: int
    end_min: int
    rate: str  # key into PriceTimeline.rates

    def contains(self, minute: int) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


_HALF_HOUR = timedelta(minutes=30)


class PriceTimeline(Model):
    """The prices of one agreement as a function of time (built by :mod:`kraken2mqtt.kraken.tariffs`).

    Half-hourly tariffs carry ``slots``; fixed-rate tariffs carry ``rates`` keyed ``unit``/``day``/``night``/
    ``off_peak`` (or AU band names) and the local-time ``windows`` that select them (else ``default_rate``).
    Values are in the deployment's minor currency unit (``unit``: p, ct, c, JPY) per kWh, including VAT.
    """

    kind: TariffKind = TariffKind.UNKNOWN
    direction: Direction = Direction.IMPORT
    tariff_code: str | None = None
    product_code: str | None = None
    display_name: str | None = None
    unit: str = "p"
    currency: str = "GBP"
    standing_charge: Dec | None = None  # per day
    valid_from: UtcDateTime | None = None
    valid_to: UtcDateTime | None = None
    rates: dict[str, Decimal] = Field(default_factory=dict)
    windows: tuple[TimeWindow, ...] = ()
    default_rate: str | None = None
    timezone: str = "Europe/London"
    slots: tuple[PriceSlot, ...] = ()
    dispatch_discount: bool = False  # an "intelligent" tariff: dispatches are billed at the off-peak rate

    def _valid(self, t: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= t) and (
            self.valid_to is None or t < self.valid_to
        )

    def slot_at(self, t: datetime) -> PriceSlot | None:
        if not self.slots:
            return None
        i = bisect_right([s.start for s in self.slots], t) - 1
        if i >= 0 and self.slots[i].start <= t < self.slots[i].end:
            return self.slots[i]
        return None

    def rate_key_at(self, t: datetime) -> str | None:
        local = t.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        for window in self.windows:
            if window.contains(minute):
                return window.rate
        return self.default_rate

    def price_at(self, t: datetime) -> Decimal | None:
        """The unit rate at ``t`` (None when unknown: outside the agreement, or no published slot)."""
        if not self._valid(t):
            return None
        if self.kind == TariffKind.HALF_HOURLY:
            slot = self.slot_at(t)
            return slot.value if slot else None
        key = self.rate_key_at(t)
        return self.rates.get(key) if key is not None else None

    @property
    def known_until(self) -> datetime | None:
        """End of the last published price (half-hourly); None for fixed rates (known indefinitely)."""
        if self.kind == TariffKind.HALF_HOURLY:
            return self.slots[-1].end if self.slots else None
        return None

    @property
    def off_peak_rate(self) -> Decimal | None:
        """The cheapest rate of a time-of-use tariff (night / off-peak), else None."""
        if self.kind in (TariffKind.DAY_NIGHT, TariffKind.THREE_RATE, TariffKind.FOUR_RATE_EV):
            cheap = [self.rates[k] for k in ("night", "off_peak", "ev_off_peak") if k in self.rates]
            return min(cheap) if cheap else None
        if self.kind == TariffKind.TIME_OF_USE and len(set(self.rates.values())) > 1:
            return min(self.rates.values())
        if self.kind == TariffKind.HALF_HOURLY and self.dispatch_discount and self.slots:
            return min(s.value for s in self.slots)
        return None

    def is_off_peak(self, t: datetime) -> bool:
        """Whether ``t`` falls in the tariff's own off-peak period (ignoring dispatches)."""
        cheap = self.off_peak_rate
        price = self.price_at(t)
        return cheap is not None and price is not None and price <= cheap

    def slots_between(self, start: datetime, end: datetime) -> list[PriceSlot]:
        """Half-hour slots covering ``[start, end)`` with known prices (fixed tariffs expanded)."""
        if self.kind == TariffKind.HALF_HOURLY:
            return [s for s in self.slots if s.end > start and s.start < end]
        out: list[PriceSlot] = []
        t = start.replace(minute=30 if start.minute >= 30 else 0, second=0, microsecond=0)
        while t < end:
            price = self.price_at(t)
            if price is not None:
                out.append(PriceSlot(start=t, end=t + _HALF_HOUR, value=price))
            t += _HALF_HOUR
        return out


class Tariffs(Model):
    import_: PriceTimeline | None = Field(default=None, alias="import")
    export: PriceTimeline | None = None
    upcoming_import: PriceTimeline | None = None  # the next agreement, when one is known


# ---------------------------------------------------------------------------------------- dispatches


class Dispatch(Model):
    """One ``UpsideDispatchType`` or ``SmartFlexDispatch`` as fetched."""

    start: UtcDateTime
    end: UtcDateTime
    delta_kwh: Dec | None = None  # import negative
    source: str | None = None  # planned: smart-charge | test-charge | bump-charge
    location: str | None = None  # completed: AT_HOME
    type: str | None = None  # flexPlannedDispatches: SMART | BOOST | TEST
    energy_kwh: Dec | None = None  # flexPlannedDispatches: energyAddedKwh
    device_id: str | None = None  # flexPlannedDispatches: the device it was asked for


class TrackedDispatch(Model):
    """A dispatch in its lifecycle (planned → started → completed, or cancelled)."""

    start: UtcDateTime
    end: UtcDateTime
    delta_kwh: Dec | None = None
    source: str | None = None
    location: str | None = None
    state: DispatchState = DispatchState.PLANNED
    held: bool = False  # vanished from plannedDispatches around its start; kept as started
    type: str | None = None  # SMART | BOOST | TEST (flexPlannedDispatches)
    energy_kwh: Dec | None = None
    device_id: str | None = None
    first_seen: UtcDateTime | None = None
    updated_at: UtcDateTime | None = None


# ------------------------------------------------------------------------------------------- devices


class SocLimit(Model):
    upper_soc_limit: int | None = None
    is_limit_violated: bool | None = None
    timestamp: str | None = None


class Alert(Model):
    message: str | None = None
    published_at: UtcDateTime | None = None


class PreferenceSchedule(Model):
    day_of_week: str
    time: str
    max: Dec | None = None
    min: Dec | None = None
    upper_limit: Dec | None = None


class Preferences(Model):
    mode: str | None = None
    unit: str | None = None
    target_type: str | None = None
    schedules: tuple[PreferenceSchedule, ...] = ()


class InverterTelemetry(Model):
    battery_soc: Dec | None = None
    battery_power_kw: Dec | None = None  # negative = charging
    battery_connection: ConnectionStatus = ConnectionStatus.UNKNOWN
    inverter_power_kw: Dec | None = None
    inverter_connection: ConnectionStatus = ConnectionStatus.UNKNOWN
    grid_power_kw: Dec | None = None  # negative = importing
    solar_power_kw: Dec | None = None
    site_consumption_kw: Dec | None = None
    site_export_kw: Dec | None = None


class HeatPumpDeviceStatus(Model):
    mode: str | None = None
    activity: str | None = None
    zone_temperatures: tuple[tuple[str, Decimal], ...] = ()
    target_temperature: Dec | None = None


class Device(Model):
    id: str
    kind: DeviceKind = DeviceKind.UNKNOWN
    typename: str | None = None
    name: str | None = None
    device_type: DeviceType = DeviceType.UNKNOWN
    device_type_raw: str | None = None
    provider: str | None = None  # open set (ProviderChoices grows): kept verbatim
    integration_device_id: str | None = None
    property_id: str | None = None
    make: str | None = None
    model: str | None = None
    lifecycle: Lifecycle = Lifecycle.UNKNOWN
    state: DeviceState = DeviceState.UNKNOWN
    state_raw: str | None = None
    suspended: bool | None = None
    soc_limit: SocLimit | None = None
    test_dispatch_failure_reason: str | None = None
    alerts: tuple[Alert, ...] = ()
    preferences: Preferences | None = None
    battery_size_kwh: Dec | None = None
    charge_point_power_kw: Dec | None = None
    soc_percent: Dec | None = None  # the EV's latest state of charge (status.stateOfCharge, 0-100)
    active_power_kw: Dec | None = None  # status.activePower: positive charging, negative discharging
    max_power_kw: Dec | None = None  # heat pump
    telemetry: InverterTelemetry | None = None
    heat_pump: HeatPumpDeviceStatus | None = None
    legacy: bool = False  # from registeredKrakenflexDevice / batteryDevice

    @property
    def is_ev(self) -> bool:
        return self.kind in (DeviceKind.VEHICLE, DeviceKind.CHARGE_POINT)

    @property
    def plugged_in(self) -> bool | None:
        if not self.is_ev:
            return None
        if self.state == DeviceState.NOT_PLUGGED_IN:
            return False
        if self.state in PLUGGED_STATES:
            return True
        return None

    @property
    def charging(self) -> bool:
        return self.is_ev and self.state in CHARGING_STATES


class LegacyBattery(Model):
    krakenflex_device_id: str | None = None
    provider: str | None = None
    suspended: bool | None = None
    plugged_in: bool | None = None
    soc_percent: Dec | None = None
    active_power_kw: Dec | None = None
    energy_kwh: Dec | None = None
    min_soc_percent: int | None = None
    max_soc_percent: int | None = None


class DevicesData(Model):
    devices: tuple[Device, ...] = ()
    legacy_battery: LegacyBattery | None = None
    legacy_vehicle_preferences: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------- heat pumps


class ZoneState(Model):
    zone: str
    setpoint_c: Dec | None = None
    mode: str | None = None
    relay_on: bool | None = None
    heat_demand: bool | None = None
    retrieved_at: UtcDateTime | None = None


class SensorState(Model):
    code: str
    online: bool | None = None
    temperature_c: Dec | None = None
    humidity_percent: int | None = None


class HeatPumpController(Model):
    euid: str
    zones: tuple[ZoneState, ...] = ()
    sensors: tuple[SensorState, ...] = ()
    live_read_at: UtcDateTime | None = None
    cop: Dec | None = None
    power_input_kw: Dec | None = None
    heat_output_kw: Dec | None = None
    outdoor_temperature_c: Dec | None = None


class LegacyHeatPumpStatus(Model):
    connected: bool | None = None
    climate_control_enabled: bool | None = None
    current_climate_c: Dec | None = None
    target_climate_c: Dec | None = None
    water_enabled: bool | None = None
    current_water_c: Dec | None = None


class HeatPumpData(Model):
    legacy: LegacyHeatPumpStatus | None = None
    controllers: tuple[HeatPumpController, ...] = ()


# -------------------------------------------------------------------------------------------- prepay


class PrepayBalance(Model):
    credit: int
    debt: int = 0
    emergency_credit: int | None = None
    as_at: UtcDateTime | None = None


class AutoTopupConfig(Model):
    id: str
    device_id: str | None = None
    topup_amount: int | None = None
    effective_from: UtcDateTime | None = None
    effective_to: UtcDateTime | None = None


class AutoTopupTrigger(Model):
    id: str
    triggered_at: UtcDateTime | None = None
    status: str | None = None
    source: str | None = None
    failure_reason: str | None = None


class PrepayData(Model):
    balance: PrepayBalance | None = None
    #: The smart device whose auto top-up configs were found (probed among the meter's smart devices).
    topup_device_id: str | None = None
    topup_configs: tuple[AutoTopupConfig, ...] = ()
    triggers: tuple[AutoTopupTrigger, ...] = ()

    def current_config(self, now: datetime) -> AutoTopupConfig | None:
        for cfg in self.topup_configs:
            if cfg.effective_to is None or cfg.effective_to > now:
                return cfg
        return None


# -------------------------------------------------------------------------------------------- events


class SavingSession(Model):
    id: str
    code: str | None = None
    start: UtcDateTime
    end: UtcDateTime
    status: str | None = None
    reward_per_kwh_points: int | None = None
    joined: bool = False


class GreennessPeriod(Model):
    start: UtcDateTime
    end: UtcDateTime
    score: int | None = None
    index: GreennessIndex = GreennessIndex.UNKNOWN
    highlight: bool = False


class EventsData(Model):
    saving_sessions: tuple[SavingSession, ...] = ()
    has_joined_saving_campaign: bool | None = None
    greenness: tuple[GreennessPeriod, ...] = ()
    carbon_intensity_index: str | None = None


class RateLimitData(Model):
    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    resets_at: UtcDateTime | None = None
    blocked: bool = False


# ------------------------------------------------------------------------------------------ snapshot


class Stream(StrEnum):
    ACCOUNT = "account"
    TARIFFS = "tariffs"
    DISPATCHES = "dispatches"
    DEVICES = "devices"
    HEAT_PUMPS = "heat_pumps"
    PREPAY = "prepay"
    EVENTS = "events"
    RATE_LIMIT = "rate_limit"


class StreamStatus(Model):
    fetched_at: UtcDateTime | None = None  # last successful fetch
    attempted_at: UtcDateTime | None = None
    error: str | None = None  # last failure, cleared on success
    failures: int = 0  # consecutive
    #: The last failure was the server being unreachable or erroring (transport, 5xx), not this stream's
    #: own data: once the server answers again, it is retried at once instead of after its backoff.
    transient: bool = False

    def age(self, now: datetime) -> float | None:
        return None if self.fetched_at is None else max(0.0, (now - self.fetched_at).total_seconds())


Mode = Literal["full", "tariff-only", "commands-only"]

#: Per stream: fields that only say *when* something was read (pydantic ``exclude`` specs). A change in them
#: alone is not a change readers need to hear about.
TIMESTAMP_FIELDS: dict[Stream, Any] = {
    Stream.DEVICES: {"devices": {"__all__": {"soc_limit": {"timestamp"}}}},
    Stream.HEAT_PUMPS: {
        "controllers": {"__all__": {"live_read_at": True, "zones": {"__all__": {"retrieved_at"}}}}
    },
    Stream.PREPAY: {"balance": {"as_at"}},
}


def comparable(stream: Stream, value: BaseModel | None, exclude: Any = None) -> str | None:
    """JSON of a stream's data without its timestamp-only fields (or ``exclude``), for change detection."""
    if value is None:
        return None
    return value.model_dump_json(exclude=exclude if exclude is not None else TIMESTAMP_FIELDS.get(stream))


class Snapshot(Model):
    deployment: str
    account_number: str | None = None
    mode: Mode = "full"
    account: AccountInfo | None = None
    tariffs: Tariffs | None = None
    dispatches: tuple[TrackedDispatch, ...] = ()
    devices: DevicesData | None = None
    heat_pumps: HeatPumpData | None = None
    prepay: PrepayData | None = None
    events: EventsData | None = None
    rate_limit: RateLimitData | None = None
    status: dict[Stream, StreamStatus] = Field(default_factory=dict)
    #: Optional selections the server rejected and the daemon stopped sending: "Document/Fragment" -> the
    #: server's message. Critical rejections are stream errors instead (``status[stream].error``).
    dropped: dict[str, str] = Field(default_factory=dict)

    def stream(self, stream: Stream) -> StreamStatus:
        return self.status.get(stream) or StreamStatus()

    def age(self, stream: Stream, now: datetime) -> float | None:
        """Seconds since ``stream`` was last fetched successfully (None: never)."""
        return self.stream(stream).age(now)

    def stale(self, stream: Stream, now: datetime, max_age: float) -> bool:
        age = self.age(stream, now)
        return age is None or age > max_age

    def with_data(self, stream: Stream, now: datetime, **fields: Any) -> Self:
        """A copy with ``fields`` replaced and ``stream`` marked fetched at ``now``."""
        status = dict(self.status)
        status[stream] = StreamStatus(fetched_at=now, attempted_at=now)
        return self.model_copy(update={**fields, "status": status})

    def with_failure(self, stream: Stream, now: datetime, error: str, *, transient: bool = False) -> Self:
        """A copy keeping the last good data of ``stream``, recording the failure."""
        old = self.stream(stream)
        status = dict(self.status)
        status[stream] = old.model_copy(
            update={
                "attempted_at": now,
                "error": error[:300],
                "failures": old.failures + 1,
                "transient": transient,
            }
        )
        return self.model_copy(update={"status": status})

    @property
    def ev_devices(self) -> tuple[Device, ...]:
        return tuple(d for d in (self.devices.devices if self.devices else ()) if d.is_ev)
