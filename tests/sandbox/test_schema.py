"""The SDL, the per-deployment schemas, the capability table and document validation."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from graphql import (
    FieldNode,
    GraphQLObjectType,
    InlineFragmentNode,
    NoDeprecatedCustomRule,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    parse,
    validate,
    visit,
)

from kraken2mqtt.kraken import capabilities, documents
from kraken2mqtt.kraken.capabilities import DEPLOYMENTS, ROOT_FIELD_SOURCES, ROOT_FIELDS, UNDOCUMENTED_FIELDS
from kraken2mqtt.kraken.client import declared_endpoint
from kraken2mqtt.sandbox.live_rules import removal_date
from kraken2mqtt.sandbox.schema import (
    ENDPOINTS,
    LIVE_ABSENT,
    LIVE_ROOT_FIELDS,
    SCHEMAS,
    build_schema,
    declared_deployments,
    deployment_schema,
    live_root_fields,
    root_fields_of,
    schema_name,
    sdl_text,
    target_deployments,
    validate_document,
)

REPO = Path(__file__).resolve().parents[2]
OWN_DOCS = Path(__file__).parent / "documents"


def _roots(deployment: str, extra: tuple[str, ...] = ()) -> set[str]:
    schema = build_schema(deployment, extra)
    names: set[str] = set()
    for root in (schema.query_type, schema.mutation_type):
        if isinstance(root, GraphQLObjectType):
            names |= set(root.fields)
    return names - {"_noDocumentedRootFields"}


def test_sdl_parses_and_every_deployment_schema_is_valid() -> None:
    parse(sdl_text())
    for d in SCHEMAS:
        assert validate_document("query { __typename }", d) == []


def test_sdl_root_fields_match_the_capability_sources() -> None:
    live = {f for fields in LIVE_ROOT_FIELDS.values() for f in fields}
    union = build_schema("octopus-gb", ROOT_FIELD_SOURCES.keys() | UNDOCUMENTED_FIELDS | live)
    assert union.query_type is not None and union.mutation_type is not None
    sdl_roots = set(union.query_type.fields) | set(union.mutation_type.fields)
    assert sdl_roots == set(ROOT_FIELD_SOURCES) | UNDOCUMENTED_FIELDS | live
    assert not UNDOCUMENTED_FIELDS & set(ROOT_FIELD_SOURCES)


@pytest.mark.parametrize("deployment", SCHEMAS)
def test_deployment_schema_has_its_documented_and_live_root_fields(deployment: str) -> None:
    base = ENDPOINTS.get(deployment, deployment)
    live = set(LIVE_ROOT_FIELDS.get(base, {})) | set(LIVE_ROOT_FIELDS.get(deployment, {}))
    absent = set(LIVE_ABSENT.get(base, {}))
    if deployment == base:  # the main endpoint lacks what the deployment serves only at another one
        for only in capabilities.ENDPOINT_ONLY.get(base, {}).values():
            absent |= only
    assert _roots(deployment) == (set(ROOT_FIELDS[base]) | live) - absent == live_root_fields(deployment)
    assert not (UNDOCUMENTED_FIELDS - live) & _roots(deployment)
    assert capabilities.has(base, "obtainKrakenToken")


def test_live_root_fields_per_deployment() -> None:
    """flexPlannedDispatches on GB and DE; plannedDispatches deprecated, and gone from DE; GB rate limits
    through rateLimitInfo; the GB backend endpoint serves the heat-pump and greener-nights fields."""
    gb, de, backend = (live_root_fields(d) for d in ("octopus-gb", "octopus-de", "octopus-gb-backend"))
    assert "flexPlannedDispatches" in gb and "flexPlannedDispatches" in de
    assert "plannedDispatches" in gb and "plannedDispatches" not in de
    assert "rateLimitInfo" in gb
    backend_only = {
        "heatPumpControllersAtLocation",
        "heatPumpLivePerformance",
        "heatPumpLifetimePerformance",
        "greenerNightsForecast",
    }
    assert backend_only <= backend and not backend_only & gb and gb <= backend
    query = build_schema("octopus-gb").query_type
    assert query is not None
    reason = query.fields["plannedDispatches"].deprecation_reason
    assert reason is not None and reason.startswith("removal on or after 2026-01-16;")


def test_capability_table_judgement_calls() -> None:
    gb, de, au, jp = (ROOT_FIELDS[d] for d in DEPLOYMENTS)
    assert "devices" in gb and "devices" in de and "devices" not in au and "devices" not in jp
    assert "rateLimit" in gb and "rateLimit" not in de and "rateLimitInfo" in de and "rateLimitInfo" in au
    assert {
        "greennessForecast",
        "smartMeterTelemetry",
        "octoHeatPumpLivePerformance",
        "applicableRates",
    } <= gb
    assert not {"greennessForecast", "heatPumpStatus", "applicableRates"} & de
    assert {"agreement", "product", "properties"} <= au
    assert "updateBoostCharge" in gb and "updateBoostCharge" in de and "updateBoostCharge" in jp
    assert "updateBoostCharge" not in au
    assert jp - {m for m, src in ROOT_FIELD_SOURCES.items() if "004" in src or "004*" in src} == set()
    assert not capabilities.has("nowhere", "viewer")


def test_extra_fields_enable_undocumented_root_fields() -> None:
    doc = 'query { heatPumpLivePerformance(accountNumber: "A", euid: "e") { readAt } }'
    (error,) = validate_document(doc, "octopus-gb")
    assert error.startswith("Cannot query field 'heatPumpLivePerformance' on type 'Query'.")
    assert "heatPumpLivePerformance" in _roots("octopus-gb", ("heatPumpLivePerformance",))
    assert validate_document(doc, "octopus-gb-backend") == []


def test_flex_planned_dispatches_in_the_live_shape() -> None:
    doc = 'query { flexPlannedDispatches(deviceId: "x") { start end type energyAddedKwh } }'
    assert validate_document(doc, "octopus-gb") == []
    assert validate_document(doc, "octopus-de") == []
    t = build_schema("octopus-gb").get_type("SmartFlexDispatchType")
    assert t is not None and set(getattr(t, "values", {})) == {"SMART", "BOOST", "TEST"}


def test_undocumented_field_fails_on_that_deployment_only() -> None:
    doc = 'query { devices(accountNumber: "A-1") { id } }'
    assert validate_document(doc, "octopus-gb") == []
    assert validate_document(doc, "red-energy-au") != []
    assert validate_document(doc, "octopus-jp") != []


def test_misspelt_field_fails_validation() -> None:
    errors = validate_document('query { plannedDispatches(accountNumber: "A") { start ennd } }', "octopus-gb")
    assert any("ennd" in e for e in errors)
    assert validate_document("query { plannedDispatchez { start } }", "octopus-gb") != []
    assert validate_document("query {", "octopus-gb") != []  # syntax error -> message, not exception


def test_deployment_variants_of_root_fields() -> None:
    de_only = 'query { devices(accountNumber: "A", integrationDeviceId: "x") { id } }'
    assert validate_document(de_only, "octopus-de") == []
    assert validate_document(de_only, "octopus-gb") != []
    au_agreement = 'query { agreement(id: "1") { ... on CommonAgreementType { product { code } } } }'
    assert validate_document(au_agreement, "red-energy-au") == []
    assert validate_document('query { agreement(id: "1") { unitRatePerKwh } }', "octopus-de") == []
    assert validate_document('query { agreement(id: "1") { unitRatePerKwh } }', "red-energy-au") != []
    de = build_schema("octopus-de")
    assert de.query_type is not None
    assert de.query_type.fields["registeredKrakenflexDevice"].deprecation_reason
    assert build_schema("octopus-gb").get_type("QueryForOctopusDe") is None


def test_deprecated_dispatch_fields_are_marked() -> None:
    t = build_schema("octopus-gb").get_type("UpsideDispatchType")
    assert isinstance(t, GraphQLObjectType)
    assert {n for n, f in t.fields.items() if f.deprecation_reason} == {"startDt", "endDt", "deltaKwh"}


def test_document_helpers() -> None:
    src = "# deployments: octopus-gb octopus-de\nquery A { viewer { id } rateLimit { limit } }"
    assert declared_deployments(src) == ("octopus-gb", "octopus-de")
    assert root_fields_of(src) == {"viewer", "rateLimit"}
    assert declared_deployments("query { viewer { id } }") is None
    assert target_deployments("query { viewer { id } rateLimit { limit } }") == ("octopus-gb",)
    assert target_deployments("query { krakenVersion { number } }") == (
        "octopus-gb",
        "octopus-de",
        "red-energy-au",
    )


def _documents() -> list[tuple[str, str]]:
    """(id, source) of every document: the client's as it sends them (shared fragments appended), and the
    test suite's own."""
    client = [(f"client:{name}", documents.load(name).source) for name in documents.names()]
    own = [
        (str(p.relative_to(REPO)), p.read_text(encoding="utf-8")) for p in sorted(OWN_DOCS.rglob("*.graphql"))
    ]
    return client + own


