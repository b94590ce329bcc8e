"""Kraken fixtures for every test package: a ManualClock, the fake Kraken server and client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import KrakenClient
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore

API_KEY = "sk_test_fake_api_key"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock, api_key=API_KEY) as fk:
        yield fk


MakeClient = Callable[..., KrakenClient]


@pytest.fixture
async def make_client(fake: FakeKraken, clock: ManualClock, tmp_path: Path) -> AsyncIterator[MakeClient]:
    made: list[KrakenClient] = []
    stores: list[StateStore] = []

    def factory(**kw: object) -> KrakenClient:
        creds = kw.pop("credentials", Credentials(api_key=SecretStr(API_KEY)))
        endpoint = str(kw.pop("endpoint", fake.url))
        store = StateStore(tmp_path / "state")
        stores.append(store)
        options: dict[str, object] = {
            "deployment": "octopus-gb",
            "clock": clock,
            "token_store": SqliteTokenStore(store),
            "budget": RequestBudget(clock, points_per_hour=3600, burst=100),
            "timeout": 2.0,
            "retry_backoff": Backoff(base=0.5, cap=5.0),
        }
        options.update(kw)
        client = KrakenClient(endpoint, creds, **options)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield factory
    for c in made:
        await c.aclose()
    for s in stores:
        s.close()
