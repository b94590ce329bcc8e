from __future__ import annotations

import pytest

from kraken2mqtt.kraken import documents


def test_every_packaged_document_loads_with_matching_name() -> None:
    names = documents.names()
    assert "ObtainKrakenToken" in names
    for name in names:
        doc = documents.load(name)
        assert doc.name == name
        assert doc.root_fields


def test_root_fields_ignore_nesting_aliases_and_fragments() -> None:
    src = """
    # comment { with braces }
    query Q($a: String!, $b: ID) {
      first: account(accountNumber: $a) { number properties { id } }
      plannedDispatches(accountNumber: $a) { start ... on X { y } }
      devices(accountNumber: $a, propertyId: $b) @include(if: true) { id }
    }"""
    assert documents.root_fields(src) == {"account", "plannedDispatches", "devices"}


def test_auth_requirement() -> None:
    assert not documents.load("ObtainKrakenToken").requires_auth
    assert documents.load("Viewer").requires_auth


@pytest.mark.parametrize("src", ["{ viewer { id } }", "query A { a } query B { b }", "query A { }"])
def test_malformed_documents_rejected(src: str) -> None:
    with pytest.raises(documents.DocumentError):
        documents.parse(src)


def test_unknown_document() -> None:
    with pytest.raises(documents.DocumentError):
        documents.load("NoSuchThing")
