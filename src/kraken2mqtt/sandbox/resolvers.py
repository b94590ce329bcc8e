"""Root-field resolvers of the fake Kraken server, and the per-field auth/budget/fault gate.

Every root field goes through :func:`_gate` first, in this order:

1. brownout fault -> KT-CT-1113
2. forced fault errors (``rate_limited`` -> KT-CT-1199 on every field; ``expired_token`` -> KT-CT-1120 on
   fields that need auth)
3. auth (all fields except ``obtainKrakenToken`` and ``krakenVersion``): no header -> KT-CT-1112, unknown
   token -> KT-CT-1111, expired -> KT-CT-1120
4. points: each authenticated root field costs 1 point of the hourly allowance, except ``rateLimit`` and
   ``rateLimitInfo`` which are free (so a blocked client can still read its ``ttl``); exhausted ->
   KT-CT-1199 "Too many requests."

Errors are raised as GraphQLErrors with ``extensions = {errorType, errorCode, errorDescription, ...}``; the
field's data becomes null (digest §0). errorType is VALIDATION for input problems (as in the 004 example);
AUTHORIZATION / APPLICATION elsewhere are ASSUMED names.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from kraken2mqtt.clock import Clock
from kraken2mqtt.sandbox import serialize as ser
from kraken2mqtt.sandbox.connections import connection
from kraken2mqtt.sandbox.default_resolver import Of, dec, install, iso, parse_dt
from kraken2mqtt.sandbox.sim_account import (
    SimAccount,
    SimDevice,
    SimGreenness,
    SimHeatPumpController,
    SimLegacyHeatPump,
    SimPaymentSchedule,
    SimPreferences,
    SimPrepayBalance,
    SimProduct,
    SimProperty,
    SimSchedule,
)
from kraken2mqtt.sandbox.sim_auth import MintMethod, PointsBudget, TokenIssuer, TokenState
from kraken2mqtt.sandbox.sim_readings import greener_nights, telemetry
from kraken2mqtt.sandbox.tariff_rates import applicable_rates

Json = dict[str, Any]
NO_AUTH_FIELDS = frozenset({"obtainKrakenToken", "krakenVersion"})
FREE_FIELDS = frozenset({"rateLimit", "rateLimitInfo"})


class Backend(Protocol):
    """What the resolvers need from the server (FakeKraken implements it)."""

    account: SimAccount
    deployment: str
    lock: threading.RLock
    clock: Clock
    tokens: TokenIssuer
    budget: PointsBudget
    api_key: str
    email: str
    password: str
    mutations: list[tuple[str, Json]]

    def record_mint(self, method: MintMethod) -> None: ...


@dataclass
class RequestContext:
    resolvers: Resolvers
    token_state: TokenState
    forced: tuple[str, str, bool] | None = None  # (errorCode, message, applies to no-auth fields too)
    brownout_all: bool = False
    brownout_fields: frozenset[str] = field(default_factory=frozenset)
    #: The time of the root field being resolved (its fields below read it).
    now: datetime | None = None


def kraken_error(
    code: str, message: str, description: str | None = None, error_type: str = "APPLICATION", **extra: Any
) -> GraphQLError:
    ext: Json = {"errorType": error_type, "errorCode": code, "errorDescription": description or message}
    ext.update(extra)
    return GraphQLError(message, extensions=ext)


def unauthorized() -> GraphQLError:
    return kraken_error(
        "KT-CT-4177", "Unauthorized.", "The viewer cannot access this account.", "AUTHORIZATION"
    )


_AUTH_ERRORS: dict[str, tuple[str, str, str]] = {
    "missing": ("KT-CT-1112", "'Authorization' header not provided.", "'Authorization' header not provided."),
    "unknown": ("KT-CT-1111", "Unauthorized.", "The token is not valid."),
    "expired": ("KT-CT-1120", "The Kraken Token has expired.", "The Kraken Token has expired."),
}


def _gate(backend: Backend, ctx: RequestContext, name: str) -> None:
    needs_auth = name not in NO_AUTH_FIELDS
    if ctx.brownout_all or name in ctx.brownout_fields:
        raise kraken_error(
            "KT-CT-1113", "Disabled GraphQL field requested.", f"The field '{name}' is disabled."
        )
    if ctx.forced is not None and (needs_auth or ctx.forced[2]):
        code, message, _ = ctx.forced
        raise kraken_error(
            code, message, error_type="AUTHORIZATION" if code == "KT-CT-1120" else "APPLICATION"
        )
    if not needs_auth:
        return
    auth_error = _AUTH_ERRORS.get(ctx.token_state)
    if auth_error is not None:
        code, message, description = auth_error
        raise kraken_error(code, message, description, "AUTHORIZATION")
    if name not in FREE_FIELDS and not backend.budget.spend(1):
        raise kraken_error("KT-CT-1199", "Too many requests.", error_type="APPLICATION")


Resolver = Callable[[dict[str, Any]], Any]


def attach(schema: GraphQLSchema) -> None:
    """Point every root field of ``schema`` at the :class:`Resolvers` carried by the request context, so one
    schema object can serve any number of servers; the fields below resolve from the simulated objects
    (:mod:`default_resolver`, :mod:`serialize`)."""
    install(schema, ser.FIELDS, ser.TYPES)
    for root in (schema.query_type, schema.mutation_type):
        if root is None:
            continue
        for name, fdef in root.fields.items():
            fdef.resolve = _root_resolver(name)


def _root_resolver(name: str) -> Callable[..., Any]:
    def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx: RequestContext = info.context
        _gate(ctx.resolvers.b, ctx, name)
        return ctx.resolvers.call(name, args, ctx)

    return resolve


class Resolvers:
    """Binds root fields of a schema to a :class:`Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._table = self.table()

    # -- plumbing ------------------------------------------------------------------------------------------
    def call(self, name: str, args: dict[str, Any], ctx: RequestContext) -> Any:
        """Run the root resolver with the account lock held; graphql-core resolves the fields below from a
        deep copy of its result (and this time), after the lock is released."""
        resolver = self._table.get(name)
        if resolver is None:  # in the SDL (a live client's field) but not simulated
            raise kraken_error(
                "KT-CT-1113", "Disabled GraphQL field requested.", f"'{name}' is not simulated."
            )
        with self.b.lock:
            ctx.now = self.now
            return copy.deepcopy(resolver(args))

    @property
    def acc(self) -> SimAccount:
        return self.b.account

    @property
    def now(self) -> datetime:
        return self.b.clock.now()

    def _check_account(self, number: str | None) -> SimAccount:
        if number is not None and number != self.acc.number:
            raise unauthorized()
        return self.acc

    def _device(self, device_id: str) -> SimDevice:
        d = self.acc.device(str(device_id))
        if d is None:
            raise kraken_error(
                "KT-CT-4301", "Unable to find device for given account.", error_type="VALIDATION"
            )
        return d

    def _legacy(self, args: Json) -> SimDevice:
        inp = args.get("input") or {}
        self._check_account(inp.get("accountNumber"))
        d = self.acc.legacy_device()
        if d is None:
            raise kraken_error(
                "KT-CT-4301", "Unable to find device for given account.", error_type="VALIDATION"
            )
        return d

    def _applied(self, name: str, args: Json) -> None:
        self.b.mutations.append((name, dict(args.get("input") or {})))

    # -- table ---------------------------------------------------------------------------------------------
    def table(self) -> dict[str, Resolver]:
        return {
            "obtainKrakenToken": self.obtain_kraken_token,
            "rateLimit": lambda a: {
                k: v
                for k, v in self.b.budget.snapshot().items()
                if k in ("limit", "remainingPoints", "usedPoints")
            },
            "rateLimitInfo": self.rate_limit_info,
            "krakenVersion": lambda a: {"number": "sandbox", "SHA": "0" * 40},
            "viewer": self.viewer,
            "account": lambda a: self._check_account(a["accountNumber"]),
            "properties": self.properties,
            "property": self.property,
            "applicableRates": self.applicable_rates,
            "agreement": self.agreement,
            "product": self.product,
            "devices": self.devices,
            "registeredKrakenflexDevice": self.registered_krakenflex_device,
            "vehicleChargingPreferences": self.vehicle_charging_preferences,
            "batteryDevice": self.battery_device,
            "heatPumpDevice": self.heat_pump_device,
            "heatPumpStatus": self.heat_pump_status,
            "octoHeatPumpControllerEuids": self.controller_euids,
            "controllerEuids": self.controller_euids,
            "octoHeatPumpControllerStatus": self.controller_status,
            "heatPumpControllerStatus": self.controller_status,
            "octoHeatPumpControllerConfiguration": self.controller_configuration,
            "heatPumpControllerConfiguration": self.controller_configuration,
            "octoHeatPumpLivePerformance": self.live_performance,
            # GB backend endpoint only
            "heatPumpControllersAtLocation": self.controllers_at_location,
            "heatPumpLivePerformance": self.live_performance,
            "greenerNightsForecast": lambda a: greener_nights(self.acc.greenness),
            "plannedDispatches": lambda a: self.dispatches(a, planned=True),
            "completedDispatches": lambda a: self.dispatches(a, planned=False),
            "flexPlannedDispatches": self.flex_planned_dispatches,
            "savingSessions": self.saving_sessions,
            "autoTopupConfigs": self.auto_topup_configs,
            "autoTopupTriggers": self.auto_topup_triggers,
            "prepayBalanceSnapshot": self.prepay_balance_snapshot,
            "greennessForecast": self.greenness_forecast,
            "energyMixData": lambda a: {"carbonIntensityIndex": self.acc.carbon_intensity_index},
            "smartMeterTelemetry": self.smart_meter_telemetry,
            # mutations
            "updateBoostCharge": self.update_boost_charge,
            "setDevicePreferences": self.set_device_preferences,
            "updateDeviceSmartControl": self.update_device_smart_control,
            "updateDeviceGridExport": self.update_device_grid_export,
            "triggerBoostCharge": self.trigger_boost_charge,
            "deleteBoostCharge": self.delete_boost_charge,
            "suspendControl": self.suspend_control,
            "resumeControl": self.resume_control,
            "setVehicleChargePreferences": self.set_vehicle_charge_preferences,
            "setClimateControlState": lambda a: self.heat_pump_mutation("setClimateControlState", a),
            "setHotWaterState": lambda a: self.heat_pump_mutation("setHotWaterState", a),
            "setRoomTemperature": lambda a: self.heat_pump_mutation("setRoomTemperature", a),
            "updateAutoTopUpAmount": self.update_auto_top_up_amount,
        }

    # -- auth ----------------------------------------------------------------------------------------------
    def obtain_kraken_token(self, args: Json) -> Json:
        inp = args["input"]
        b = self.b
        method: MintMethod
        if inp.get("APIKey") is not None:
            ok, method = inp["APIKey"] == b.api_key, "api_key"
        elif inp.get("email") is not None or inp.get("password") is not None:
            ok, method = (inp.get("email") == b.email and inp.get("password") == b.password), "email_password"
        elif inp.get("refreshToken") is not None:
            if not b.tokens.refresh_valid(inp["refreshToken"]):
                raise kraken_error(
                    "KT-CT-1135",
                    "Invalid data.",
                    "The refresh token is invalid or has expired.",
                    "VALIDATION",
                )
            ok, method = True, "refresh_token"
        else:
            ok, method = False, "api_key"
        if not ok:
            raise kraken_error("KT-CT-1135", "Invalid data.", "The credentials are not valid.", "VALIDATION")
        b.record_mint(method)
        return b.tokens.mint(method)

    def rate_limit_info(self, args: Json) -> Json:
        snap = self.b.budget.snapshot()
        return {
            "pointsAllowanceRateLimit": snap,
            "fieldSpecificRateLimits": lambda _info, **a: connection([], a),
        }

    # -- accounts and tariffs --------------------------------------------------------------------------
    def viewer(self, args: Json) -> SimAccount:
        return self.acc

    def properties(self, args: Json) -> list[SimProperty]:
        return self._check_account(args["accountNumber"]).properties

    def property(self, args: Json) -> SimProperty | None:
        return next((p for p in self.acc.properties if p.id == str(args["id"])), None)

    def applicable_rates(self, args: Json) -> Json:
        acc = self._check_account(args["accountNumber"])
        mp = acc.meter_point(args["mpxn"])
        if mp is None:
            raise kraken_error(
                "KT-CT-4301", "Meter point not found on this account.", error_type="VALIDATION"
            )
        nodes = applicable_rates(mp, parse_dt(args["startAt"]), parse_dt(args["endAt"]))
        return connection(nodes, args)

    def agreement(self, args: Json) -> Of:
        """DE's Agreement or AU's CommonAgreementType (the deployment's schema says which)."""
        acc = self.acc
        found = next((a for a in acc.market_agreements if str(a.id) == str(args["id"])), None)
        if found is None:
            raise kraken_error("KT-CT-1501", "Agreement not found.", error_type="VALIDATION")
        return Of(found, acc.products)

    def product(self, args: Json) -> SimProduct:
        p = self.acc.products.get(args["code"])
        if p is None:
            raise kraken_error(
                "KT-AU-9510", "No product found for the inputed code.", error_type="VALIDATION"
            )
        return p

    # -- devices ---------------------------------------------------------------------------------------
    def devices(self, args: Json) -> list[SimDevice]:
        acc = self._check_account(args["accountNumber"])
        out = []
        for d in acc.devices:
            if args.get("propertyId") is not None and d.property_id != str(args["propertyId"]):
                continue
            if args.get("deviceId") is not None and d.id != args["deviceId"]:
                continue
            if (
                args.get("integrationDeviceId") is not None
                and d.integration_device_id != args["integrationDeviceId"]
            ):
                continue
            out.append(d)
        return out

    def registered_krakenflex_device(self, args: Json) -> SimDevice | None:
        self._check_account(args["accountNumber"])
        return self.acc.legacy_device()

    def vehicle_charging_preferences(self, args: Json) -> SimDevice:
        self._check_account(args["accountNumber"])
        d = self.acc.legacy_device()
        if d is None:
            raise kraken_error("KT-CT-4339", "Your device charging preferences could not be fetched.")
        return d

    def battery_device(self, args: Json) -> SimDevice | None:
        acc = self._check_account(args["accountNumber"])
        return next(
            (
                d
                for d in acc.devices
                if d.kind in ("battery", "inverter") and d.property_id == str(args["propertyId"])
            ),
            None,
        )

    def heat_pump_device(self, args: Json) -> SimLegacyHeatPump | None:
        self._check_account(args["accountNumber"])
        return self.acc.legacy_heat_pump

    def heat_pump_status(self, args: Json) -> SimLegacyHeatPump | None:
        self._check_account(args["accountNumber"])
        return self.acc.legacy_heat_pump

    def controller_euids(self, args: Json) -> list[str]:
        acc = self._check_account(args.get("accountNumber"))
        return [c.euid for c in acc.heat_pump_controllers]

    def controller_status(self, args: Json) -> SimHeatPumpController | None:
        return self._check_account(args["accountNumber"]).controller(str(args["euid"]))

    def controller_configuration(self, args: Json) -> SimHeatPumpController | None:
        return self._check_account(args["accountNumber"]).controller(str(args["euid"]))

    def controllers_at_location(self, args: Json) -> list[Json]:
        """``heatPumpControllersAtLocation(accountNumber, propertyId) { controller { euid } }``: the
        account's controllers at that property (a sandbox controller sits at the first property unless it
        names another)."""
        acc = self._check_account(args["accountNumber"])
        prop = str(args["propertyId"])
        if prop not in {p.id for p in acc.properties}:
            raise unauthorized()
        first = acc.properties[0].id if acc.properties else None
        return [
            {"controller": {"euid": c.euid}}
            for c in acc.heat_pump_controllers
            if (c.property_id or first) == prop
        ]

    def live_performance(self, args: Json) -> SimHeatPumpController | None:
        if "accountNumber" in args:  # heatPumpLivePerformance (backend); the octoHeatPump* one has none
            self._check_account(args["accountNumber"])
        return self.acc.controller(str(args["euid"]))

    # -- dispatches and events ---------------------------------------------------------------------------
    def dispatches(self, args: Json, *, planned: bool) -> list[Of]:
        acc = self._check_account(args["accountNumber"])
        items = sorted(
            acc.planned_dispatches if planned else acc.completed_dispatches,
            key=lambda d: d.start,
            reverse=not planned,
        )
        return [Of(d, "planned" if planned else "completed") for d in items]

    def flex_planned_dispatches(self, args: Json) -> list[Json]:
        """One device's planned dispatches (``start end type energyAddedKwh``, HAOE's shape). A device that
        cannot be dispatched answers KT-CT-4301, as the live API does for accounts without one."""
        device = self._device(args["deviceId"])
        if device.kind not in ("vehicle", "charge_point"):
            raise kraken_error("KT-CT-4301", "Unable to find device.", error_type="VALIDATION")
        first_ev = next((d.id for d in self.acc.devices if d.kind in ("vehicle", "charge_point")), None)
        mine = [
            d
            for d in self.acc.planned_dispatches
            if d.device_id == device.id or (d.device_id is None and device.id == first_ev)
        ]
        types = {"bump-charge": "BOOST", "test-charge": "TEST"}
        return [
            {
                "start": iso(d.start),
                "end": iso(d.end),
                "type": types.get(d.source or "", "SMART"),
                "energyAddedKwh": dec(-d.delta_kwh),
            }
            for d in sorted(mine, key=lambda d: d.start)
        ]

    def saving_sessions(self, args: Json) -> SimAccount:
        return self._check_account(args.get("accountNumber"))

    # -- prepay --------------------------------------------------------------------------------------------
    def auto_topup_configs(self, args: Json) -> Json:
        acc = self._check_account(args["accountNumber"])
        since = parse_dt(args["effectiveFrom"]) if args.get("effectiveFrom") else None
        configs = sorted(
            (
                c
                for c in acc.auto_topup_configs
                if c.device_id == args["deviceId"] and (since is None or c.effective_from >= since)
            ),
            key=lambda c: c.effective_from,
            reverse=True,
        )
        return connection([Of(c, acc.number) for c in configs], args, totals=False)

    def auto_topup_triggers(self, args: Json) -> Json:
        since = parse_dt(args["triggersFrom"]) if args.get("triggersFrom") else None
        triggers = sorted(
            (
                t
                for t in self.acc.auto_topup_triggers
                if t.config_id == str(args["autoTopupConfigId"])
                and (since is None or t.triggered_at >= since)
                and all(
                    args.get(k) is None or getattr(t, a) == args[k]
                    for k, a in (
                        ("status", "status"),
                        ("source", "source"),
                        ("failureReason", "failure_reason"),
                    )
                )
            ),
            key=lambda t: t.triggered_at,
            reverse=True,
        )
        return connection(triggers, args, totals=False)

    def prepay_balance_snapshot(self, args: Json) -> SimPrepayBalance | None:
        return self.acc.prepay_balances.get(args["deviceId"])

    # -- signals -----------------------------------------------------------------------------------------
    def greenness_forecast(self, args: Json) -> list[SimGreenness]:
        return self.acc.greenness

    def smart_meter_telemetry(self, args: Json) -> list[Json] | None:
        known = {
            mp.smart_meter.device_id
            for p in self.acc.properties
            for mp in p.meter_points
            if mp.smart_meter is not None
        }
        if args["deviceId"] not in known:
            return None
        start = parse_dt(args["start"]) if args.get("start") else None
        end = parse_dt(args["end"]) if args.get("end") else None
        return telemetry(self.acc, self.now, start, end, args.get("grouping"))

    # -- SmartFlex mutations -------------------------------------------------------------------------------
    def _boost_refusals(self, d: SimDevice) -> list[str]:
        reasons = []
        if d.lifecycle == "ONBOARDING":
            reasons.append("BC_DEVICE_NOT_YET_LIVE")
        if d.lifecycle == "RETIRED":
            reasons.append("BC_DEVICE_RETIRED")
        if d.suspended:
            reasons.append("BC_DEVICE_SUSPENDED")
        if not d.sim_plugged_in:
            reasons.append("BC_DEVICE_DISCONNECTED")
        if not d.sim_at_home:
            reasons.append("BC_DEVICE_NOT_AT_HOME")
        if d.boosting:
            reasons.append("BC_BOOST_CHARGE_IN_PROGRESS")
        if d.sim_fully_charged:
            reasons.append("BC_DEVICE_FULLY_CHARGED")
        return reasons

    def _start_boost(self, d: SimDevice) -> None:
        reasons = self._boost_refusals(d)
        if reasons:
            raise kraken_error(
                "KT-CT-4357", "Unable to trigger boost charge.", boostChargeRefusalReasons=reasons
            )
        d.boosting = True

    def update_boost_charge(self, args: Json) -> SimDevice:
        inp = args.get("input") or {}
        d = self._device(inp.get("deviceId", ""))
        if inp.get("action") == "BOOST":
            self._start_boost(d)
        else:
            d.boosting = False
        self._applied("updateBoostCharge", args)
        return d

    def update_device_smart_control(self, args: Json) -> SimDevice:
        inp = args["input"]
        d = self._device(inp["deviceId"])
        d.suspended = inp["action"] == "SUSPEND"
        if d.suspended:
            d.boosting = False
        self._applied("updateDeviceSmartControl", args)
        return d

    def update_device_grid_export(self, args: Json) -> SimDevice:
        inp = args.get("input") or {}
        d = self._device(inp.get("deviceId", ""))
        if d.kind not in ("battery", "inverter"):
            raise kraken_error(
                "KT-CT-4386", "An error occurred while trying to update your device's grid export status."
            )
        d.grid_export_enabled = bool(inp.get("enabled"))
        self._applied("updateDeviceGridExport", args)
        return d

    def set_device_preferences(self, args: Json) -> SimDevice:
        inp = args["input"]
        d = self._device(inp["deviceId"])
        problems = validate_preferences(d, inp)
        if problems:
            raise kraken_error(
                "KT-CT-4321",
                "Serializer validation error.",
                "; ".join(problems),
                "VALIDATION",
                validationErrors=[{"message": p, "inputPath": ["input"]} for p in problems],
            )
        d.preferences = SimPreferences(
            mode=inp["mode"],
            unit=inp["unit"],
            target_type=inp.get("targetType") or "ABSOLUTE_STATE_OF_CHARGE",
            schedules=[
                SimSchedule(
                    s["dayOfWeek"],
                    _hhmm(str(s["time"])),
                    float(s["max"]),
                    None if s.get("min") is None else float(s["min"]),
                    None if s.get("upperLimit") is None else float(s["upperLimit"]),
                )
                for s in inp["schedules"]
            ],
        )
        self._applied("setDevicePreferences", args)
        return d

    # -- legacy KrakenFlex mutations ---------------------------------------------------------------------
    def _legacy_payload(self, name: str, args: Json, d: SimDevice) -> Json:
        self._applied(name, args)
        return {"krakenflexDevice": d, "possibleErrors": []}

    def trigger_boost_charge(self, args: Json) -> Json:
        d = self._legacy(args)
        if d.boosting:
            raise kraken_error("KT-CT-4356", "A boost charge cannot currently be performed.")
        self._start_boost(d)
        return self._legacy_payload("triggerBoostCharge", args, d)

    def delete_boost_charge(self, args: Json) -> Json:
        d = self._legacy(args)
        if not d.boosting:
            raise kraken_error("KT-CT-4354", "Unable to cancel boost charge.")
        d.boosting = False
        return self._legacy_payload("deleteBoostCharge", args, d)

    def suspend_control(self, args: Json) -> Json:
        d = self._legacy(args)
        if d.suspended:
            raise kraken_error(
                "KT-CT-4358", "Unable to suspend device control.", "Control is already suspended."
            )
        d.suspended, d.boosting = True, False
        return self._legacy_payload("suspendControl", args, d)

    def resume_control(self, args: Json) -> Json:
        d = self._legacy(args)
        if not d.suspended:
            raise kraken_error("KT-CT-4359", "Unable to resume device control.", "Control is not suspended.")
        d.suspended = False
        return self._legacy_payload("resumeControl", args, d)

    def set_vehicle_charge_preferences(self, args: Json) -> Json:
        d = self._legacy(args)
        inp = args.get("input") or {}
        setting = d.preference_setting
        lo = 0.0 if setting is None or setting.min is None else setting.min
        hi = 100.0 if setting is None or setting.max is None else setting.max
        problems = []
        for key in ("weekdayTargetSoc", "weekendTargetSoc"):
            v = inp.get(key)
            if v is not None and not lo <= v <= hi:
                problems.append(f"{key} must be between {lo:g} and {hi:g}, got {v}.")
        for key in ("weekdayTargetTime", "weekendTargetTime"):
            v = inp.get(key)
            if v is not None and _minutes(str(v)) is None:
                problems.append(f"{key} must be HH:MM, got {v!r}.")
        if problems:
            raise kraken_error(
                "KT-CT-4321", "Serializer validation error.", "; ".join(problems), "VALIDATION"
            )
        for key, attr in (
            ("weekdayTargetSoc", "weekday_target_soc"),
            ("weekendTargetSoc", "weekend_target_soc"),
        ):
            if inp.get(key) is not None:
                setattr(d, attr, int(inp[key]))
        for key, attr in (
            ("weekdayTargetTime", "weekday_target_time"),
            ("weekendTargetTime", "weekend_target_time"),
        ):
            if inp.get(key) is not None:
                setattr(d, attr, _hhmm(str(inp[key])))
        return self._legacy_payload("setVehicleChargePreferences", args, d)

    def heat_pump_mutation(self, name: str, args: Json) -> Json:
        inp = args.get("input") or {}
        self._check_account(inp.get("accountNumber"))
        hp = self.acc.legacy_heat_pump
        if hp is None:
            raise kraken_error(
                "KT-CT-4301", "Unable to find device for given account.", error_type="VALIDATION"
            )
        if name == "setClimateControlState":
            hp.climate_enabled = bool(inp.get("enable"))
        elif name == "setHotWaterState":
            hp.water_enabled = bool(inp.get("enable"))
        else:
            temperature = float(inp.get("temperature") or 0.0)
            if not 7.0 <= temperature <= 30.0:
                raise kraken_error(
                    "KT-CT-4329",
                    "Invalid data.",
                    "temperature must be between 7 and 30 °C (sandbox rule).",
                    "VALIDATION",
                )
            hp.target_climate_c = temperature
        self._applied(name, args)
        return {"heatPumpDevice": hp, "possibleErrors": []}

    def update_auto_top_up_amount(self, args: Json) -> Json:
        inp = args["input"]
        acc = self._check_account(inp["accountNumber"])
        has_id, has_number = inp.get("ledgerId") is not None, inp.get("ledgerNumber") is not None
        if has_id and has_number:
            raise kraken_error("KT-CT-3820", "Received both ledger ID and number.", error_type="VALIDATION")
        if not has_id and not has_number:
            raise kraken_error(
                "KT-CT-3821", "Received neither ledger ID nor ledger number.", error_type="VALIDATION"
            )
        today = self.now.date()
        active = [
            s
            for s in acc.payment_schedules
            if s.valid_from <= today and (s.valid_to is None or s.valid_to > today)
        ]
        if not active:
            raise kraken_error("KT-CT-3815", "No active payment schedule found for this account.")
        current = active[-1]
        if current.schedule_type != "BALANCE_TRIGGERED":
            raise kraken_error("KT-CT-3953", "The payment schedule is not a balance triggered schedule.")
        if int(inp["amount"]) <= 0:
            raise kraken_error("KT-CT-3941", "Invalid data.", "amount must be positive.", "VALIDATION")
        current.valid_to = today
        new = SimPaymentSchedule(str(len(acc.payment_schedules) + 1), int(inp["amount"]), today)
        acc.payment_schedules.append(new)
        self._applied("updateAutoTopUpAmount", args)
        return {"schedule": new, "possibleErrors": []}


# -- helpers ---------------------------------------------------------------------------------------------
def _minutes(t: str) -> int | None:
    """'HH:MM' or 'HH:MM:SS[.fff][Z]' -> minutes after midnight; None if malformed."""
    parts = t.rstrip("Z").split(":")
    try:
        hh, mm = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None
    if not (0 <= hh < 24 and 0 <= mm < 60) or len(parts) > 3:
        return None
    return hh * 60 + mm


def _hhmm(t: str) -> str:
    m = _minutes(t)
    return t if m is None else f"{m // 60:02d}:{m % 60:02d}"


def validate_preferences(d: SimDevice, inp: Json) -> list[str]:
    """Check a setDevicePreferences input against the device's preferenceSetting."""
    s = d.preference_setting
    if s is None:
        return ["This device has no preference settings; preferences cannot be set."]
    problems = []
    if inp["mode"] != s.mode:
        problems.append(f"mode must be {s.mode}, got {inp['mode']}.")
    if inp["unit"] != s.unit:
        problems.append(f"unit must be {s.unit}, got {inp['unit']}.")
    if not inp["schedules"]:
        problems.append("schedules must not be empty.")
    lo_t = _minutes(s.time_from) if s.time_from else 0
    hi_t = _minutes(s.time_to) if s.time_to else 24 * 60 - 1
    for i, sch in enumerate(inp["schedules"]):
        where = f"schedules[{i}] ({sch['dayOfWeek']})"
        minutes = _minutes(str(sch["time"]))
        if minutes is None:
            problems.append(f"{where}: time {sch['time']!r} is not HH:MM.")
        else:
            if lo_t is not None and hi_t is not None and not lo_t <= minutes <= hi_t:
                problems.append(f"{where}: time {sch['time']} must be between {s.time_from} and {s.time_to}.")
            if minutes % s.time_step:
                problems.append(f"{where}: time {sch['time']} must be a multiple of {s.time_step} minutes.")
        for key in ("max", "min", "upperLimit"):
            if sch.get(key) is None:
                continue
            v = float(sch[key])
            if (s.min is not None and v < s.min) or (s.max is not None and v > s.max):
                problems.append(f"{where}: {key} {v:g} must be between {s.min:g} and {s.max:g}.")
            base = s.min or 0.0
            if s.step and abs(((v - base) / s.step) - round((v - base) / s.step)) > 1e-9:
                problems.append(f"{where}: {key} {v:g} must be a multiple of {s.step:g}.")
    return problems


__all__ = ["Backend", "RequestContext", "Resolvers", "attach", "kraken_error", "validate_preferences"]
