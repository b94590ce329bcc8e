from __future__ import annotations

import pytest

from kraken2mqtt.kraken import errors as e


@pytest.mark.parametrize(
    ("code", "error_type", "cls"),
    [
        ("KT-CT-1111", "AUTHORIZATION", e.AuthError),
        ("KT-CT-1112", None, e.AuthError),
        ("KT-CT-1120", None, e.TokenExpiredError),
        ("KT-CT-1130", None, e.AuthError),
        ("KT-CT-1134", "VALIDATION", e.CredentialsError),
        ("KT-CT-1135", "VALIDATION", e.CredentialsError),
        ("KT-CT-1199", None, e.RateLimitedError),
        ("KT-CT-1113", None, e.DisabledFieldError),
        ("KT-CT-4321", None, e.KrakenValidationError),
        ("KT-CT-9999", "VALIDATION", e.KrakenValidationError),
        ("KT-CT-4301", None, e.NotFoundError),
        ("KT-CT-4357", None, e.CommandRefusedError),
        (None, None, e.KrakenValidationError),
        ("KT-XX-0000", None, e.KrakenError),
    ],
)
def test_code_mapping(code: str | None, error_type: str | None, cls: type[e.KrakenError]) -> None:
    ext = {"errorCode": code, "errorType": error_type} if code else {}
    err = e.error_from_graphql({"message": "m", "extensions": ext}, operation="Op")
    assert type(err) is cls
    assert err.code == code


def test_refusal_reasons_and_str() -> None:
    err = e.error_from_graphql(
        {
            "message": "Unable to trigger boost charge.",
            "extensions": {"errorCode": "KT-CT-4357", "boostChargeRefusalReasons": ["BC_DEVICE_SUSPENDED"]},
        },
        operation="UpdateBoostCharge",
    )
    assert isinstance(err, e.CommandRefusedError)
    assert err.reasons == ["BC_DEVICE_SUSPENDED"]
    assert str(err) == "KT-CT-4357: Unable to trigger boost charge. in UpdateBoostCharge"


def test_precedence_auth_first() -> None:
    errs = [e.DisabledFieldError("x"), e.RateLimitedError("y"), e.TokenExpiredError("z")]
    assert isinstance(e.most_important(errs), e.TokenExpiredError)


def test_malformed_error_entries_still_map() -> None:
    err = e.error_from_graphql({"message": 5, "extensions": "nope"})
    assert isinstance(err, e.KrakenValidationError)
    assert err.message == "Kraken error"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("KT-CT-1124", e.TokenExpiredError),  # "Signature of the JWT has expired."
        ("OE-0002", e.RateLimitedError),  # GB backend: too many requests
        ("OE-0103", e.AuthError),  # GB backend: not authenticated
        ("KT-CT-1188", e.QueryTooComplexError),
        ("KT-CT-1189", e.QueryTooComplexError),
        ("KT-CT-1201", e.MissingFirstError),
    ],
)
def test_live_codes(code: str, cls: type[e.KrakenError]) -> None:
    err = e.error_from_graphql({"message": "m", "extensions": {"errorCode": code}}, operation="Op")
    assert type(err) is cls


def test_path_and_named_connection() -> None:
    err = e.error_from_graphql(
        {"message": "Paginate.", "path": ["account", "ledgers"], "extensions": {"errorCode": "KT-CT-1201"}}
    )
    assert isinstance(err, e.MissingFirstError)
    assert err.path == ("account", "ledgers") and err.root_field == "account"
    assert err.field == "account.ledgers" and "account.ledgers was queried without `first:`" in str(err)
    nodes = e.error_from_graphql({"message": "x", "extensions": {"errorCode": "KT-CT-1189"}})
    assert isinstance(nodes, e.QueryTooComplexError) and nodes.kind == "nodes" and nodes.path is None
    denied = e.field_authorization(
        e.error_from_graphql({"message": "no", "path": ["a"], "extensions": {"errorType": "AUTHORIZATION"}})
    )
    assert isinstance(denied, e.FieldAuthorizationError) and not isinstance(denied, e.AuthError)
    assert denied.path == ("a",)
