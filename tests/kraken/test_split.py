"""Splitting a document into its root selections: every part of every packaged document is valid against
the SDL of each deployment that documents its fields (graphql-core checks, as the fake server would)."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from kraken2mqtt.kraken import capabilities, documents, split
from kraken2mqtt.kraken.client import declared_endpoint
from kraken2mqtt.sandbox.schema import build_schema, schema_name

DEPLOYMENTS = ("octopus-gb", "octopus-de", "octopus-jp", "red-energy-au")


@pytest.mark.parametrize("name", documents.names())
def test_every_part_is_a_valid_document(name: str) -> None:
    doc = documents.load(name)
    parts = split.split(doc)
    assert parts
    if len(parts) == 1:
        assert parts[0].document is doc
        return
    covered: set[str] = set()
    for part in parts:
        covered |= part.document.root_fields
        assert part.document.name == f"{doc.name}_{part.key}"
    assert covered == doc.root_fields
    for deployment in DEPLOYMENTS:
        if not all(capabilities.has(deployment, f) for f in doc.root_fields):
            continue
        schema = build_schema(schema_name(deployment, declared_endpoint(doc)), frozenset())
        for part in parts:
            errors = validate(schema, parse(part.document.source))
            assert not errors, (deployment, part.key, [e.message for e in errors])


def test_aliases_variables_and_fragments() -> None:
    doc = documents.parse(
        "# a comment { with braces }\n"
        "query Q($a: String!, $b: Int = 3, $unused: ID) {\n"
        "  first: account(accountNumber: $a) { number ...Bits }\n"
        "  second: viewer @include(if: true) { id }\n"
        "  ...Roots\n"
        "}\n"
        "fragment Bits on AccountType { ledgers(first: $b) { edges { node { id } } } }\n"
        "fragment Roots on Query { krakenVersion { number } }\n"
    )
    parts = {p.key: p for p in split.split(doc)}
    assert list(parts) == ["first", "second", "Roots"]
    first = parts["first"].document.source
    assert first.startswith("query Q_first($a: String!, $b: Int = 3) {") and "fragment Bits" in first
    assert "fragment Roots" not in first and "$unused" not in first
    assert parts["second"].document.source.startswith("query Q_second {")
    assert not parts["Roots"].is_field and parts["Roots"].document.root_fields == {"krakenVersion"}
    assert split.response_keys(doc) == {"first", "second", "krakenVersion"}
