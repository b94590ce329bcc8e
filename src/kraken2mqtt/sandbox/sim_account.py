"""The in-memory Kraken account the fake server serves: plain, editable dataclasses.

Tests and the sandbox change these between polls (``fk.account.planned_dispatches.append(...)``). Units follow
the API: prices in pence (GB) / cents, energy in kWh, power in kW, money in the smallest currency unit.
Fields prefixed ``sim_`` are simulation inputs with no API counterpart (e.g. whether the EV is plugged in).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
VAT = 1.05  # GB domestic electricity VAT; used only to derive preVat values

TariffKind = Literal["STANDARD", "DAY_NIGHT", "THREE_RATE", "HALF_HOURLY", "PREPAY"]
SimDeviceKind = Literal[
    "vehicle", "charge_point", "battery", "inverter", "heat_pump", "storage_heaters", "generic"
]
RateTuple = tuple[datetime, datetime, float]


@dataclass
class SimRate:
    valid_from: datetime
    valid_to: datetime
    value: float  # pence inc VAT


@dataclass
class SimTariff:
    kind: TariffKind
    product_code: str
    tariff_code: str
    display_name: str = "Sandbox tariff"
    is_export: bool = False
    standing_charge: float = 50.0
    unit_rate: float | None = None  # STANDARD, PREPAY
    day_rate: float | None = None  # DAY_NIGHT, THREE_RATE
    night_rate: float | None = None
    off_peak_rate: float | None = None  # THREE_RATE
    unit_rates: list[SimRate] = field(default_factory=list)  # HALF_HOURLY


@dataclass
class SimAgreement:
    id: int
    valid_from: datetime
    valid_to: datetime | None
    tariff: SimTariff


@dataclass
class SimSmartMeter:
    device_id: str  # EUI64, e.g. 12-34-5A-FF-FF-6B-C7-89
    type: Literal["ESME", "GSME", "PPMID"] = "ESME"
    payment_mode: Literal["PREPAY", "CREDIT"] = "CREDIT"
    serial_number: str = "SANDBOXSMETS2"
    manufacturer: str = "Sandbox"
    model: str = "SMETS2"
    firmware_version: str = "1.0"


@dataclass
class SimMeterPoint:
    mpan: str
    direction: Literal["IMPORT", "EXPORT"]
    agreements: list[SimAgreement] = field(default_factory=list)
    meter_serial: str = "21E0000001"
    smart_meter: SimSmartMeter | None = None
    gsp_group_id: str = "_A"
    #: The meter's other smart devices (``meters.smartDevices`` lists them after the meter itself).
    other_smart_devices: list[SimSmartMeter] = field(default_factory=list)


@dataclass
class SimProperty:
    id: str
    postcode: str = "AB1 2CD"
    address: str = "1 Sandbox Lane"
    meter_points: list[SimMeterPoint] = field(default_factory=list)


@dataclass
class SimSchedule:
    day_of_week: str  # MONDAY..SUNDAY
    time: str  # HH:MM
    max: float
    min: float | None = None
    upper_limit: float | None = None


@dataclass
class SimPreferences:
    mode: str = "CHARGE"
    unit: str = "PERCENTAGE"
    target_type: str = "ABSOLUTE_STATE_OF_CHARGE"
    schedules: list[SimSchedule] = field(default_factory=list)


@dataclass
class SimPreferenceSetting:
    """Bounds for setDevicePreferences (002 FlexDevicePreferenceScheduleSettingInterface)."""

    id: int = 1
    device_type: str = "ELECTRIC_VEHICLES"
    mode: str = "CHARGE"
    unit: str = "PERCENTAGE"
    min: float | None = 10.0
    max: float | None = 100.0
    step: float = 1.0
    time_from: str | None = "04:00"
    time_to: str | None = "11:00"
    time_step: int = 30  # minutes


@dataclass
class SimInverterTelemetry:
    battery_soc: float = 55.0
    battery_power_kw: float = 0.0  # negative = charging
    battery_online: bool = True
    inverter_power_kw: float = 0.0
    grid_power_kw: float = -0.4  # negative = importing
    solar_power_kw: float | None = 1.2
    site_consumption_kw: float = 0.8
    site_export_kw: float = 0.0


@dataclass
class SimChargingSession:
    start: datetime
    end: datetime
    energy_added_kwh: float
    cost_pence: float
    soc_change: float
    soc_final: float
    type: Literal["SMART", "BOOST"] = "SMART"


@dataclass
class SimDevice:
    id: str
    kind: SimDeviceKind
    name: str
    device_type: str  # KrakenFlexDeviceTypes
    provider: str  # ProviderChoices
    property_id: str = "1"
    integration_device_id: str | None = None
    make: str | None = None
    model: str | None = None
    lifecycle: str = "LIVE"  # SmartFlexDeviceLifecycleStatus
    suspended: bool = False
    boosting: bool = False
    sim_plugged_in: bool = True
    sim_fully_charged: bool = False
    sim_at_home: bool = True
    alerts: list[tuple[str, datetime]] = field(default_factory=list)
    preferences: SimPreferences | None = None
    preference_setting: SimPreferenceSetting | None = None
    grid_export_enabled: bool = True
    upper_soc_limit: int | None = None
    battery_size_kwh: float | None = None
    charge_point_power_kw: float | None = None
    #: What the car reports (status.stateOfCharge / activePower); set by the simulated world.
    sim_soc_pct: float | None = None
    sim_power_kw: float | None = None
    telemetry: SimInverterTelemetry | None = None
    power_in_kw: float | None = None  # heat pump max power
    hp_zone_temperatures: dict[str, float] = field(default_factory=dict)
    hp_target_temperature: float | None = None
    charging_sessions: list[SimChargingSession] = field(default_factory=list)
    # legacy vehicleChargingPreferences / setVehicleChargePreferences
    weekday_target_soc: int = 80
    weekday_target_time: str = "07:00"
    weekend_target_soc: int = 80
    weekend_target_time: str = "09:00"

    @property
    def state(self) -> str:
        """SmartFlexDeviceState (sandbox values, see schema.graphql)."""
        if self.lifecycle == "ONBOARDING":
            return "AUTHENTICATION_PENDING"
        if self.suspended:
            return "SMART_CONTROL_OFF"
        if self.boosting:
            return "BOOSTING"
        if self.kind in ("vehicle", "charge_point") and not self.sim_plugged_in:
            return "NOT_PLUGGED_IN"
        return "SMART_CONTROL_CAPABLE"


@dataclass
class SimDispatch:
    start: datetime
    end: datetime
    delta_kwh: float  # import negative (UpsideDispatchType.delta)
    source: str | None = "smart-charge"  # planned: smart-charge | test-charge | bump-charge
    location: str | None = None  # completed: AT_HOME
    device_id: str | None = None  # flexPlannedDispatches(deviceId); None: the account's first EV


@dataclass
class SimZone:
    zone: str  # WATER, ZONE1, ZONE2, AUXILIARY
    setpoint_c: float
    mode: str = "AUTO"
    relay_on: bool = False
    heat_demand: bool = False
    display_name: str = ""


@dataclass
class SimSensor:
    code: str
    temperature_c: float
    humidity: int = 45
    online: bool = True


@dataclass
class SimHeatPumpController:
    euid: str
    zones: list[SimZone] = field(default_factory=list)
    sensors: list[SimSensor] = field(default_factory=list)
    connected: bool = True
    model: str = "Cosy 6"
    serial_number: str = "HP-SANDBOX-1"
    cop: float = 3.4
    power_input_kw: float = 1.1
    heat_output_kw: float = 3.74
    outdoor_temperature_c: float = 7.5
    #: The property it is installed at (heatPumpControllersAtLocation); None: the account's first.
    property_id: str | None = None


@dataclass
class SimLegacyHeatPump:
    """heatPumpStatus / heatPumpDevice / setClimateControlState and friends."""

    krakenflex_device_id: str = "kf-hp-1"
    provider: str = "DAIKIN"
    heat_pump_id: str = "1"
    connected: bool = True
    climate_enabled: bool = True
    current_climate_c: float = 19.5
    target_climate_c: float = 20.0
    water_enabled: bool = True
    current_water_c: float = 48.0


@dataclass
class SimAutoTopupConfig:
    id: str
    device_id: str
    topup_amount: int  # pence
    effective_from: datetime
    effective_to: datetime | None = None


@dataclass
class SimAutoTopupTrigger:
    id: str
    config_id: str
    triggered_at: datetime
    status: str = "INITIATED"
    source: str = "LOW_CREDIT_BALANCE"
    failure_reason: str | None = None


@dataclass
class SimPrepayBalance:
    credit_pence: int
    debt_pence: int = 0
    emergency_credit_pence: int | None = 0
    as_at: datetime | None = None  # None = "now" at query time


@dataclass
class SimPaymentSchedule:
    id: str
    payment_amount: int
    valid_from: date
    valid_to: date | None = None
    schedule_type: str = "BALANCE_TRIGGERED"
    payment_day: int | None = None


@dataclass
class SimLedger:
    id: str
    number: str
    ledger_type: str = "ELECTRICITY_LEDGER"
    name: str = "Electricity"
    balance: int = 0


@dataclass
class SimSavingEvent:
    id: int
    code: str
    start: datetime
    end: datetime
    status: str = "UPCOMING"
    reward_per_kwh_points: int = 800
    joined: bool = False


@dataclass
class SimGreenness:
    valid_from: datetime
    valid_to: datetime
    score: int
    index: Literal["LOW", "MEDIUM", "HIGH"]
    highlight: bool = False


@dataclass
class SimProductRate:
    valid_from: datetime | None
    valid_to: datetime | None
    price_per_unit: float  # cents (AU) per kWh
    band: str = "CONSUMPTION_CHARGE"


@dataclass
class SimProduct:
    """AU product(code) (003) / DE agreement.product (001)."""

    code: str
    display_name: str
    rates: list[SimProductRate] = field(default_factory=list)
    is_variable: bool = True


@dataclass
class SimMarketAgreement:
    """AU account.agreements / agreement(id) (CommonAgreementType) and DE agreement(id)."""

    id: int
    product_code: str
    valid_from: datetime
    valid_to: datetime | None = None
    unit_rate_per_kwh: float | None = None  # DE: the gross unit rate (ct/kWh, unitRateInformation)
    monthly_standing_charge: float | None = None  # DE: gross €/month (standingChargeGrossRateInformation)
    #: DE time-of-use: (timeslot name, active from "HH:MM:SS", active to, gross ct/kWh).
    tou_rates: list[tuple[str, str, str, float]] | None = None


@dataclass
class SimAccount:
    number: str
    deployment: str = "octopus-gb"
    brand: str = "OCTOPUS_ENERGY"
    balance: int = 0
    user_id: str = "1"
    email: str = "user@example.com"
    given_name: str = "Sandy"
    family_name: str = "Box"
    properties: list[SimProperty] = field(default_factory=list)
    devices: list[SimDevice] = field(default_factory=list)
    planned_dispatches: list[SimDispatch] = field(default_factory=list)
    completed_dispatches: list[SimDispatch] = field(default_factory=list)
    heat_pump_controllers: list[SimHeatPumpController] = field(default_factory=list)
    legacy_heat_pump: SimLegacyHeatPump | None = None
    auto_topup_configs: list[SimAutoTopupConfig] = field(default_factory=list)
    auto_topup_triggers: list[SimAutoTopupTrigger] = field(default_factory=list)
    prepay_balances: dict[str, SimPrepayBalance] = field(default_factory=dict)  # by ESME deviceId
    payment_schedules: list[SimPaymentSchedule] = field(default_factory=list)
    ledgers: list[SimLedger] = field(default_factory=list)
    saving_events: list[SimSavingEvent] = field(default_factory=list)
    greenness: list[SimGreenness] = field(default_factory=list)
    carbon_intensity_index: str | None = "MODERATE"
    site_demand_w: float = 450.0  # smartMeterTelemetry demand
    products: dict[str, SimProduct] = field(default_factory=dict)
    market_agreements: list[SimMarketAgreement] = field(default_factory=list)

    # -- lookups ---------------------------------------------------------------------------------------
    def device(self, device_id: str) -> SimDevice | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def legacy_device(self) -> SimDevice | None:
        """The one device the legacy (account-scoped) KrakenFlex API talks about: the first EV/charger."""
        return next((d for d in self.devices if d.kind in ("vehicle", "charge_point")), None)

    def meter_point(self, mpan: str) -> SimMeterPoint | None:
        for prop in self.properties:
            for mp in prop.meter_points:
                if mp.mpan == mpan:
                    return mp
        return None

    def controller(self, euid: str) -> SimHeatPumpController | None:
        return next((c for c in self.heat_pump_controllers if c.euid == euid), None)

    # -- builders --------------------------------------------------------------------------------------
    @classmethod
    def for_deployment(cls, deployment: str, now: datetime) -> SimAccount:
        if deployment == "octopus-gb":
            return cls.demo(now)
        if deployment == "octopus-de":
            return cls.demo_de(now)
        if deployment == "red-energy-au":
            return cls.demo_au(now)
        if deployment == "octopus-jp":
            return cls.demo_jp(now)
        raise ValueError(f"unknown deployment {deployment!r}")

    @classmethod
    def demo(cls, now: datetime, import_rates: Sequence[RateTuple] | None = None) -> SimAccount:
        """A rich GB account ``A-SANDBOX1`` (see module docstring of fake_kraken for what it holds)."""
        now = _aware(now)
        local = now.astimezone(UK)
        day_start = datetime.combine(local.date(), time(0), tzinfo=UK).astimezone(UTC)
        rates = (
            [SimRate(_aware(a), _aware(b), float(v)) for a, b, v in import_rates]
            if import_rates is not None
            else agile_curve(local.date(), days=2 if local.hour >= 16 else 1)
        )
        year_ago = day_start - timedelta(days=365)
        esme = SimSmartMeter(device_id="12-34-5A-FF-FF-6B-C7-89", payment_mode="PREPAY")
        import_mp = SimMeterPoint(
            mpan="1900000000001",
            direction="IMPORT",
            smart_meter=esme,
            # The auto top-up config below sits on this device, not on the ESME (issue 13).
            other_smart_devices=[SimSmartMeter(device_id="A1-BC-D2-00-01-23-EF-4G", type="PPMID")],
            agreements=[
                SimAgreement(
                    1001,
                    year_ago,
                    None,
                    SimTariff(
                        "HALF_HOURLY",
                        "AGILE-24-10-01",
                        "E-1R-AGILE-24-10-01-A",
                        display_name="Agile Octopus",
                        standing_charge=48.0,
                        unit_rates=rates,
                    ),
                )
            ],
        )
        export_mp = SimMeterPoint(
            mpan="1900000000002",
            direction="EXPORT",
            meter_serial="21E0000001",
            agreements=[
                SimAgreement(
                    1002,
                    year_ago,
                    None,
                    SimTariff(
                        "STANDARD",
                        "OUTGOING-FIX-12M-19-05-13",
                        "E-1R-OUTGOING-FIX-12M-19-05-13-A",
                        display_name="Outgoing Octopus",
                        is_export=True,
                        standing_charge=0.0,
                        unit_rate=15.0,
                    ),
                )
            ],
        )
        ev_setting = SimPreferenceSetting()
        ev = SimDevice(
            id="00000000-0000-4000-8000-00000000e001",
            kind="vehicle",
            name="Sandbox EV",
            device_type="ELECTRIC_VEHICLES",
            provider="ENODE",
            integration_device_id="enode-ev-1",
            make="Tesla",
            model="Model 3",
            upper_soc_limit=100,
            battery_size_kwh=60.0,
            charge_point_power_kw=7.4,
            sim_soc_pct=45.0,
            sim_power_kw=0.0,
            preferences=SimPreferences(schedules=[SimSchedule(d, "07:00", 80.0) for d in DAYS]),
            preference_setting=ev_setting,
            charging_sessions=[
                SimChargingSession(
                    day_start - timedelta(hours=22), day_start - timedelta(hours=18), 14.0, 98.0, 23.0, 80.0
                )
            ],
        )
        inverter = SimDevice(
            id="00000000-0000-4000-8000-00000000b001",
            kind="inverter",
            name="Sandbox inverter",
            device_type="BATTERIES",
            provider="BYD",
            integration_device_id="byd-inv-1",
            make="BYD",
            model="HVS 10.2",
            telemetry=SimInverterTelemetry(),
        )
        heat_pump = SimDevice(
            id="00000000-0000-4000-8000-00000000f001",
            kind="heat_pump",
            name="Sandbox heat pump",
            device_type="HEAT_PUMPS",
            provider="DAIKIN",
            make="Daikin",
            model="Altherma",
            power_in_kw=5.0,
            hp_zone_temperatures={"ZONE1": 19.5, "WATER": 48.0},
            hp_target_temperature=20.0,
        )
        controller = SimHeatPumpController(
            euid="00:1e:5e:09:02:ab:cd:ef",
            zones=[
                SimZone("WATER", 50.0, mode="AUTO", display_name="Hot water"),
                SimZone(
                    "ZONE1", 20.0, mode="AUTO", relay_on=True, heat_demand=True, display_name="Downstairs"
                ),
            ],
            sensors=[SimSensor("SENSOR01", 19.5), SimSensor("SENSOR02", 18.9, humidity=50)],
        )
        planned = [
            SimDispatch(day_start + timedelta(hours=23), day_start + timedelta(hours=24, minutes=30), -10.5),
            SimDispatch(
                day_start + timedelta(hours=26), day_start + timedelta(hours=27), -7.0, source="smart-charge"
            ),
        ]
        completed = [
            SimDispatch(day_start - timedelta(hours=1), day_start, -7.0, source=None, location="AT_HOME"),
        ]
        greenness = [
            SimGreenness(
                day_start + timedelta(hours=h),
                day_start + timedelta(hours=h + 1),
                score := int(50 + 40 * math.cos((h - 3) / 24 * 2 * math.pi)),
                "HIGH" if score >= 67 else "MEDIUM" if score >= 34 else "LOW",
                highlight=score >= 85,
            )
            for h in range(0, 48)
        ]
        return cls(
            number="A-SANDBOX1",
            deployment="octopus-gb",
            balance=-1234,
            properties=[SimProperty("1", meter_points=[import_mp, export_mp])],
            devices=[ev, inverter, heat_pump],
            planned_dispatches=planned,
            completed_dispatches=completed,
            heat_pump_controllers=[controller],
            legacy_heat_pump=SimLegacyHeatPump(),
            auto_topup_configs=[
                SimAutoTopupConfig("1", "A1-BC-D2-00-01-23-EF-4G", 2000, year_ago),
            ],
            auto_topup_triggers=[
                SimAutoTopupTrigger("1", "1", day_start - timedelta(days=3, hours=-9)),
            ],
            prepay_balances={esme.device_id: SimPrepayBalance(credit_pence=1850, emergency_credit_pence=500)},
            payment_schedules=[SimPaymentSchedule("1", 2000, year_ago.date())],
            ledgers=[SimLedger("1", "L-SANDBOX1")],
            saving_events=[
                SimSavingEvent(
                    1, "EVENT-SANDBOX-1", day_start + timedelta(hours=41), day_start + timedelta(hours=42)
                )
            ],
            greenness=greenness,
        )

    @classmethod
    def demo_de(cls, now: datetime) -> SimAccount:
        """A DE account: devices and dispatches like GB; tariff via agreement(id).unitRatePerKwh (001)."""
        gb = cls.demo(now)
        start = _aware(now) - timedelta(days=200)
        ev = gb.devices[0]
        return cls(
            number="A-SANDBOXDE",
            deployment="octopus-de",
            brand="OCTOPUS_ENERGY_GERMANY",
            properties=[SimProperty("1", postcode="10115", address="Sandboxstraße 1")],
            devices=[ev],
            planned_dispatches=gb.planned_dispatches,
            completed_dispatches=gb.completed_dispatches,
            products={"OE-DYNAMIC": SimProduct("OE-DYNAMIC", "Octopus Dynamic")},
            market_agreements=[
                SimMarketAgreement(
                    2001, "OE-DYNAMIC", start, None, unit_rate_per_kwh=29.5, monthly_standing_charge=12.5
                )
            ],
            carbon_intensity_index=None,
        )

    @classmethod
    def demo_au(cls, now: datetime) -> SimAccount:
        """A Red Energy account: tariff only (account.agreements -> product(code).productRates, 003)."""
        start = _aware(now) - timedelta(days=100)
        return cls(
            number="A-SANDBOXAU",
            deployment="red-energy-au",
            brand="RED_ENERGY",
            properties=[SimProperty("1", postcode="3000", address="1 Sandbox St, Melbourne")],
            products={
                "RE-LIVING-ENERGY": SimProduct(
                    "RE-LIVING-ENERGY",
                    "Living Energy Saver",
                    rates=[
                        SimProductRate(start, None, 28.6, band="PEAK"),
                        SimProductRate(start, None, 19.8, band="OFF_PEAK"),
                    ],
                )
            },
            market_agreements=[SimMarketAgreement(3001, "RE-LIVING-ENERGY", start)],
            carbon_intensity_index=None,
        )

    @classmethod
    def demo_jp(cls, now: datetime) -> SimAccount:
        """JP: mutations only (004). An account with one EV so the device mutations have a target."""
        gb = cls.demo(now)
        return cls(
            number="A-SANDBOXJP",
            deployment="octopus-jp",
            brand="OCTOPUS_ENERGY_JAPAN",
            devices=[gb.devices[0]],
            payment_schedules=gb.payment_schedules,
            ledgers=gb.ledgers,
        )


DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def agile_curve(first_day: date, days: int = 1) -> list[SimRate]:
    """A deterministic Agile-like price curve (p/kWh inc VAT) for whole UK-local days.

    Cheap overnight, a 16:00-19:00 peak, mid-teens otherwise. Half-hour slots in UK local time, so a clock
    change day has 46 or 50 slots.
    """
    out: list[SimRate] = []
    for d in range(days):
        day = first_day + timedelta(days=d)
        start = datetime.combine(day, time(0), tzinfo=UK).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UK).astimezone(UTC)
        t = start
        while t < end:
            hour = t.astimezone(UK).hour + t.astimezone(UK).minute / 60
            price = 18.0 + 6.0 * math.sin((hour - 9) / 24 * 2 * math.pi)
            if 16 <= hour < 19:
                price += 14.0
            if 0 <= hour < 5:
                price -= 8.0
            out.append(SimRate(t, t + timedelta(minutes=30), round(price, 2)))
            t += timedelta(minutes=30)
    return out


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return dt.astimezone(UTC)
