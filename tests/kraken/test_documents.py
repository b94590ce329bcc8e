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
    assert {"flexPlannedDispatches", "completedDispatches", "devices", "rateLimitInfo"} <= doc.root_fields
    assert doc.source.count("fragment FlexPlannedDispatches on Query") == 1
    assert doc.source.count("fragment SmartFlexDevices on Query") == 1
    assert doc.source.startswith("# deployments: octopus-gb")
    legacy = documents.load("PollLegacyDevicesGb")
    assert legacy.root_fields == {"batteryDevice"}


def test_optional_fragments_are_known_and_can_be_left_out() -> None:
    doc = documents.load("PollLiveGb")
    assert [p.name for p in doc.optional] == [
        "EvReadings",
        "EvSpecs",
        "DeviceAlerts",
        "InverterTelemetry",
        "HeatPumpDevices",
        "RateLimitInfo",
    ]
    slim = documents.load("PollLiveGb", frozenset({"EvReadings", "RateLimitInfo"}))
    assert "activePower" not in slim.source and "fragment EvReadings" not in slim.source
    assert "rateLimitInfo" not in slim.root_fields and "flexPlannedDispatches" in slim.root_fields
    assert documents.parse(slim.source).root_fields == slim.root_fields


def test_leaving_out_every_use_of_a_variable_drops_its_definition() -> None:
    doc = documents.load("PollHeatPumpGb", frozenset({"HeatPumpControllerStatus"}))
    assert "$euid" not in doc.source and "query PollHeatPumpGb($accountNumber: String!)" in doc.source
    with pytest.raises(documents.DocumentError):  # nothing left to ask
        documents.load("PollHeatPumpStatusGb", frozenset({"LegacyHeatPumpStatus"}))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # graphql-core's and the live server's validation messages
        ("Cannot query field 'stateOfCharge' on type 'SmartFlexVehicleStatus'.", {"EvReadings"}),
        ("Cannot query field 'make' on type 'SmartFlexInverter'. Did you mean?", {"InverterTelemetry"}),
        ("Unknown type 'SmartFlexHeatPump'.", {"HeatPumpDevices"}),
        ("Unknown type 'SmartFlexHeatPumpStatus'.", {"HeatPumpDevices"}),
        ("Cannot query field 'rateLimitInfo' on type 'Query'.", {"RateLimitInfo"}),
        ("Cannot query field 'flexPlannedDispatches' on type 'Query'.", set()),  # critical
        ("Cannot query field 'currentState' on type 'SmartFlexDeviceStatusInterface'.", set()),
        ("Cannot query field 'nothingWeSend' on type 'Query'.", None),
    ],
)
def test_a_rejection_names_what_to_drop(message: str, expected: set[str] | None) -> None:
    found = documents.rejection(message)
    assert found is not None
    culprits = documents.culprits(documents.load("PollLiveGb"), found)
    assert (None if culprits is None else set(culprits)) == expected


def test_messages_without_a_field_name_are_not_rejections() -> None:
    assert documents.rejection("Variable '$x' is never used.") is None
    found = documents.rejection("Unknown argument 'first' on field 'AccountType.marketSupplyAgreements'.")
    assert found is not None and found.label == "AccountType.marketSupplyAgreements"


def test_no_document_sends_a_field_past_its_removal_date() -> None:
    """The removed fields of issue 10 (by name; sdl's NoDeprecatedCustomRule test covers the rest)."""
    gone = {
        "registeredKrakenflexDevice",
        "vehicleChargingPreferences",
        "energyMixData",
        "possibleErrors",
        "vehicleVariant",
        "chargePointVariant",
        "unitRatePerKwh",
        "monthlyStandingCharge",
    }
    for name in documents.names():
        doc = documents.load(name)
        tokens = set(documents._tokens(doc.source))
        assert not tokens & gone, name
        assert not {t for t in tokens if t.startswith("octoHeatPump")}, name  # removal 2026-04-08
        if "octopus-de" in doc.source.splitlines()[0]:
            assert not tokens & {"plannedDispatches", "SmartFlexHeatPump", "SmartFlexHeatPumpStatus"}, name
    assert "id" not in documents._tokens(documents.load("AccountLedgers").source)  # LedgerType.id: 2025-06-25
    assert documents.load("PollAccountGb").root_fields == {"account"}


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
