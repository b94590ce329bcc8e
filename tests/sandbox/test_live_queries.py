"""The live clients' production documents (tests/sandbox/live_queries/, collected with
tools/collect_live_queries.py from HAOE, Predbat and Octopus Germany at pinned commits) validate against the
SDL of the endpoint each is sent to. The share accepted is printed at the end of the run (conftest)."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import httpx
import pytest
from graphql import parse

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.live_rules import removed_fields_in
from kraken2mqtt.sandbox.schema import SCHEMAS, declared_deployments, deployment_schema, validate_document
from tests.sandbox.conftest import Gql

LIVE = Path(__file__).parent / "live_queries"
#: "Today" for the removal-date figure (fixed, so the suite is deterministic).
AS_OF = date(2026, 12, 2)
FILES = sorted(LIVE.rglob("*.graphql"))

#: Documents the SDL rejects on purpose, and why (the live server would reject them too).
KNOWN_REJECTED = {
    "oeg/PROPERTY_SCHEMA_QUERY": "OEG's schema probe (explore_property_schema): selects address "
    "{ line1 ... } (a String in 002 and the DE schema), meterReadings and smartMeter (in no docs or "
    "introspection)",
}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@cache
def results() -> dict[str, list[str]]:
    """Document id -> validation errors on its endpoint ([] = accepted)."""
    out = {}
    for path in FILES:
        source = path.read_text(encoding="utf-8")
        (endpoint,) = declared_deployments(source) or ("?",)
        out[_id(path)] = (
            validate_document(source, endpoint) if endpoint in SCHEMAS else [f"endpoint {endpoint}"]
        )
    return out


def acceptance() -> tuple[int, int]:
    r = results()
    return sum(1 for errors in r.values() if not errors), len(r)


def test_the_fixture_holds_the_three_clients_with_their_sources() -> None:
    by_client: dict[str, int] = {}
    for path in FILES:
        head = path.read_text(encoding="utf-8").splitlines()[:2]
        assert head[0].startswith("# deployments: ") and head[1].startswith("# source: "), path
        assert " @ " in head[1] and len(head[1].split(" @ ")[1].split()[0]) == 40, path
        by_client[path.parent.name] = by_client.get(path.parent.name, 0) + 1
    assert by_client == {"haoe": 26, "pb": 10, "oeg": 15}


def test_at_least_nine_in_ten_live_queries_are_accepted() -> None:
    accepted, total = acceptance()
    assert accepted / total >= 0.9, {k: v for k, v in results().items() if v}


def test_the_rejected_ones_are_the_known_ones() -> None:
    assert {k for k, v in results().items() if v} == set(KNOWN_REJECTED)


@pytest.mark.parametrize("path", FILES, ids=[_id(p) for p in FILES])
def test_each_live_query(path: Path) -> None:
    errors = results()[_id(path)]
    if _id(path) in KNOWN_REJECTED:
        assert errors, f"{_id(path)} is accepted now: drop it from KNOWN_REJECTED"
    else:
        assert errors == []


def removed_as_of(today: date = AS_OF) -> dict[str, list[str]]:
    """Documents that select a field past its docs removal date (the fake rejects them) -> those errors."""
    out = {}
    for path in FILES:
        source = path.read_text(encoding="utf-8")
        (endpoint,) = declared_deployments(source) or ("?",)
        if _id(path) in KNOWN_REJECTED or endpoint not in SCHEMAS:
            continue
        errors = removed_fields_in(deployment_schema(endpoint), parse(source), today)
        if errors:
            out[_id(path)] = [e.message for e in errors]
    return out


#: Live clients still send these past the docs' removal date ("on or after" is a lower bound): the fake,
#: which removes a field on that date, rejects them. Keep the list short and explicit.
PAST_REMOVAL = {"haoe/account_query", "oeg/COMPREHENSIVE_QUERY", "pb/intelligent_settings_query"}


def test_the_removal_rule_still_accepts_nine_in_ten() -> None:
    removed = removed_as_of()
    assert set(removed) == PAST_REMOVAL
    accepted, total = acceptance()
    assert (accepted - len(removed)) / total >= 0.9


SERVED = [
    p
    for p in FILES
    if declared_deployments(p.read_text(encoding="utf-8")) in (("octopus-gb",), ("octopus-de",))
]


@pytest.mark.parametrize("path", SERVED, ids=[_id(p) for p in SERVED])
def test_the_fake_server_answers_live_queries(path: Path, clock: ManualClock) -> None:
    """Through the real fake server (its clock at 2026-01-15): data, not a validation failure."""
    source = path.read_text(encoding="utf-8")
    (deployment,) = declared_deployments(source) or ("?",)
    if _id(path) in KNOWN_REJECTED or _id(path) in removed_as_of(clock.now().date()):
        pytest.skip("rejected on purpose")
    with FakeKraken(clock=clock, deployment=deployment) as fk, httpx.Client(timeout=5.0) as client:
        g = Gql(fk, client)
        g.login()
        out = g.post(source).json()
    assert "data" in out, out.get("errors")


def _paths(source: str) -> set[tuple[str, ...]]:
    """Every field path (``heatPumpLivePerformance.outdoorTemperature.value``) a document selects, fragments
    and inline fragments flattened, aliases ignored."""
    from graphql import (
        FieldNode,
        FragmentDefinitionNode,
        FragmentSpreadNode,
        InlineFragmentNode,
        OperationDefinitionNode,
        SelectionSetNode,
    )

    doc = parse(source)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    out: set[tuple[str, ...]] = set()

    def walk(sel: SelectionSetNode | None, prefix: tuple[str, ...]) -> None:
        for s in sel.selections if sel else ():
            if isinstance(s, FieldNode):
                out.add((*prefix, s.name.value))
                walk(s.selection_set, (*prefix, s.name.value))
            elif isinstance(s, InlineFragmentNode):
                walk(s.selection_set, prefix)
            elif isinstance(s, FragmentSpreadNode):
                walk(fragments[s.name.value].selection_set, prefix)

    for d in doc.definitions:
        if isinstance(d, OperationDefinitionNode):
            walk(d.selection_set, ())
    return out


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("HeatPumpControllersAtLocationGb", "haoe/heat_pump_ids_query"),
        ("PollHeatPumpLiveGb", "haoe/heat_pump_status_and_config_query"),
        ("PollEventsBackendGb", "haoe/octoplus_saving_session_query"),
        ("PollEventsBackendGb", "pb/octoplus_saving_session_query"),
        ("PollEventsBackendGb", "haoe/greener_night_forecast_query"),
    ],
)
def test_our_backend_documents_select_what_the_live_clients_select(ours: str, theirs: str) -> None:
    """Each document the daemon sends to GB's backend endpoint selects only field paths a live client
    sends there (its production query, kept in live_queries/ with source and commit), on the same schema."""
    from kraken2mqtt.kraken import documents
    from kraken2mqtt.kraken.client import declared_endpoint

    doc = documents.load(ours)
    assert declared_endpoint(doc) == "backend"
    live = (LIVE / f"{theirs}.graphql").read_text(encoding="utf-8")
    assert declared_deployments(live) == ("octopus-gb-backend",)
    mine, their = _paths(doc.source), _paths(live)
    shared_roots = {p[0] for p in their}
    assert {p for p in mine if p[0] in shared_roots} <= their
    assert shared_roots & {p[0] for p in mine}
