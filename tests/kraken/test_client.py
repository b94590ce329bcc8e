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
from kraken2mqtt.kraken.client import UndocumentedFieldError
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CredentialsError,
    DisabledFieldError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from kraken2mqtt.logs import configure_logging
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
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
    with pytest.raises(ValidationError):
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
