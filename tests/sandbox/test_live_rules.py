"""Fields past their removal date fail as on the live server, in the rule and through the fake server; no
document the daemon sends selects one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from graphql import build_schema as build_sdl
from graphql import parse

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken import documents
from kraken2mqtt.sandbox.live_rules import removal_date, removed_fields_in, validate_live
from kraken2mqtt.sandbox.schema import deployment_schema, target_deployments
from tests.sandbox.conftest import ACCOUNT, Gql

SDL = """
type Query {
  old: Int @deprecated(reason: "removal on or after 2026-01-16; use 'new'")
  undated: Int @deprecated(reason: "Use something else.")
  new: Int
  thing: Thing
}
type Thing { gone: Int @deprecated(reason: "removal on or after 2024-11-01; use 'here'") here: Int }
"""


def _messages(query: str, today: date) -> list[str]:
    return [e.message for e in validate_live(build_sdl(SDL), parse(query), today)]


def test_removal_dates() -> None:
    assert removal_date("removal on or after 2025-06-25; Please use 'ledgerNumber'") == date(2025, 6, 25)
    assert removal_date("Use `start` instead.") is None
    assert removal_date(None) is None


def test_a_field_fails_on_its_removal_date_not_before() -> None:
    assert _messages("{ old }", date(2026, 1, 15)) == []
    assert _messages("{ old }", date(2026, 1, 16)) == ["Cannot query field 'old' on type 'Query'."]
    assert _messages("{ undated new }", date(2099, 1, 1)) == []
    assert _messages("{ thing { gone here } }", date(2026, 1, 1)) == [
        "Cannot query field 'gone' on type 'Thing'."
    ]


def test_the_standard_rules_still_run() -> None:
    assert _messages("{ nope }", date(2026, 1, 1)) == ["Cannot query field 'nope' on type 'Query'."]


def test_the_fake_server_rejects_removed_fields_like_the_live_one(authed: Gql) -> None:
    """Live (HAOE issue 972): ``{"errors":[{"message":"Cannot query field 'countReset' on type
    'HeatPumpConfiguration'.","locations":[...]}]}`` and no data."""
    out = authed(f'query {{\n  account(accountNumber: "{ACCOUNT}") {{ ledgers {{ id number }} }}\n}}')
    assert "data" not in out
    assert out["errors"] == [
        {"message": "Cannot query field 'id' on type 'LedgerType'.", "locations": [{"line": 2, "column": 52}]}
    ]
    for query, field, type_name in (
        (
            f'{{ registeredKrakenflexDevice(accountNumber: "{ACCOUNT}") {{ provider }} }}',
            "registeredKrakenflexDevice",
            "Query",
        ),
        (
            f'{{ vehicleChargingPreferences(accountNumber: "{ACCOUNT}") {{ weekdayTargetSoc }} }}',
            "vehicleChargingPreferences",
            "Query",
        ),
        (
            f'{{ plannedDispatches(accountNumber: "{ACCOUNT}") {{ start startDt }} }}',
            "startDt",
            "UpsideDispatchType",
        ),
    ):
        out = authed(query)
        assert "data" not in out
        assert [e["message"] for e in out["errors"]] == [
            f"Cannot query field '{field}' on type '{type_name}'."
        ]


def test_the_fake_server_takes_today_from_its_clock(authed: Gql, clock: ManualClock) -> None:
    query = f'{{ plannedDispatches(accountNumber: "{ACCOUNT}") {{ start }} }}'
    assert "data" in authed(query)  # 2026-01-15
    clock.advance(timedelta(days=1).total_seconds())
    authed.login()
    assert authed(query)["errors"][0]["message"] == "Cannot query field 'plannedDispatches' on type 'Query'."


def _sent() -> list[tuple[str, str]]:
    return [(name, documents.load(name).source) for name in documents.names()]


def test_no_document_the_daemon_sends_selects_a_removed_field() -> None:
    """Every document as sent (fragments appended), on each of its deployments, as of the real today."""
    today = datetime.now(UTC).date()
    found = []
    for name, source in _sent():
        doc = documents.load(name)
        # A fallback marked ``# until: D`` (PollLivePlannedGb) is never sent from D on (the client refuses
        # it, tests/kraken/test_poller_dispatch_sources.py); before D it selects no removed field.
        as_of = today if doc.until is None else min(today, doc.until - timedelta(days=1))
        if doc.until is not None:
            assert removal_date_of_fields(doc) == doc.until, name
        for deployment in target_deployments(source):
            for error in removed_fields_in(deployment_schema(deployment), parse(source), as_of):
                found.append(f"{name} on {deployment}: {error.message}")
    assert found == []


def removal_date_of_fields(doc: documents.Document) -> date | None:
    """The earliest removal date of the fields ``doc`` selects, on its deployments' schemas."""
    dates = []
    for deployment in target_deployments(doc.source):
        for error in removed_fields_in(deployment_schema(deployment), parse(doc.source), date.max):
            field = error.message.split("'")[1]
            type_name = error.message.split("'")[3]
            gql_type = deployment_schema(deployment).get_type(type_name)
            fdef = getattr(gql_type, "fields", {}).get(field)
            when = removal_date(fdef.deprecation_reason if fdef else None)
            if when is not None:
                dates.append(when)
    return min(dates) if dates else None