def _document_params() -> list[object]:
    return [pytest.param(n, s, id=n) for n, s in _documents()]


@pytest.mark.parametrize(("name", "source"), _document_params())
def test_every_document_validates_on_its_deployments(name: str, source: str) -> None:
    targets = target_deployments(source)
    assert targets, f"{name}: no deployment documents all of {sorted(root_fields_of(source))}"
    endpoint = declared_endpoint(documents.parse(source)) if name.startswith("client:") else None
    for deployment in targets:
        assert deployment in DEPLOYMENTS, f"{name}: unknown deployment {deployment}"
        # A document that names its endpoint (``# endpoint: backend``) is validated on that one's schema.
        schema = schema_name(deployment, endpoint)
        assert schema in SCHEMAS, f"{name}: {deployment} has no {endpoint} endpoint schema"
        assert validate_document(source, schema) == [], f"{name} on {schema}"


@pytest.mark.parametrize("name", documents.names())
def test_the_clients_root_field_scanner_agrees_with_graphql_core(name: str) -> None:
    """The daemon finds root fields in the document index (it never imports graphql-core); on every
    document it sends, that must match graphql-core's parse, fragments included."""
    doc = documents.load(name)
    assert doc.root_fields == root_fields_of(doc.source)


# --- the DE live schema ---------------------------------------------------------------------------------

