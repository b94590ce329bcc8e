from __future__ import annotations

from collections.abc import Callable

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


def test_root_fields_follow_fragments_on_the_root_type_only() -> None:
    src = """
    query Q($a: String!) { ...Both devices(accountNumber: $a) { ...DeviceBits } }
    fragment Both on Query { ...Dispatches rateLimit { limit } }
    fragment Dispatches on Query { plannedDispatches(accountNumber: $a) { start } }
    fragment DeviceBits on SmartFlexDeviceInterface { id name }
    """
    assert documents.root_fields(src) == {"devices", "rateLimit", "plannedDispatches"}


def test_shared_fragments_are_appended_once() -> None:
    doc = documents.load("PollLiveGb")
    assert {"plannedDispatches", "completedDispatches", "devices", "rateLimit"} <= doc.root_fields
    assert doc.source.count("fragment Dispatches on Query") == 1
    assert doc.source.count("fragment SmartFlexDevices on Query") == 1
    assert doc.source.startswith("# deployments: octopus-gb")
    legacy = documents.load("PollLegacyDevicesDe")
    assert legacy.root_fields == {"registeredKrakenflexDevice", "vehicleChargingPreferences", "batteryDevice"}


def test_a_missing_shared_fragment_is_a_package_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "_read", _fake_read({"Broken.graphql": "query Broken { ...Nowhere }"}))
    with pytest.raises(documents.DocumentError, match="no shared fragment named 'Nowhere'"):
        documents.load.__wrapped__("Broken")
    bad = {"Odd.graphql": "query Odd { ...Two }", "fragments/Two.graphql": "fragment Other on Query { a }"}
    monkeypatch.setattr(documents, "_read", _fake_read(bad))
    with pytest.raises(documents.DocumentError, match="must define exactly the fragment 'Two'"):
        documents.load.__wrapped__("Odd")


def _fake_read(files: dict[str, str]) -> Callable[[str, str], str]:
    def read(relative: str, missing: str) -> str:
        if relative not in files:
            raise documents.DocumentError(missing)
        return files[relative]

    return read
