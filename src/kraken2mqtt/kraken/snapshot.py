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
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar
from zoneinfo import ZoneInfo

import structlog
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

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


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def _or_unknown(value: Any) -> Any:
    return value or "unknown"


def _reading(value: Any) -> Any:
    """A ``{value unit}`` / ``{value timestamp}`` reading (as the live clients select it) or a bare value."""
    return value.get("value") if isinstance(value, dict) else value


def _reading_text(value: Any) -> Any:
    """An enum's ``{value timestamp}`` reading as text (a stored snapshot's string passes; else absent)."""
    if isinstance(value, dict):
        return _text(value.get("value"))
    return value if isinstance(value, str) else None


def _skipping(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """A list whose malformed items are skipped (and logged), so one bad entry cannot hide the rest."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    out: list[Any] = []
    for item in value:
        if item is None:
            continue
        try:
            out.extend(handler([item]))
        except ValidationError as exc:
            log.warning("kraken.item_skipped", what=info.field_name, error=str(exc).splitlines()[0][:200])
    return tuple(out)


#: Decimal from a string ("1.0") or a number (1.0); floats go through ``str`` (no binary noise).
Dec = Annotated[Decimal, BeforeValidator(_to_decimal)]
#: Timezone-aware UTC datetime; naive input is taken as UTC (the API's documented default).
UtcDateTime = Annotated[datetime, BeforeValidator(_to_utc)]
#: Any scalar as a string (ids arrive as numbers in some deployments).
Text = Annotated[str, BeforeValidator(_text)]
#: A required id as the Kraken clients read it (``str(raw["id"])``: a null reads "None").
Str = Annotated[str, BeforeValidator(str)]
OptText = Annotated[str | None, BeforeValidator(_text)]
#: A Kraken ``{value ...}`` reading or a bare number, as a Decimal.
Reading = Annotated[Decimal | None, BeforeValidator(_to_decimal), BeforeValidator(_reading)]
#: An enum where null (or empty) means ``unknown``.
OrUnknown = BeforeValidator(_or_unknown)
T = TypeVar("T")
#: A tuple read from a GraphQL list: null is empty; malformed items are skipped, not fatal.
Items = Annotated[tuple[T, ...], WrapValidator(_skipping)]


def wire(*paths: str) -> AliasChoices:
    """Where a field is read in a Kraken response: dotted paths (``status.current``); the first present wins.
    The field's own name is accepted too (``populate_by_name``), so models are built by name as well."""
    return AliasChoices(*(AliasPath(*p.split(".")) if "." in p else p for p in paths))


def at(*paths: str, default: Any = None) -> Any:
    """An optional field read at ``paths`` in a response (see :func:`wire`)."""
    return Field(default, validation_alias=wire(*paths))


def coalesce(data: Any, name: str, *paths: str) -> Any:
    """``data`` (a response object) with ``name`` set to the first non-null value at ``paths``."""
    if not isinstance(data, dict) or data.get(name) is not None:
        return data
    for path in paths:
        value: Any = data
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return {**data, name: value}
    return data


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


def _list(value: Any) -> list[Any]:
    """A GraphQL list (null: empty); anything else is not the shape asked for."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return value


def _meters(data: Any) -> Any:
    """``meters { serialNumber smartImportElectricityMeter { deviceId paymentMode } smartDevices {...} }``
    as the meter point's serials, its ESME and payment mode, and its other smart devices."""
    if not isinstance(data, dict) or "meters" not in data:
        return data
    serials: list[str] = []
    esme: str | None = None
    mode: str | None = None
    others: list[str] = []
    for meter in _list(data["meters"]):
        if not isinstance(meter, dict):
            continue
        if meter.get("serialNumber"):
            serials.append(str(meter["serialNumber"]))
        smart = meter.get("smartImportElectricityMeter")
        if isinstance(smart, dict) and smart.get("deviceId") and esme is None:
            esme = str(smart["deviceId"])
            mode = _text(smart.get("paymentMode"))
        for dev in _list(meter.get("smartDevices")):
            if isinstance(dev, dict) and dev.get("deviceId") and str(dev["deviceId"]) not in others:
                others.append(str(dev["deviceId"]))
                if mode is None and dev.get("type") == "ESME":
                    mode = _text(dev.get("paymentMode"))
    found = {"meter_serials": serials, "esme_device_id": esme, "payment_mode": mode}
    return {**data, **found, "smart_device_ids": others}


class MeterPoint(Model):
    #: What :func:`_meters` reads (the consistency test's view of this model's wire paths).
    WIRE_READS: ClassVar = (
        "meters.serialNumber",
        "meters.smartImportElectricityMeter.deviceId",
        "meters.smartImportElectricityMeter.paymentMode",
        "meters.smartDevices.deviceId",
        "meters.smartDevices.type",
        "meters.smartDevices.paymentMode",
    )
    mpan: Str
    direction: Annotated[Direction, OrUnknown] = Direction.UNKNOWN
    gsp_group_id: OptText = at("gspGroupId")
    meter_serials: tuple[str, ...] = ()
    esme_device_id: str | None = None  # smart import meter EUI64 (prepay balance, telemetry)
    payment_mode: str | None = None
    #: Every smart device on the meter point's meters (``meters.smartDevices``): the auto top-up config
    #: sits on one of them, not necessarily on the ESME.
    smart_device_ids: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_meters(cls, data: Any) -> Any:
        return _meters(data)


class Property(Model):
    id: Str = "None"  # as the hand parser read it: str(raw.get("id"))
    postcode: OptText = None
    meter_points: Items[MeterPoint] = at("electricityMeterPoints", default=())


class AccountInfo(Model):
    number: Text
    properties: Items[Property] = ()
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
    delta_kwh: Dec | None = at("delta")  # import negative
    #: planned: smart-charge | test-charge | bump-charge
    source: OptText = at("meta.source")
    location: OptText = at("meta.location")  # completed: AT_HOME
    type: OptText = None  # flexPlannedDispatches: SMART | BOOST | TEST
    energy_kwh: Dec | None = at("energyAddedKwh")  # flexPlannedDispatches
    device_id: str | None = None  # flexPlannedDispatches: the device it was asked for

    WIRE_READS: ClassVar = ("deltaKwh",)

    @model_validator(mode="before")
    @classmethod
    def _delta(cls, data: Any) -> Any:
        return coalesce(data, "delta", "deltaKwh")  # UpsideDispatchType.delta; the DE/AU deltaKwh


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
    upper_soc_limit: int | None = at("upperSocLimit")
    is_limit_violated: bool | None = at("isLimitViolated")
    timestamp: OptText = None


class Alert(Model):
    message: OptText = None
    published_at: UtcDateTime | None = at("publishedAt")


class PreferenceSchedule(Model):
    day_of_week: Str = Field(validation_alias=wire("dayOfWeek"))
    time: Str
    max: Dec | None = None
    min: Dec | None = None
    upper_limit: Dec | None = at("upperLimit")


class Preferences(Model):
    mode: OptText = None
    unit: OptText = None
    target_type: OptText = at("targetType")
    schedules: Items[PreferenceSchedule] = ()


class InverterTelemetry(Model):
    """``SmartFlexInverter.telemetry`` (``battery inverter grid solar site``)."""

    battery_soc: Dec | None = at("battery.stateOfCharge")
    battery_power_kw: Dec | None = at("battery.powerInKw")  # - charging
    battery_connection: Annotated[ConnectionStatus, OrUnknown] = at(
        "battery.connectionStatus", default=ConnectionStatus.UNKNOWN
    )
    inverter_power_kw: Dec | None = at("inverter.powerInKw")
    inverter_connection: Annotated[ConnectionStatus, OrUnknown] = at(
        "inverter.connectionStatus", default=ConnectionStatus.UNKNOWN
    )
    grid_power_kw: Dec | None = at("grid.powerInKw")  # - importing
    solar_power_kw: Dec | None = at("solar.powerInKw")
    site_consumption_kw: Dec | None = at("site.consumptionInKw")
    site_export_kw: Dec | None = at("site.exportInKw")


def _zone_temperatures(value: Any) -> Any:
    """``currentTemperatures: [{zone value}]`` as ``(zone, value)`` pairs (a stored snapshot's pairs too)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        return value
    out: list[tuple[str, Decimal]] = []
    for zt in value:
        if isinstance(zt, dict) and zt.get("zone") is not None and zt.get("value") is not None:
            try:
                out.append((str(zt["zone"]), Decimal(str(zt["value"]))))
            except ArithmeticError:
                log.warning("kraken.item_skipped", what="zone temperature", error="not a decimal")
        elif isinstance(zt, list | tuple) and len(zt) == 2:  # a stored snapshot's pairs
            out.append((str(zt[0]), Decimal(str(zt[1]))))
    return tuple(out)


class HeatPumpDeviceStatus(Model):
    """The heat pump part of ``SmartFlexHeatPumpStatus`` (readings are ``{value timestamp}``)."""

    WIRE_READS: ClassVar = ("currentTemperatures.zone", "currentTemperatures.value")

    mode: Annotated[str | None, BeforeValidator(_reading_text)] = None
    activity: Annotated[str | None, BeforeValidator(_reading_text)] = None
    zone_temperatures: Annotated[tuple[tuple[str, Decimal], ...], BeforeValidator(_zone_temperatures)] = at(
        "currentTemperatures", default=()
    )
    target_temperature: Dec | None = at("targetTemperature.value")


_HEAT_PUMP_STATUS = ("mode", "activity", "currentTemperatures", "targetTemperature")


def _heat_pump_status(value: Any) -> Any:
    if isinstance(value, dict) and any(k in value for k in _HEAT_PUMP_STATUS):
        return value
    return value if isinstance(value, BaseModel) else None


_KIND_BY_TYPENAME = {
    "SmartFlexVehicle": DeviceKind.VEHICLE,
    "SmartFlexChargePoint": DeviceKind.CHARGE_POINT,
    "SmartFlexBattery": DeviceKind.BATTERY,
    "SmartFlexInverter": DeviceKind.INVERTER,
    "SmartFlexHeatPump": DeviceKind.HEAT_PUMP,
    "SmartFlexStorageHeaters": DeviceKind.STORAGE_HEATERS,
    "SmartFlexDevice": DeviceKind.GENERIC,
}


def _kind(value: Any) -> Any:
    """A ``__typename`` (``SmartFlexVehicle``) as a :class:`DeviceKind`; a kind passes through."""
    if isinstance(value, DeviceKind) or (isinstance(value, str) and value in DeviceKind._value2member_map_):
        return value
    kind = _KIND_BY_TYPENAME.get(str(value))
    if kind is None:
        log_unknown_once("device typename", value)
        return DeviceKind.UNKNOWN
    return kind


def _object(value: Any) -> Any:
    """An optional nested object: anything but an object reads as absent."""
    return value if isinstance(value, dict | BaseModel) else None


def _preferences(value: Any) -> Any:
    return value if isinstance(value, BaseModel) or (isinstance(value, dict) and value) else None


class Device(Model):
    """A SmartFlex device (``devices``: ``SmartFlexDeviceInterface``) as read, or a legacy one."""

    WIRE_READS: ClassVar = ("vehicleVariant.batterySize", "chargePointVariant.powerInKw")

    id: Str
    kind: Annotated[DeviceKind, BeforeValidator(_kind)] = at("__typename", default=DeviceKind.UNKNOWN)
    typename: OptText = at("__typename")
    name: OptText = None
    device_type: Annotated[DeviceType, OrUnknown] = at("deviceType", default=DeviceType.UNKNOWN)
    device_type_raw: OptText = at("deviceType")
    provider: OptText = None  # open set (ProviderChoices grows): kept verbatim
    integration_device_id: OptText = at("integrationDeviceId")
    property_id: OptText = at("propertyId")
    make: OptText = None
    model: OptText = None
    lifecycle: Annotated[Lifecycle, OrUnknown] = at("status.current", default=Lifecycle.UNKNOWN)
    state: Annotated[DeviceState, OrUnknown] = at("status.currentState", default=DeviceState.UNKNOWN)
    state_raw: OptText = at("status.currentState")
    suspended: bool | None = at("status.isSuspended")
    soc_limit: Annotated[SocLimit | None, BeforeValidator(_object)] = at("status.stateOfChargeLimit")
    test_dispatch_failure_reason: OptText = at("status.testDispatchFailureReason")
    alerts: Items[Alert] = ()
    preferences: Annotated[Preferences | None, BeforeValidator(_preferences)] = None
    battery_size_kwh: Dec | None = at("vehicleBatterySize")
    charge_point_power_kw: Dec | None = at("chargePointPowerOutput")
    #: The EV's latest state of charge (``status.stateOfCharge``, 0-100).
    soc_percent: Reading = at("status.stateOfCharge")
    #: ``status.activePower``: positive charging, negative discharging.
    active_power_kw: Reading = at("status.activePower")
    max_power_kw: Dec | None = at("powerInKw")  # heat pump
    telemetry: Annotated[InverterTelemetry | None, BeforeValidator(_object)] = None
    heat_pump: Annotated[HeatPumpDeviceStatus | None, BeforeValidator(_heat_pump_status)] = at("status")
    legacy: bool = False  # from registeredKrakenflexDevice / batteryDevice

    @model_validator(mode="before")
    @classmethod
    def _variants(cls, data: Any) -> Any:
        """The battery size and charger power: the flat fields, else the variants' (OEG selects those)."""
        data = coalesce(data, "vehicleBatterySize", "vehicleVariant.batterySize")
        return coalesce(data, "chargePointPowerOutput", "chargePointVariant.powerInKw")

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
    """``batteryDevice`` (``KrakenFlexDeviceType``'s battery: ``deviceStatus``, ``chargingPreferences``)."""

    krakenflex_device_id: OptText = at("krakenflexDeviceId")
    provider: OptText = None
    suspended: bool | None = at("deviceStatus.suspended")
    plugged_in: bool | None = at("deviceStatus.pluggedIn")
    soc_percent: Dec | None = at("deviceStatus.readings.socPercentage.value")
    active_power_kw: Dec | None = at("deviceStatus.readings.activePowerInKw.value")
    energy_kwh: Dec | None = at("deviceStatus.readings.energyInKwh.value")
    min_soc_percent: int | None = at("chargingPreferences.minimumSocPercentage")
    max_soc_percent: int | None = at("chargingPreferences.maximumSocPercentage")


class DevicesData(Model):
    devices: tuple[Device, ...] = ()
    legacy_battery: LegacyBattery | None = None
    legacy_vehicle_preferences: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------- heat pumps


class ZoneState(Model):
    """``octoHeatPumpControllerStatus.zones``: ``{zone telemetry {...}}``."""

    zone: Str
    setpoint_c: Dec | None = at("telemetry.setpointInCelsius")
    mode: OptText = at("telemetry.mode")
    relay_on: bool | None = at("telemetry.relaySwitchedOn")
    heat_demand: bool | None = at("telemetry.heatDemand")
    retrieved_at: UtcDateTime | None = at("telemetry.retrievedAt")


class SensorState(Model):
    """``octoHeatPumpControllerStatus.sensors``: ``{code connectivity {online} telemetry {...}}``."""

    code: Str
    online: bool | None = at("connectivity.online")
    temperature_c: Dec | None = at("telemetry.temperatureInCelsius")
    humidity_percent: int | None = at("telemetry.humidityPercentage")


class HeatPumpController(Model):
    """One controller: its status (zones, sensors) and ``octoHeatPumpLivePerformance`` merged."""

    euid: Text
    zones: Items[ZoneState] = ()
    sensors: Items[SensorState] = ()
    live_read_at: UtcDateTime | None = at("readAt")
    cop: Dec | None = at("coefficientOfPerformance")
    power_input_kw: Dec | None = at("powerInput.value")
    heat_output_kw: Dec | None = at("heatOutput.value")
    outdoor_temperature_c: Dec | None = at("outdoorTemperature.value")


class LegacyHeatPumpStatus(Model):
    """``heatPumpStatus`` (``isConnected climateControlStatus {...} waterTemperatureStatus {...}``)."""

    connected: bool | None = at("isConnected")
    climate_control_enabled: bool | None = at("climateControlStatus.climateControlEnabled")
    current_climate_c: Dec | None = at("climateControlStatus.currentClimateControlTemperature")
    target_climate_c: Dec | None = at("climateControlStatus.targetClimateControlTemperature")
    water_enabled: bool | None = at("waterTemperatureStatus.waterTemperatureEnabled")
    current_water_c: Dec | None = at("waterTemperatureStatus.currentWaterTemperature")


class HeatPumpData(Model):
    legacy: LegacyHeatPumpStatus | None = None
    controllers: tuple[HeatPumpController, ...] = ()


# -------------------------------------------------------------------------------------------- prepay


def _or_zero(value: Any) -> Any:
    return value or 0


class PrepayBalance(Model):
    """``prepayBalanceSnapshot`` (pence)."""

    credit: int = Field(validation_alias=wire("creditInPence"))
    debt: Annotated[int, BeforeValidator(_or_zero)] = at("debtInPence", default=0)
    emergency_credit: int | None = at("emergencyCreditInPence")
    as_at: UtcDateTime | None = at("asAt")


class AutoTopupConfig(Model):
    id: Str
    device_id: OptText = at("deviceId")
    topup_amount: int | None = at("topupAmount")
    effective_from: UtcDateTime | None = at("effectiveFrom")
    effective_to: UtcDateTime | None = at("effectiveTo")


class AutoTopupTrigger(Model):
    id: Str
    triggered_at: UtcDateTime | None = at("triggeredAt")
    status: OptText = None
    source: OptText = None
    failure_reason: OptText = at("failureReason")


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
    """``savingSessions.events``."""

    id: Str
    code: OptText = None
    start: UtcDateTime = Field(validation_alias=wire("startAt"))
    end: UtcDateTime = Field(validation_alias=wire("endAt"))
    status: OptText = None
    reward_per_kwh_points: int | None = at("rewardPerKwhInOctoPoints")
    joined: bool = False


Flag = Annotated[bool, BeforeValidator(bool)]


class GreennessPeriod(Model):
    """``greennessForecast`` (``greenerNightsForecast`` nights are built from their date)."""

    start: UtcDateTime = Field(validation_alias=wire("validFrom"))
    end: UtcDateTime = Field(validation_alias=wire("validTo"))
    score: int | None = at("greennessScore")
    index: Annotated[GreennessIndex, OrUnknown] = at("greennessIndex", default=GreennessIndex.UNKNOWN)
    highlight: Flag = at("highlightFlag", default=False)


class EventsData(Model):
    saving_sessions: tuple[SavingSession, ...] = ()
    has_joined_saving_campaign: bool | None = None
    greenness: tuple[GreennessPeriod, ...] = ()
    carbon_intensity_index: str | None = None


class RateLimitData(Model):
    """``rateLimitInfo.pointsAllowanceRateLimit`` (or the docs-only ``rateLimit``)."""

    limit: int | None = None
    remaining: int | None = at("remainingPoints")
    used: int | None = at("usedPoints")
    resets_at: UtcDateTime | None = None
    blocked: Flag = at("isBlocked", default=False)


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