#: Each object and interface type of the DE introspection dump with its field names (the dump carries names
#: and descriptions, not field types or arguments: enough to tell which fields the live API has).
DE_DUMP = json.loads(
    gzip.decompress((Path(__file__).parent / "fixtures" / "de_introspection_fields.json.gz").read_bytes())
)


def _live_de_field_errors(source: str) -> list[str]:
    """Every field ``source`` selects that the same-named type of the DE dump does not have (types resolved
    with our DE schema, whose type names are the live ones)."""
    fields: dict[str, list[str]] = DE_DUMP["fields"]
    roots = {"Query": DE_DUMP["queryType"], "Mutation": DE_DUMP["mutationType"]}
    info = TypeInfo(deployment_schema("octopus-de"))
    found: list[str] = []

    class Check(Visitor):
        def enter_field(self, node: FieldNode, *_: object) -> None:
            parent = get_named_type(info.get_parent_type())
            name = node.name.value
            if parent is None or name.startswith("__"):
                return
            live = roots.get(parent.name, parent.name)
            if live not in fields:
                found.append(f"type {parent.name} (of {name}) is not in the DE schema")
            elif name not in fields[live]:
                found.append(f"{parent.name}.{name} is not in the DE schema")

        def enter_inline_fragment(self, node: InlineFragmentNode, *_: object) -> None:
            if node.type_condition is not None and node.type_condition.name.value not in fields:
                found.append(f"type {node.type_condition.name.value} is not in the DE schema")

    visit(parse(source), TypeInfoVisitor(info, Check()))
    return sorted(set(found))


