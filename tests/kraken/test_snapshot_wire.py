"""The snapshot models are the one description of the Kraken result shapes: every field the polling documents
select is read by a model's wire path (``validation_alias``), is parsed by hand in a named place, or is
listed here as selected but unread, with the reason."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from pydantic import AliasChoices, AliasPath, BaseModel

from kraken2mqtt.kraken import documents, snapshot
from kraken2mqtt.kraken.snapshot import (
    AccountInfo,
    AutoTopupConfig,
    AutoTopupTrigger,
    Device,
    Dispatch,
    GreennessPeriod,
    HeatPumpController,
    LegacyBattery,
    LegacyHeatPumpStatus,
    PrepayBalance,
    RateLimitData,
    SavingSession,
)

#: Where each model is read in a response (response keys: a document's field aliases count).
ROOTS: dict[str, type[BaseModel]] = {
    "account": AccountInfo,
    "devices": Device,
    "plannedDispatches": Dispatch,
    "completedDispatches": Dispatch,
    "flexPlannedDispatches": Dispatch,
    "batteryDevice": LegacyBattery,
    "heatPumpStatus": LegacyHeatPumpStatus,
    "heatPumpControllerStatus": HeatPumpController,
    "heatPumpLivePerformance": HeatPumpController,
    "prepayBalanceSnapshot": PrepayBalance,
    "autoTopupConfigs.edges.node": AutoTopupConfig,
    "autoTopupTriggers.edges.node": AutoTopupTrigger,
    "savingSessions.events": SavingSession,
    "greennessForecast": GreennessPeriod,
    "rateLimit": RateLimitData,
    "rateLimitInfo.pointsAllowanceRateLimit": RateLimitData,
}

#: Parsed by hand, not by a model's wire paths (prefixes).
ELSEWHERE = {
    "account.properties.electricityMeterPoints.agreements": "kraken/tariffs.py (GB agreements)",
    "account.agreements": "kraken/tariffs.py and the poller (AU agreements)",
    "account.marketSupplyAgreements": "kraken/tariffs.py and the poller (DE agreements)",
    "account.ledgers": "the poller (the ledger that identifies the account)",
    "agreement": "kraken/tariffs.py (DE agreement)",
    "product": "kraken/tariffs.py (AU product)",
    "viewer": "parse.viewer_accounts",
    "controllerEuids": "parse.account_info",
    "heatPumpControllersAtLocation": "parse.controllers_at_location",
    "greenerNightsForecast": "parse.greener_nights (a date, not a period)",
    "savingSessions.account": "parse.events (joined events, campaign)",
    "rateLimitInfo.pointsAllowanceRateLimit.ttl": "parse.rate_limit (seconds since the epoch)",
}

#: Selected (the live clients select them, or a reading's shape needs them) but not read.
UNREAD = {
    "devices.status.stateOfCharge.timestamp",
    "devices.status.activePower.timestamp",
    "batteryDevice.deviceStatus.readings.activePowerInKw.timestamp",
    "batteryDevice.deviceStatus.readings.energyInKwh.timestamp",
    "batteryDevice.deviceStatus.readings.socPercentage.timestamp",
    "heatPumpControllerStatus.sensors.connectivity.retrievedAt",
    "heatPumpControllerStatus.sensors.telemetry.retrievedAt",
    "heatPumpControllerStatus.sensors.telemetry.voltage",
    "heatPumpLivePerformance.heatOutput.unit",
    "heatPumpLivePerformance.outdoorTemperature.unit",
    "heatPumpLivePerformance.powerInput.unit",
    "savingSessions.events.devEvent",
    "savingSessions.events.targetRegion.regionId",
}

POLLED = [
    n
    for n in documents.names()
    if n.startswith("Poll")
    or n in {"Viewer", "FlexPlannedDispatches", "RateLimit", "RateLimitInfo"}
    or n.startswith("HeatPumpControllers")
]


def selected(source: str) -> set[str]:
    """The response paths of every leaf field ``source`` selects (fragments flattened)."""
    ast = parse(source)
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    out: set[str] = set()

    def walk(selection_set: SelectionSetNode, prefix: str) -> None:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                key = prefix + (sel.alias or sel.name).value
                if sel.selection_set is None:
                    out.add(key)
                else:
                    walk(sel.selection_set, key + ".")
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set, prefix)
            elif isinstance(sel, FragmentSpreadNode):
                walk(fragments[sel.name.value].selection_set, prefix)

    for definition in ast.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, "")
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType, tuple) or get_args(annotation):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _paths(alias: Any, name: str) -> list[str]:
    if isinstance(alias, AliasChoices):
        return [c if isinstance(c, str) else ".".join(map(str, c.path)) for c in alias.choices]
    if isinstance(alias, AliasPath):
        return [".".join(map(str, alias.path))]
    return [alias if isinstance(alias, str) else name]


#: Validators that read a ``{value ...}`` reading's ``value``.
READERS = (snapshot._reading, snapshot._reading_text)


def reads(model: type[BaseModel]) -> set[str]:
    """The response paths ``model`` reads: its fields' wire paths (nested models followed; a ``Reading``
    reads ``.value``) and what its validators read (``WIRE_READS``)."""
    out = set(getattr(model, "WIRE_READS", ()))
    for name, field in model.model_fields.items():
        inner = _model_in(field.annotation)
        reading = any(getattr(m, "func", None) in READERS for m in field.metadata)
        for path in _paths(field.validation_alias, name):
            if inner is not None:
                out |= {f"{path}.{r}" for r in reads(inner)}
            else:
                out |= {path, f"{path}.value"} if reading else {path}
    return out


def _owner(path: str) -> tuple[str, type[BaseModel]] | None:
    for root in sorted(ROOTS, key=len, reverse=True):
        if path.startswith(root + "."):
            return root, ROOTS[root]
    return None


def test_every_selected_field_is_read_by_a_model_or_accounted_for() -> None:
    assert POLLED
    unread: set[str] = set()
    for name in POLLED:
        for path in selected(documents.load(name).source):
            if path in UNREAD or any(path == p or path.startswith(p + ".") for p in ELSEWHERE):
                continue
            owner = _owner(path)
            if owner is None or path[len(owner[0]) + 1 :] not in reads(owner[1]):
                unread.add(f"{name}: {path}")
    assert sorted(unread) == []


def test_the_unread_list_names_only_fields_that_are_selected() -> None:
    every = set().union(*(selected(documents.load(n).source) for n in POLLED))
    assert sorted(UNREAD - every) == []


def test_a_response_validates_straight_into_the_model() -> None:
    raw = {
        "__typename": "SmartFlexInverter",
        "id": 7,
        "deviceType": None,
        "status": {"current": "LIVE", "stateOfCharge": {"value": "55.5", "timestamp": "x"}},
        "telemetry": {"battery": {"powerInKw": -1.2}, "grid": None},
        "alerts": [{"message": "ok"}, "garbage", None, {"publishedAt": "not a date"}],
    }
    dev = Device.model_validate(raw)
    assert dev.id == "7" and dev.kind.value == "inverter" and dev.device_type.value == "unknown"
    assert str(dev.soc_percent) == "55.5" and dev.heat_pump is None
    assert dev.telemetry is not None and str(dev.telemetry.battery_power_kw) == "-1.2"
    assert [a.message for a in dev.alerts] == ["ok"]  # malformed alerts skipped, not fatal
    assert Device(id="x", kind=snapshot.DeviceKind.VEHICLE).kind == snapshot.DeviceKind.VEHICLE
    hp = Device.model_validate(
        {
            "__typename": "SmartFlexHeatPump",
            "id": "hp",
            "status": {
                "mode": {"value": "HEATING"},
                "currentTemperatures": [{"zone": "Z1", "value": "19.5"}],
            },
        }
    )
    # a stored snapshot (field names, JSON) reads back the same
    assert Device.model_validate_json(hp.model_dump_json()) == hp
    assert hp.heat_pump is not None and hp.heat_pump.mode == "HEATING"


#: Model fields that are not read from the response but set by the parser (``Model.field``).
DERIVED = {
    "AccountInfo.agreement_ids",
    "AccountInfo.heat_pump_controller_euids",
    "AccountInfo.product_codes",
    "MeterPoint.meter_serials",  # MeterPoint.WIRE_READS: from meters
    "MeterPoint.esme_device_id",
    "MeterPoint.payment_mode",
    "MeterPoint.smart_device_ids",
    "Device.legacy",
    "Dispatch.device_id",
    "HeatPumpController.euid",
    "SavingSession.joined",
    "RateLimitData.resets_at",
}
#: Wire paths read for a shape no polling document selects today (other clients' selections, other
#: deployments), relative to the model.
FALLBACKS = {
    "Device": {"vehicleVariant.batterySize", "chargePointVariant.powerInKw"},  # OEG's devices query
    "Dispatch": {"deltaKwh"},
    "RateLimitData": {"isBlocked"},  # the docs-only rateLimit has none
}


def _wire_reads(model: type[BaseModel]) -> set[str]:
    derived = {f.split(".")[1] for f in DERIVED if f.split(".")[0] == model.__name__}
    out = set(getattr(model, "WIRE_READS", ()))
    for name, field in model.model_fields.items():
        if name in derived:
            continue
        inner = _model_in(field.annotation)
        for path in _paths(field.validation_alias, name):
            out |= {f"{path}.{r}" for r in _wire_reads(inner)} if inner is not None else {path}
    return out


def test_every_wire_path_of_a_model_is_selected_by_a_document() -> None:
    """The other way round: a model does not read a field no document selects (a renamed field, a typo)."""
    every = set().union(*(selected(documents.load(n).source) for n in POLLED))
    missing: set[str] = set()
    for model in set(ROOTS.values()):
        roots = [r for r, m in ROOTS.items() if m is model]
        for path in _wire_reads(model) - FALLBACKS.get(model.__name__, set()):
            if not any(
                f"{r}.{path}" in every or any(e.startswith(f"{r}.{path}.") for e in every) for r in roots
            ):
                missing.add(f"{model.__name__}: {path}")
    assert sorted(missing) == []


def _fields(model: type[BaseModel], prefix: str) -> list[tuple[str, str, bool]]:
    """(response path, ``Model.field``, required) of every field ``model`` reads at ``prefix``, nested
    models followed."""
    out: list[tuple[str, str, bool]] = []
    for name, field in model.model_fields.items():
        inner = _model_in(field.annotation)
        for path in _paths(field.validation_alias, name):
            out.append((prefix + path, f"{model.__name__}.{name}", field.is_required()))
            if inner is not None:
                out += _fields(inner, f"{prefix}{path}.")
    return out


def test_what_an_optional_fragment_adds_is_optional_in_the_models() -> None:
    """The poller drops an optional fragment the server rejects; the response then lacks what it selected,
    so a model field it alone supplies, in an object the response still has, must have a default."""
    required: set[str] = set()
    for name in POLLED:
        doc = documents.load(name)
        full = selected(doc.source)
        for part in doc.optional:
            try:
                without = selected(documents.load(name, frozenset({part.name})).source)
            except documents.DocumentError:
                continue  # nothing left to send without it
            for root, model in ROOTS.items():
                for path, field, is_required in _fields(model, root + "."):
                    if not is_required:
                        continue

                    def present(paths: set[str], p: str = path) -> bool:
                        return any(e == p or e.startswith(p + ".") for e in paths)

                    parent = path.rsplit(".", 1)[0]  # an object the response still has
                    if present(full) and not present(without) and present(without, parent):
                        required.add(f"{name} without {part.name}: {field} ({path})")
    assert sorted(required) == []


def test_no_field_is_named_like_a_response_key_it_does_not_read() -> None:
    """Models are built by field name too (``populate_by_name``): a field named like a key of the response
    it does not read (``mode`` reading ``mode.value``) would take that key's raw value instead."""
    every = set().union(*(selected(documents.load(n).source) for n in POLLED))
    clashes: set[str] = set()

    def check(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            paths = _paths(field.validation_alias, name)
            own = f"{prefix}{name}"
            if name not in paths and any(e == own or e.startswith(own + ".") for e in every):
                clashes.add(f"{model.__name__}.{name} ({own})")
            inner = _model_in(field.annotation)
            if inner is not None:
                for path in paths:
                    check(inner, f"{prefix}{path}.")

    for root, model in ROOTS.items():
        check(model, root + ".")
    assert sorted(clashes) == []
