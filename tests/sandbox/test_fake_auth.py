"""Token minting, auth errors and the points budget, over real sockets."""

from __future__ import annotations

import base64
import json
from typing import Any

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.sandbox.conftest import ACCOUNT, API_KEY, T0, Gql, error_codes

VIEWER = "query Viewer { viewer { id accounts { number } } }"


def _claims(token: str) -> dict[str, Any]:
    header, body, signature = token.split(".")
    assert signature
    out = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert isinstance(out, dict)
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["typ"] == "JWT"
    return out


def test_mint_by_api_key_email_and_refresh_token(gql: Gql, fk: FakeKraken) -> None:
    by_key = gql.mint({"APIKey": API_KEY})
    claims = _claims(by_key["token"])
    assert by_key["payload"] == claims
    assert claims["iat"] == int(T0.timestamp())
    assert claims["exp"] == int(T0.timestamp()) + 3600
    assert {"sub", "tokenUse"} <= claims.keys()
    assert by_key["refreshExpiresIn"] == int(T0.timestamp()) + 7 * 24 * 3600  # absolute unix time
    by_password = gql.mint({"email": "user@example.com", "password": "correct horse"})
    by_refresh = gql.mint({"refreshToken": by_key["refreshToken"]})
    assert len({by_key["token"], by_password["token"], by_refresh["token"]}) == 3
    assert fk.stats.mints == {"api_key": 1, "email_password": 1, "refresh_token": 1}
    assert fk.stats.requests["ObtainKrakenToken"] == 3
    assert all(r.variables and "<redacted>" in json.dumps(r.variables) for r in fk.requests)
    out = gql(VIEWER, token=by_refresh["token"])
    assert out["data"]["viewer"]["accounts"] == [{"number": ACCOUNT}]


def test_bad_credentials_give_kt_ct_1135(gql: Gql, fk: FakeKraken) -> None:
    for credential in ({"APIKey": "sk_wrong"}, {"email": "user@example.com", "password": "nope"}, {}):
        out = gql(
            "mutation M($i: ObtainJSONWebTokenInput!) { obtainKrakenToken(input: $i) { token } }",
            {"i": credential},
        )
        assert out["data"] == {"obtainKrakenToken": None}
        (err,) = out["errors"]
        assert err["path"] == ["obtainKrakenToken"]
        assert err["message"] == "Invalid data."
        assert err["extensions"]["errorCode"] == "KT-CT-1135"
        assert err["extensions"]["errorType"] == "VALIDATION"
    assert sum(fk.stats.mints.values()) == 0


def test_missing_unknown_and_expired_tokens(gql: Gql, fk: FakeKraken, clock: ManualClock) -> None:
    out = gql(VIEWER, auth=False)
    assert out["data"] == {"viewer": None} and error_codes(out) == ["KT-CT-1112"]
    assert error_codes(gql(VIEWER, token="not.a.token")) == ["KT-CT-1111"]
    token = gql.login()
    assert "errors" not in gql(VIEWER)
    clock.advance(3599)
    assert "errors" not in gql(VIEWER)
    clock.advance(1)
    out = gql(VIEWER)
    assert error_codes(out) == ["KT-CT-1120"]
    assert out["errors"][0]["message"] == "The Kraken Token has expired."
    assert fk.requests[-1].had_auth and token not in repr(fk.requests)


def test_krakenversion_needs_no_auth(gql: Gql) -> None:
    out = gql("query KrakenVersion { krakenVersion { number SHA } }", auth=False)
    assert out["data"]["krakenVersion"]["number"]


def test_expire_tokens_then_refresh(authed: Gql, fk: FakeKraken) -> None:
    refresh = authed.mint({"APIKey": API_KEY})
    authed.token = refresh["token"]
    fk.expire_tokens()
    assert error_codes(authed(VIEWER)) == ["KT-CT-1120"]
    authed.token = authed.mint({"refreshToken": refresh["refreshToken"]})["token"]
    assert "errors" not in authed(VIEWER)


def test_expired_or_revoked_refresh_token_is_1135(gql: Gql, fk: FakeKraken, clock: ManualClock) -> None:
    minted = gql.mint({"APIKey": API_KEY})
    clock.advance(7 * 24 * 3600)
    query = "mutation M($i: ObtainJSONWebTokenInput!) { obtainKrakenToken(input: $i) { token } }"
    out = gql(query, {"i": {"refreshToken": minted["refreshToken"]}})
    assert error_codes(out) == ["KT-CT-1135"]
    assert "refresh token" in out["errors"][0]["extensions"]["errorDescription"]
    fresh = gql.mint({"APIKey": API_KEY})
    fk.revoke_refresh_tokens()
    assert error_codes(gql(query, {"i": {"refreshToken": fresh["refreshToken"]}})) == ["KT-CT-1135"]
    assert error_codes(gql(query, {"i": {"refreshToken": "never-issued"}})) == ["KT-CT-1135"]


def test_points_budget_and_rate_limit_reports(clock: ManualClock) -> None:
    import httpx

    with FakeKraken(clock=clock, points_per_hour=3) as fk, httpx.Client() as client:
        g = Gql(fk, client)
        g.login()  # minting is free
        out = g("query RateLimit { rateLimit { limit remainingPoints usedPoints } }")
        assert out["data"]["rateLimit"] == {"limit": 3, "remainingPoints": 3, "usedPoints": 0}
        two = g('query { viewer { id } plannedDispatches(accountNumber: "A-SANDBOX1") { start } }')
        assert "errors" not in two
        out = g("query { viewer { id } krakenVersion { number } rateLimit { remainingPoints usedPoints } }")
        assert out["data"]["rateLimit"] == {"remainingPoints": 0, "usedPoints": 3}
        out = g("query { viewer { id } krakenVersion { number } }")
        assert out["data"]["viewer"] is None and out["data"]["krakenVersion"]
        assert error_codes(out) == ["KT-CT-1199"]
        assert out["errors"][0]["message"] == "Too many requests."
        clock.advance(3600)
        g.login()  # the token expired with the window
        assert "errors" not in g("query { viewer { id } }")


def test_rate_limit_info_reports_ttl(clock: ManualClock) -> None:
    import httpx

    with FakeKraken(clock=clock, deployment="octopus-de", points_per_hour=2) as fk, httpx.Client() as client:
        g = Gql(fk, client)
        g.login()
        q = (
            "query { rateLimitInfo { pointsAllowanceRateLimit"
            " { limit remainingPoints usedPoints ttl isBlocked } } }"
        )
        g("query { viewer { id } }")
        clock.advance(60)
        g("query { viewer { id } }")
        info = g(q)["data"]["rateLimitInfo"]["pointsAllowanceRateLimit"]
        assert info == {
            "limit": 2,
            "remainingPoints": 0,
            "usedPoints": 2,
            "ttl": int(T0.timestamp()) + 3600,
            "isBlocked": True,
        }
        assert error_codes(g("query { viewer { id } }")) == ["KT-CT-1199"]
        # rateLimit is a GB field: on DE it fails validation
        out = g("query { rateLimit { limit } }")
        assert "data" not in out and "rateLimit" in out["errors"][0]["message"]