def test_every_document_sent_to_germany_matches_its_live_schema() -> None:
    """Issue 10, 'Done when': each field and type of each document for octopus-de (queries and mutations,
    fragments appended) is in the DE introspection dump (thecem/octopus_germany@213bdb0d)."""
    sent = [n for n in documents.names() if "octopus-de" in target_deployments(documents.load(n).source)]
    assert {"PollAccountDe", "PollAgreementDe", "PollDevicesDe", "PollLiveDe", "UpdateBoostCharge"} <= set(
        sent
    )
    found = {n: e for n in sent if (e := _live_de_field_errors(documents.load(n).source))}
    assert found == {}


def test_the_live_de_check_sees_what_the_dump_lacks() -> None:
    """What issue 10 found in the DE documents of the time, each caught by the check."""
    assert _live_de_field_errors("query Q($a: String!) { devices(accountNumber: $a) { id } }") == []
    assert _live_de_field_errors(
        "mutation M($input: AccountNumberInput) { triggerBoostCharge(input: $input) { __typename } }"
    ) == ["Mutation.triggerBoostCharge is not in the DE schema"]
    assert _live_de_field_errors("query Q($id: ID!) { agreement(id: $id) { unitRatePerKwh validFrom } }") == [
        "Agreement.unitRatePerKwh is not in the DE schema"
    ]
    assert _live_de_field_errors(
        "query Q($a: String!) { devices(accountNumber: $a) { id"
        " ... on SmartFlexVehicle { vehicleVariant { model } } ... on SmartFlexHeatPump { id } } }"
    ) == [
        "SmartFlexVehicle.vehicleVariant is not in the DE schema",
        "type SmartFlexHeatPump (of id) is not in the DE schema",
        "type SmartFlexHeatPump is not in the DE schema",
    ]


def test_the_fakes_de_root_fields_are_in_the_live_schema() -> None:
    """The fake rejects on DE what the live DE API lacks: every root field of its DE schema is in the dump
    (fields past their docs removal date stay in the SDL, rejected by date: sandbox/live_rules.py)."""
    schema = deployment_schema("octopus-de")
    fields: dict[str, list[str]] = DE_DUMP["fields"]
    dated = set(capabilities.REMOVED_FIELDS)
    for root, live in (
        (schema.query_type, DE_DUMP["queryType"]),
        (schema.mutation_type, DE_DUMP["mutationType"]),
    ):
        assert root is not None
        assert set(root.fields) - dated - set(fields[live]) == set(), root.name


# --- graphql-core's NoDeprecatedCustomRule over every document --------------------------------------------


def test_no_document_selects_a_field_past_its_removal_date_by_no_deprecated_custom_rule() -> None:
    """graphql-core's own NoDeprecatedCustomRule over every document the daemon sends (fragments appended),
    on the schema of each deployment and endpoint it goes to. Each deprecated field it finds must carry a
    removal date still in the future, or (a fallback marked ``# until: D``) the document is never sent from
    D on: today a document selects no field past its removal date. The deprecated fields still sent are
    printed with their dates."""
    today = datetime.now(UTC).date()
    past, pending = [], []
    for name in documents.names():
        doc = documents.load(name)
        if documents.retired(doc, today):
            continue  # past its `# until:` date: never sent (test_live_rules: until == the removal date)
        endpoint = declared_endpoint(doc)
        for deployment in target_deployments(doc.source):
            schema = deployment_schema(schema_name(deployment, endpoint))
            for error in validate(schema, parse(doc.source), [NoDeprecatedCustomRule]):
                removal = removal_date(error.message.split(" is deprecated. ", 1)[-1])
                if removal is None or removal <= today:
                    past.append(f"{name} on {deployment}: {error.message[:160]}")
                else:
                    pending.append(f"{name} on {deployment}: {error.message[:120]}")
    print("\n".join(["deprecated fields still sent:", *pending]) if pending else "no deprecated field sent")
    assert past == []
