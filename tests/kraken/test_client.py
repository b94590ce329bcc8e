"""The Kraken client against the fake Kraken server, over real sockets."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken import documents
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import (
    BACKEND,
    MAIN,
    UndocumentedFieldError,
    UnknownEndpointError,
    declared_endpoint,
)
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CredentialsError,
    DisabledFieldError,
    EdgeBlockedError,
    FieldAuthorizationError,
    KrakenError,
    KrakenValidationError,
    MissingFirstError,
    ProtocolError,
    QueryTooComplexError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from kraken2mqtt.logs import configure_logging
from kraken2mqtt.sandbox.fake_kraken import BACKEND_PATH, FakeKraken
from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore
from tests.kraken.conftest import API_KEY, MakeClient

pytestmark = pytest.mark.asyncio


async def accounts(client: object) -> list[str]:
    from kraken2mqtt.kraken.client import KrakenClient

    assert isinstance(client, KrakenClient)
    data = (await client.execute("Viewer")).data
    return [a["number"] for a in data["viewer"]["accounts"]]


# -- authentication -----------------------------------------------------------------------------------


async def test_mint_with_api_key_once_and_reuse(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client()
    for _ in range(3):
        assert await accounts(client) == [fake.account.number]
    assert fake.stats.mints == {"api_key": 1}
    assert all(r.had_auth for r in fake.requests if r.operation_name == "Viewer")


async def test_mint_with_email_and_password(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(
        credentials=Credentials(email="user@example.com", password=SecretStr("correct horse"))
    )
    assert await accounts(client)
    assert fake.stats.mints == {"email_password": 1}


async def test_refresh_before_expiry(fake: FakeKraken, make_client: MakeClient, clock: ManualClock) -> None:
    client = make_client()
    await accounts(client)
    clock.advance(3600 - 200)  # inside the 5-minute refresh margin, token still valid
    await accounts(client)
    assert fake.stats.mints == {"api_key": 1, "refresh_token": 1}


async def test_refresh_token_expired_falls_back_to_api_key(
    clock: ManualClock, make_client: MakeClient, tmp_path: Path
) -> None:
    with FakeKraken(clock=clock, api_key=API_KEY, refresh_lifetime_s=1800) as fk:
        client = make_client(endpoint=fk.url)
        await accounts(client)
        clock.advance(3600)
        await accounts(client)
        assert fk.stats.mints == {"api_key": 2}


async def test_refused_refresh_falls_back_to_api_key(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client()
    await accounts(client)
    fake.revoke_refresh_tokens()
    clock.advance(3600 - 100)
    await accounts(client)
    assert fake.stats.mints == {"api_key": 2}


async def test_persisted_token_reused_after_restart(
    fake: FakeKraken, make_client: MakeClient, tmp_path: Path
) -> None:
    state = tmp_path / "restart"
    store = StateStore(state)
    first = make_client(token_store=SqliteTokenStore(store))
    await accounts(first)
    await first.aclose()
    store.close()
    db = state / "kraken2mqtt.db"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert API_KEY.encode() not in db.read_bytes()
    store = StateStore(state)
    second = make_client(token_store=SqliteTokenStore(store))
    await accounts(second)
    store.close()
    assert fake.stats.mints == {"api_key": 1}


async def test_persisted_token_of_another_key_is_not_used(
    fake: FakeKraken, make_client: MakeClient, tmp_path: Path
) -> None:
    store = StateStore(tmp_path / "other")
    await accounts(make_client(token_store=SqliteTokenStore(store)))
    other = make_client(
        token_store=SqliteTokenStore(store),
        credentials=Credentials(email="user@example.com", password=SecretStr("correct horse")),
    )
    await accounts(other)
    store.close()
    assert fake.stats.mints == {"api_key": 1, "email_password": 1}


async def test_expired_token_mid_flight_refreshes_and_retries(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    client = make_client()
    await accounts(client)
    fake.expire_tokens()
    assert await accounts(client)
    assert fake.stats.mints == {"api_key": 1, "refresh_token": 1}


async def test_wrong_api_key_backs_off_without_minting_storm(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client(credentials=Credentials(api_key=SecretStr("sk_test_wrong_key_123")))
    with pytest.raises(CredentialsError) as info:
        await accounts(client)
    assert "sk_test_wrong_key_123" not in str(info.value)
    attempts = fake.stats.requests["ObtainKrakenToken"]
    with pytest.raises(AuthBackoffError):
        await accounts(client)
    assert fake.stats.requests["ObtainKrakenToken"] == attempts  # nothing sent while backing off


async def test_persistent_auth_failure_over_a_day_mints_logarithmically(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("expired_token", times=100_000, operation="Viewer")
    failures = 0
    for _ in range(24 * 60):  # a poll attempt every minute for a day
        try:
            await accounts(client)
        except AuthError:
            failures += 1
        clock.advance(60)
    token_requests = fake.stats.requests["ObtainKrakenToken"]
    assert failures == 24 * 60
    # Backoff doubles from 30 s up to an hour, jittered within [half, full]: after a ramp of about seven
    # tries, at most two attempts an hour (each one token request), whatever the jitter draws.
    assert token_requests <= 7 + 24 * 2, token_requests


async def test_auth_recovers_after_backoff(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("expired_token", times=2, operation="Viewer")
    with pytest.raises(AuthError):
        await accounts(client)
    with pytest.raises(AuthBackoffError):
        await accounts(client)
    clock.advance(3600)
    assert await accounts(client)


# -- error classes and retries ------------------------------------------------------------------------


async def test_rate_limited_blocks_the_budget(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("rate_limited")
    with pytest.raises(RateLimitedError) as info:
        await accounts(client)
    assert info.value.code == "KT-CT-1199"
    assert client.budget.wait_time() > 0


async def test_http_429_with_retry_after(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("http_429", retry_after=120)
    with pytest.raises(RateLimitedError) as info:
        await accounts(client)
    assert info.value.retry_after == pytest.approx(120)
    assert client.budget.wait_time() == pytest.approx(120, abs=1)


async def test_transient_server_errors_are_retried(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("http_502", times=2, operation="Viewer")
    assert await accounts(client)
    fake.faults.inject("http_500", times=5, operation="Viewer")
    with pytest.raises(ServerError):
        await accounts(client)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("reset", TransportError), ("invalid_json", ProtocolError), ("wrong_shape", ProtocolError)],
)
async def test_bad_responses(
    fake: FakeKraken, make_client: MakeClient, kind: str, error: type[Exception]
) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject(kind, times=1, operation="Viewer")
    assert await accounts(client)  # retried
    fake.faults.inject(kind, times=3, operation="Viewer")
    with pytest.raises(error):
        await accounts(client)


async def test_timeout(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(timeout=0.2, attempts=1)
    await accounts(client)
    fake.faults.inject("timeout", delay=0.6, operation="Viewer")
    with pytest.raises(TransportError, match="timed out"):
        await accounts(client)


async def test_brownout_whole_and_partial(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("brownout", operation="Viewer")
    with pytest.raises(DisabledFieldError):
        await accounts(client)
    doc = documents.parse(
        "query Two { viewer { accounts { number } } rateLimit { limit remainingPoints usedPoints } }"
    )
    fake.faults.inject("brownout", field="rateLimit")
    result = await client.execute(doc, allow_partial=True)
    assert result.data["viewer"]["accounts"]
    failed = result.failed("rateLimit")
    assert isinstance(failed, DisabledFieldError) and failed.code == "KT-CT-1113"


async def test_misspelt_field_is_a_validation_error_not_retried(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    client = make_client()
    await accounts(client)
    before = fake.stats.requests["Bad"]
    with pytest.raises(KrakenValidationError):
        await client.execute(documents.parse("query Bad { viewer { acounts { number } } }"))
    assert fake.stats.requests["Bad"] == before + 1


async def test_undocumented_field_never_sent(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(deployment="red-energy-au")
    with pytest.raises(UndocumentedFieldError):
        await client.execute(
            documents.parse("query D($a: String!) { devices(accountNumber: $a) { id } }"), {"a": "A-1"}
        )
    assert fake.stats.requests.get("D", 0) == 0


async def test_rate_limit_feeds_budget(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(budget=RequestBudget(ManualClock(), points_per_hour=3600, burst=100))
    allowance = await client.rate_limit()
    assert allowance is not None and allowance.limit > 0
    assert client.budget.server == allowance


async def test_gb_reads_its_rate_limit_from_rate_limit_info(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    """Issue 10 point 6: GB rate limits come from rateLimitInfo (the docs' rateLimit is sent by no live
    client)."""
    client = make_client(deployment="octopus-gb")
    allowance = await client.rate_limit()
    assert allowance is not None and 0 <= allowance.remaining <= allowance.limit
    assert fake.stats.requests["RateLimitInfo"] == 1 and "RateLimit" not in fake.stats.requests


async def test_rate_limit_info_on_germany(clock: ManualClock, make_client: MakeClient) -> None:
    with FakeKraken(clock=clock, api_key=API_KEY, deployment="octopus-de") as fk:
        client = make_client(endpoint=fk.url, deployment="octopus-de")
        allowance = await client.rate_limit()
        assert allowance is not None and allowance.remaining <= allowance.limit
        assert fk.stats.requests["RateLimitInfo"] == 1


async def test_no_secret_in_logs_across_failures(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    client = make_client()
    await accounts(client)
    token = client.auth._tokens.token if client.auth and client.auth._tokens else ""
    fake.faults.inject("http_500", operation="Viewer")
    fake.expire_tokens()
    await accounts(client)
    structlog.get_logger("t").info("tokens", token=token, headers={"Authorization": token})
    text = stream.getvalue()
    assert token and token not in text
    assert API_KEY not in text


# -- the live API's error shapes (../shared/kraken-live-api.md, "Rate limits and errors seen in the wild") --

COMBO = documents.parse(
    "query Combo($accountNumber: String!) {\n"
    "  viewer { id }\n"
    "  devices(accountNumber: $accountNumber) { id status { current } preferenceSetting { mode } }\n"
    "  acct: account(accountNumber: $accountNumber) { number }\n"
    "}\n"
)


def _ops(fake: FakeKraken) -> list[str | None]:
    return [r.operation_name for r in fake.requests]


async def test_kt_ct_1124_expired_jwt_renews_and_retries(fake: FakeKraken, make_client: MakeClient) -> None:
    # "Signature of the JWT has expired." (KT-CT-1124, errorType APPLICATION, HTTP 200): every live client
    # renews on it (e.g. evcc, HAOE).
    client = make_client()
    await accounts(client)
    fake.faults.inject("jwt_expired", operation="Viewer")
    assert await accounts(client) == [fake.account.number]
    assert fake.stats.mints["api_key"] + fake.stats.mints["refresh_token"] == 2
    assert _ops(fake)[-3:] == ["Viewer", "ObtainKrakenToken", "Viewer"]


async def test_field_authorization_error_fails_that_field_only(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    client = make_client(deployment=None)
    variables = {"accountNumber": fake.account.number}
    await client.execute(COMBO, variables)
    fake.faults.inject("field_unauthorized", field="acct", operation="Combo")
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert isinstance(result.failed("acct"), FieldAuthorizationError)
    assert result.failed("viewer") is None and result.data["viewer"]["id"]
    assert len(result.data["devices"]) == 3
    assert fake.stats.mints == {"api_key": 1}  # the token was not doubted
    # A document of that one field alone: one renewal proves the token good, then it is the field's fault,
    # never the credentials' (no auth backoff), and the next polls do not renew again.
    only = documents.parse("query Acct($n: String!) { account(accountNumber: $n) { number } }")
    fake.faults.inject("field_unauthorized", field="account", times=4, operation="Acct")
    for _ in range(2):
        with pytest.raises(FieldAuthorizationError):
            await client.execute(only, {"n": fake.account.number})
    assert sum(fake.stats.mints.values()) == 2
    assert client.auth is not None
    await client.auth.token()  # no AuthBackoffError: credentials are fine
    with pytest.raises(FieldAuthorizationError):
        await client.execute(only, {"n": fake.account.number})
    assert sum(fake.stats.mints.values()) == 2
    assert await accounts(client)


async def test_nested_device_errors_keep_the_other_devices(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(deployment=None)
    variables = {"accountNumber": fake.account.number}
    fake.faults.inject("nested_error", path=["devices", 1, "status"], operation="Combo")  # KT-CT-4360
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert result.failed("devices") is None
    [err] = result.nested("devices")
    assert err.path == ("devices", 1, "status") and err.code == "KT-CT-4360"
    devices = result.data["devices"]
    assert [d["status"] is None for d in devices] == [False, True, False]
    assert result.errors_at("devices", 1) == [err]
    fake.faults.inject(
        "nested_error",
        path=["devices", 0, "preferenceSetting"],
        code="KT-CT-4383",
        message="Unable to get preference setting.",
        operation="Combo",
    )
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert result.failed("devices") is None and len(result.data["devices"]) == 3
    assert [e.code for e in result.nested()] == ["KT-CT-4383"]
    # An AUTHORIZATION error below a root field is that sub-field's failure too.
    fake.faults.inject(
        "nested_error",
        path=["devices", 2, "status"],
        code="KT-CT-1111",
        error_type="AUTHORIZATION",
        operation="Combo",
    )
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert isinstance(result.nested("devices")[0], FieldAuthorizationError)
    assert fake.stats.mints == {"api_key": 1}


async def test_edge_block_keeps_the_token_backs_off_and_says_so_once(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("edge_block", times=2)
    with structlog.testing.capture_logs() as logs:
        with pytest.raises(EdgeBlockedError) as first:
            await accounts(client)
        assert client.budget.wait_time() >= 30  # backing off
        clock.advance(client.budget.wait_time())
        with pytest.raises(EdgeBlockedError) as second:
            await accounts(client)
        assert (second.value.retry_after or 0) > (first.value.retry_after or 0) / 2
        clock.advance(client.budget.wait_time())
        assert await accounts(client)
    warnings = [e for e in logs if e["event"] == "kraken.edge_blocked" and e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert fake.stats.mints == {"api_key": 1}  # the token was kept
    assert [e["event"] for e in logs].count("kraken.edge_unblocked") == 1


async def test_rate_limit_while_minting_blocks_the_budget(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client()
    fake.faults.inject("rate_limited", operation="ObtainKrakenToken")
    with pytest.raises(RateLimitedError):
        await accounts(client)
    assert client.budget.wait_time() >= 30
    with pytest.raises(RateLimitedError, match="budget"):
        await client.execute("Viewer", max_wait=1.0)  # nothing sent while blocked
    assert _ops(fake).count("ObtainKrakenToken") == 1
    clock.advance(client.budget.wait_time())
    assert await accounts(client)  # not a credential failure: no auth backoff
    fake.faults.inject("edge_block", operation="ObtainKrakenToken")
    fake.expire_tokens()
    clock.advance(4000)
    with pytest.raises(EdgeBlockedError):
        await accounts(client)
    assert client.budget.wait_time() >= 30


async def test_backend_rate_limit_and_auth_codes(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    client = make_client()
    await accounts(client)
    fake.faults.inject("backend_rate_limited")  # OE-0002
    with pytest.raises(RateLimitedError) as info:
        await accounts(client)
    assert info.value.code == "OE-0002" and client.budget.wait_time() > 0
    clock.advance(client.budget.wait_time())
    fake.faults.inject("backend_unauthenticated")  # OE-0103: renew, retry
    assert await accounts(client)
    assert sum(fake.stats.mints.values()) == 2


async def test_too_complex_document_is_split_into_its_root_fields(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    client = make_client(deployment=None)
    variables = {"accountNumber": fake.account.number}
    fake.faults.inject("too_complex", operation="Combo")
    with pytest.raises(QueryTooComplexError) as info:
        await client.execute(COMBO, variables)
    assert info.value.kind == "complexity"
    fake.faults.inject("too_many_nodes", operation="Combo")
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert not result.errors
    assert set(result.data) == {"viewer", "devices", "acct"} and result.data["acct"]["number"]
    assert _ops(fake)[-3:] == ["Combo_viewer", "Combo_devices", "Combo_acct"]
    # Viewer's part declares no variable: the fake (graphql-core) would reject an unused one.
    viewer_part = next(r for r in fake.requests if r.operation_name == "Combo_viewer")
    assert viewer_part.variables == {} and "$accountNumber" not in (viewer_part.query or "")
    # From now on the document goes out as its parts, without being refused first.
    before = len(fake.requests)
    await client.execute(COMBO, variables, allow_partial=True)
    assert _ops(fake)[before:] == ["Combo_viewer", "Combo_devices", "Combo_acct"]
    # A part that fails on its own fails its root field only.
    fake.faults.inject("http_500", operation="Combo_devices", times=3)
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert isinstance(result.failed("devices"), ServerError)
    assert result.data["acct"]["number"] and result.failed("acct") is None


async def test_missing_first_names_the_connection(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(deployment=None)
    fake.faults.inject("missing_first", field="devices", operation="Combo")
    result = await client.execute(COMBO, {"accountNumber": fake.account.number}, allow_partial=True)
    err = result.failed("devices")
    assert isinstance(err, MissingFirstError) and err.code == "KT-CT-1201"
    assert "devices was queried without `first:`" in str(err)
    assert result.data["acct"]["number"]


# -- endpoints ------------------------------------------------------------------------------------------


async def test_backend_endpoint_shares_token_and_budget(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(endpoints={BACKEND: fake.backend_url})
    assert client.endpoints == {MAIN: fake.url, BACKEND: fake.backend_url}
    await accounts(client)
    left = client.budget.available  # the manual clock stands still: no refill between the two readings
    data = (await client.execute("Viewer", endpoint=BACKEND)).data
    assert data["viewer"]["accounts"]
    assert fake.stats.mints == {"api_key": 1}  # one token for both
    assert client.budget.available == pytest.approx(left - 1)  # one budget for both
    backend = [r for r in fake.requests if r.path == BACKEND_PATH]
    assert [r.operation_name for r in backend] == ["Viewer"] and backend[0].status == 200
    assert all((r.user_agent or "").startswith("kraken2mqtt/") for r in fake.requests)
    with pytest.raises(UnknownEndpointError, match="no endpoint 'elsewhere'"):
        await client.execute("Viewer", endpoint="elsewhere")


async def test_fake_backend_refuses_default_user_agent_and_jwt_prefix(fake: FakeKraken) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        body = {"query": "query Viewer { viewer { id } }"}
        assert (await http.post(fake.backend_url, json=body)).status_code == 403  # python-httpx/x.y
        ok = await http.post(fake.url, json=body)  # the main endpoint does not care
        assert ok.status_code == 200
        mint = (
            await http.post(
                fake.url,
                json={
                    "query": f'mutation {{ obtainKrakenToken(input: {{APIKey: "{API_KEY}"}}) {{ token }} }}'
                },
            )
        ).json()["data"]["obtainKrakenToken"]["token"]
        ours = {"User-Agent": "kraken2mqtt/test"}
        jwt = await http.post(fake.backend_url, json=body, headers={**ours, "Authorization": f"JWT {mint}"})
        assert jwt.json()["errors"][0]["extensions"]["errorCode"] == "OE-0103"
        bare = await http.post(fake.backend_url, json=body, headers={**ours, "Authorization": mint})
        assert bare.json()["data"]["viewer"]["id"]


async def test_a_document_can_declare_its_endpoint(fake: FakeKraken, make_client: MakeClient) -> None:
    client = make_client(endpoints={BACKEND: fake.backend_url})
    doc = documents.parse("# deployments: octopus-gb\n# endpoint: backend\nquery Viewer { viewer { id } }\n")
    assert declared_endpoint(doc) == BACKEND
    assert declared_endpoint(documents.load("Viewer")) is None
    await client.execute(doc)
    await client.execute(doc, endpoint=MAIN)  # the caller has the last word
    assert [r.path for r in fake.requests if r.operation_name == "Viewer"] == [BACKEND_PATH, "/v1/graphql/"]


# -- HTTP 400 with a GraphQL body (the live server's answer to a document it does not validate) -------------


async def test_http_400_with_graphql_errors_is_a_validation_error(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    """Live (HAOE issue 972): ``400; {"errors":[{"message":"Cannot query field 'countReset' on type
    'HeatPumpConfiguration'.","locations":[{"line":74,"column":7}]}]}``. That is our document's fault,
    not the transport's: a KrakenValidationError with the server's message, sent once, the token kept."""
    client = make_client()
    await accounts(client)
    with pytest.raises(KrakenValidationError) as info:
        await client.execute(documents.parse("query Bad { viewer { acounts { number } } }"))
    assert not isinstance(info.value, TransportError | ServerError | AuthError)
    assert info.value.message.startswith("Cannot query field 'acounts' on type 'AccountUserType'.")
    sent = [r for r in fake.requests if r.operation_name == "Bad"]
    assert [r.status for r in sent] == [400]  # not retried
    assert fake.stats.mints == {"api_key": 1}  # not an auth failure either
    assert await accounts(client)


async def test_http_400_too_complex_still_splits(fake: FakeKraken, make_client: MakeClient) -> None:
    """KT-CT-1188/1189 split the document whether the server sends them with 200 or 400."""
    client = make_client(deployment=None)
    variables = {"accountNumber": fake.account.number}
    fake.faults.inject("too_complex", operation="Combo", status=400)
    result = await client.execute(COMBO, variables, allow_partial=True)
    assert not result.errors and result.data["acct"]["number"]
    assert [r.status for r in fake.requests if r.operation_name == "Combo"] == [400]
    assert _ops(fake)[-3:] == ["Combo_viewer", "Combo_devices", "Combo_acct"]


async def test_http_400_without_graphql_errors_is_not_a_validation_error(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    client = make_client(attempts=1)
    await accounts(client)
    fake.faults.inject("raw", operation="Viewer", status=400, body={"detail": "Bad request"})
    with pytest.raises(KrakenError) as info:
        await accounts(client)
    assert not isinstance(info.value, KrakenValidationError)
