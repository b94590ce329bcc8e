"""Our Kraken SDL, cut down per deployment, and document validation against it.

The SDL (``schema.graphql``) is the union over deployments. :func:`build_schema` keeps only the root fields
:data:`kraken2mqtt.kraken.capabilities.ROOT_FIELDS` lists for a deployment (plus any ``extra_fields``),
applies that deployment's ``<Root>For<Deployment>`` field variants, and drops those variant types. So a
document that selects an undocumented root field fails validation on that deployment.

The docs lag the live API (``../shared/kraken-live-api.md``): the deployment registry holds the live root
fields the daemon uses (and which of them a deployment serves only at a further endpoint);
:data:`LIVE_ROOT_FIELDS` adds the other root fields the live clients use on a deployment, :data:`LIVE_ABSENT`
removes those its live schema no longer has, and :data:`ENDPOINTS` names the extra endpoint schemas (GB's
backend endpoint), each built on a deployment.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    ObjectTypeDefinitionNode,
    OperationDefinitionNode,
    SelectionNode,
    build_ast_schema,
    parse,
    validate,
)

from kraken2mqtt.kraken.capabilities import DEPLOYMENTS, ENDPOINT_ONLY, ROOT_FIELDS
from kraken2mqtt.kraken.deployments import DEPLOYMENTS as REGISTRY
from kraken2mqtt.kraken.documents import header

_HAOE = "HAOE BottlecapDave/HomeAssistant-OctopusEnergy@4c25c726 api_client/__init__.py"
_PB = "PB springfall2008/batpred@aaba48fc apps/predbat/octopus.py"
_OEG = "OEG thecem/octopus_germany@213bdb0d graphql_schema.json (DE introspection)"

#: Extra endpoint schemas, one per further endpoint of a deployment (``octopus-gb-backend``): name -> the
#: deployment whose root fields it starts from.
ENDPOINTS: Mapping[str, str] = {
    f"{name}-{endpoint}": name for name, dep in REGISTRY.items() for endpoint in dep.extra_endpoints
}

#: Root fields the live clients send that the daemon does not use, per deployment or endpoint -> where
#: that was seen (the daemon's own live fields are in the deployment registry, kraken/deployments.py:
#: flexPlannedDispatches, rateLimitInfo, and what GB serves only at its backend endpoint).
LIVE_ROOT_FIELDS: Mapping[str, Mapping[str, str]] = {
    "octopus-gb": {
        "octoplusAccountInfo": f"000; {_HAOE} account_query",
        "electricVehicles": f"000; {_HAOE} intelligent_device_query; {_PB} intelligent_catalogue_query",
        "chargePointVariants": f"000; {_HAOE} intelligent_device_query; {_PB} intelligent_catalogue_query",
        "loyaltyPointLedgers": f"000; {_HAOE} octoplus_points_query",
        "customerFlexibilityCampaignEvents": f"{_PB} flexibility_campaign_query",
        "electricityMeterReadings": "000",
        "gasMeterReadings": "000",
        "redeemLoyaltyPointsForAccountCredit": f"004; {_HAOE} redeem_octoplus_points_account_credit_mutation",
    },
    "octopus-de": {
        "electricityMeterReadings": "001; OEG ELECTRICITY_METER_READINGS_QUERY",
        "gasMeterReadings": "001; OEG GAS_METER_READINGS_QUERY",
        "loyaltyPointLedgers": "001",
        # not electricVehicles: 001 lists it, the DE introspection (OEG) does not
    },
    "octopus-gb-backend": {
        "heatPumpLifetimePerformance": f"{_HAOE} heat_pump_status_and_config_query",
        "joinSavingSessionsEvent": f"{_HAOE} and {_PB} octoplus_saving_session_join_mutation",
        "wheelOfFortuneSpinsAllowed": f"{_HAOE} wheel_of_fortune_query (HAOE issue 1795)",
        "spinWheelOfFortune": f"{_HAOE} wheel_of_fortune_mutation",
        "heatPumpSetZoneMode": f"{_HAOE} heat_pump_set_zone_mode_*_mutation, heat_pump_boost_zone_mutation",
        "heatPumpSetHushMode": f"{_HAOE} heat_pump_set_hush_mode_mutation",
        "heatPumpUpdateFlowTemperatureConfiguration": f"{_HAOE} heat_pump_update_flow_temp_config_mutation",
    },
}

#: Root fields a deployment documents but its live schema no longer has -> the evidence, besides those the
#: daemon itself leaves out (``Deployment.live_absent``: DE's legacy KrakenFlex device API). The DE
#: introspection lists no deprecated field: a field it lacks is deprecated or removed there, and the fake
#: rejects it (tests/sandbox/test_schema.py checks every DE root field of the fake against the dump).
LIVE_ABSENT: Mapping[str, Mapping[str, str]] = {
    "octopus-de": {
        "plannedDispatches": f"{_OEG}; removed 2026-01-16 (kraken-live-api.md)",
        **REGISTRY["octopus-de"].live_absent,
    },
}

#: Every schema :func:`build_schema` can build: the deployments, then the extra endpoints.
SCHEMAS: tuple[str, ...] = (*DEPLOYMENTS, *ENDPOINTS)


def live_root_fields(name: str) -> frozenset[str]:
    """Root fields of deployment or endpoint ``name`` on the live API: documented + live - absent."""
    base = ENDPOINTS.get(name, name)
    if base not in ROOT_FIELDS:
        raise ValueError(f"unknown deployment {name!r}")
    fields = set(ROOT_FIELDS[base]) | set(LIVE_ROOT_FIELDS.get(base, {}))
    if name != base:
        fields |= set(LIVE_ROOT_FIELDS.get(name, {}))
    else:  # the main endpoint lacks what the deployment serves only at a further endpoint
        for only in ENDPOINT_ONLY.get(base, {}).values():
            fields -= only
    return frozenset(fields - set(LIVE_ABSENT.get(base, {})) - set(LIVE_ABSENT.get(name, {})))


def schema_name(deployment: str, endpoint: str | None) -> str:
    """The schema a document goes to: ``deployment``'s main one, or that of its named ``endpoint``
    (``("octopus-gb", "backend")`` -> ``"octopus-gb-backend"``)."""
    return deployment if endpoint in (None, "main") else f"{deployment}-{endpoint}"


ROOTS = ("Query", "Mutation")
_PLACEHOLDER = "_noDocumentedRootFields"


@cache
def sdl_text() -> str:
    """The raw SDL shipped in this package."""
    return resources.files("kraken2mqtt.sandbox").joinpath("schema.graphql").read_text(encoding="utf-8")


@cache
def _sdl_document() -> DocumentNode:
    return parse(sdl_text())


def variant_type_name(root: str, deployment: str) -> str:
    """``("Query", "octopus-de")`` -> ``"QueryForOctopusDe"``."""
    return root + "For" + "".join(part.capitalize() for part in deployment.split("-"))


def _is_variant(name: str) -> bool:
    return any(name == variant_type_name(r, d) for r in ROOTS for d in DEPLOYMENTS)


def build_schema(deployment: str, extra_fields: Iterable[str] = ()) -> GraphQLSchema:
    """A fresh executable schema for ``deployment`` (or an endpoint of :data:`ENDPOINTS`; resolvers can be
    attached to it)."""
    allowed = live_root_fields(deployment) | frozenset(extra_fields)
    variant_of = ENDPOINTS.get(deployment, deployment)
    doc = _sdl_document()
    by_name = {d.name.value: d for d in doc.definitions if isinstance(d, ObjectTypeDefinitionNode)}
    definitions = []
    for definition in doc.definitions:
        if isinstance(definition, ObjectTypeDefinitionNode):
            name = definition.name.value
            if _is_variant(name):
                continue
            if name in ROOTS:
                variant = by_name.get(variant_type_name(name, variant_of))
                overrides = {f.name.value: f for f in (variant.fields if variant else ())}
                fields = [
                    overrides.get(f.name.value, f) for f in definition.fields if f.name.value in allowed
                ]
                if not fields:
                    # A root type needs a field; JP documents no queries at all.
                    placeholder = parse(f"type X {{ {_PLACEHOLDER}: Boolean }}").definitions[0]
                    assert isinstance(placeholder, ObjectTypeDefinitionNode)
                    fields = list(placeholder.fields)
                definition = copy.copy(definition)
                definition.fields = tuple(fields)
        definitions.append(definition)
    return build_ast_schema(DocumentNode(definitions=tuple(definitions)), assume_valid_sdl=False)


@cache
def deployment_schema(deployment: str) -> GraphQLSchema:
    """Cached :func:`build_schema` without extras, for validation only (don't attach resolvers)."""
    return build_schema(deployment)


def validate_document(source: str, deployment: str) -> list[str]:
    """Error messages from parsing and validating ``source`` against ``deployment``'s schema ([] = valid)."""
    try:
        document = parse(source)
    except GraphQLError as exc:
        return [exc.message]
    return [e.message for e in validate(deployment_schema(deployment), document)]


def root_fields_of(source: str) -> frozenset[str]:
    """Root field names selected by the operations in ``source`` (top-level fields only, including those of
    the fragments and inline fragments they spread at the top level)."""
    document = parse(source)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()

    def collect(selections: Iterable[SelectionNode], seen: frozenset[str]) -> None:
        for s in selections:
            if isinstance(s, FieldNode):
                names.add(s.name.value)
            elif isinstance(s, InlineFragmentNode):
                collect(s.selection_set.selections, seen)
            elif isinstance(s, FragmentSpreadNode) and s.name.value in fragments and s.name.value not in seen:
                collect(fragments[s.name.value].selection_set.selections, seen | {s.name.value})

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            collect(definition.selection_set.selections, frozenset())
    names.discard("__typename")
    return frozenset(names)


def declared_deployments(source: str) -> tuple[str, ...] | None:
    """Deployments named on a leading ``# deployments: a b`` comment line, or None when absent."""
    names = header(source, "deployments")
    return None if names is None else tuple(names.split())


def target_deployments(source: str) -> tuple[str, ...]:
    """The deployments a document is meant for: its declaration, else all that document its root fields."""
    declared = declared_deployments(source)
    if declared is not None:
        return declared
    roots = root_fields_of(source)
    return tuple(d for d in DEPLOYMENTS if roots <= live_root_fields(d))
