"""Item 5, fuzzing (hypothesis, derandomized): 10,000 random MQTT payloads over every command topic, and
1,000 random Kraken responses served over real HTTP by the fake server, into the client and into the
poller. Nothing raises; every rejection carries a readable reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import ManualClock
from kraken2mqtt.controls import Command, Control
from kraken2mqtt.kraken import documents
from kraken2mqtt.kraken.budget import RequestBudget
from kraken2mqtt.kraken.client import GraphQLResult, KrakenClient
from kraken2mqtt.kraken.errors import KrakenError
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.mqtt.command_parse import Ignored, Invalid, parse
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore
from tests.reliability.rig import TALLY, Outputs, fake_kraken, target_for
from tests.timing import scaled

BASE = "k2m"
TOPICS = [f"{BASE}/{c.value}/set" for c in Control] + [
    f"{BASE}/{device}/{c.value}/set" for device in ("ev", "00000000-0001-ev", "account") for c in Control
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
PAYLOADS = st.one_of(
    st.binary(max_size=1500),
    st.text(max_size=300),
    JSON.map(lambda v: json.dumps(v)),
    st.builds(lambda v: json.dumps({"value": v}), JSON),
    st.sampled_from(["ON", "off", "PRESS", "80", "07:30", "auto", "force_on", "21.5", "", "nan", "1e309"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
MQTT_EXAMPLES = 10_000
counted: dict[str, int] = {"mqtt": 0, "api": 0}


MESSAGE = st.tuples(st.sampled_from(TOPICS) | st.text(max_size=80), PAYLOADS, st.booleans())


# Ten messages per example: the same 10,000 payloads for a tenth of hypothesis' per-example overhead.
@settings(max_examples=MQTT_EXAMPLES // 10, derandomize=True, deadline=None, database=None)
@given(messages=st.lists(MESSAGE, min_size=10, max_size=10))
def test_random_command_payloads(messages: list[tuple[str, str | bytes, bool]]) -> None:
    for topic, payload, retain in messages:
        counted["mqtt"] += 1
        check_one(topic, payload, retain)


def check_one(topic: str, payload: str | bytes, retain: bool) -> None:
    parsed = parse(BASE, topic, payload, retain=retain)
    assert isinstance(parsed, Command | Invalid | Ignored)
    if isinstance(parsed, Invalid | Ignored):
        assert isinstance(parsed.reason, str) and len(parsed.reason.strip()) >= 5, parsed
    else:
        assert topic in TOPICS and not retain
        assert parsed.value is None or isinstance(parsed.value, bool | int | float | str)
        if isinstance(parsed.value, float):
            assert parsed.value == parsed.value and abs(parsed.value) < 1e6  # no NaN or huge values
        json.dumps(parsed.to_json())


def test_zz_mqtt_tally() -> None:
    assert counted["mqtt"] >= MQTT_EXAMPLES * 0.95  # hypothesis ran (nearly) all examples
    TALLY.fault("fuzz: random MQTT command payloads", n=counted["mqtt"])


ROOTS = sorted(
    {
        f
        for name in (
            "PollAccountGb",
            "PollLiveGb",
            "PollEventsGb",
            "PollHeatPumpGb",
            "PollPrepayGb",
            "Viewer",
        )
        for f in documents.load(name).root_fields
    }
)
ERRORS = st.lists(
    st.fixed_dictionaries(
        {"message": st.text(max_size=30)},
        optional={
            "path": st.lists(st.sampled_from(ROOTS) | st.text(max_size=8), max_size=2),
            "extensions": st.fixed_dictionaries(
                {"errorCode": st.sampled_from(["KT-CT-1199", "KT-CT-1113", "KT-CT-1120", "KT-CT-4321", "X"])}
            )
            | JSON,
        },
    )
    | JSON,
    max_size=3,
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries({"data": st.dictionaries(st.sampled_from(ROOTS), JSON, max_size=4)}),
    st.fixed_dictionaries(
        {"data": st.none() | st.dictionaries(st.sampled_from(ROOTS), JSON, max_size=4), "errors": ERRORS}
    ),
)
STATUSES = st.sampled_from([200, 200, 200, 200, 400, 401, 403, 404, 500, 503])


class Rig:
    def __init__(self, fk: FakeKraken, tmp: Path) -> None:
        self.fk = fk
        self.loop = asyncio.new_event_loop()
        self.store = StateStore(tmp / "state")
        self.clock = ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
        self.client = KrakenClient(
            fk.url,
            target_for(fk).credentials,
            deployment="octopus-gb",
            clock=self.clock,
            token_store=SqliteTokenStore(self.store),
            budget=RequestBudget(self.clock, points_per_hour=100_000, burst=1000),
            timeout=scaled(2.0),
            attempts=1,
            retry_backoff=Backoff(0.01, 0.01),
        )
        self.poller = Poller(self.client, deployment="octopus-gb", clock=self.clock)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.store.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    outputs = Outputs()
    with fake_kraken(outputs) as fk:
        r = Rig(fk, tmp_path_factory.mktemp("fuzz"))
        r.loop.run_until_complete(r.poller.poll_once())
        try:
            yield r
        finally:
            r.close()
    assert not outputs.leaks([])


@settings(
    max_examples=700,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, status=STATUSES)
def test_random_api_responses_into_the_client(rig: Rig, body: Any, status: int) -> None:
    counted["api"] += 1
    rig.fk.faults.inject("raw", body=body, status=status)

    async def one() -> None:
        error: KrakenError | None = None
        try:
            result = await rig.client.execute(
                "PollAccountGb", {"accountNumber": "A-SANDBOX1"}, allow_partial=True
            )
        except KrakenError as exc:
            error = exc
        if error is not None:
            assert str(error).strip(), "an error without a message"
        else:
            assert isinstance(result, GraphQLResult) and isinstance(result.data, dict)

    rig.loop.run_until_complete(one())
    assert not rig.fk.faults.pending()


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, status=STATUSES)
def test_random_api_responses_into_the_poller(rig: Rig, body: Any, status: int) -> None:
    counted["api"] += 1
    rig.fk.faults.inject("raw", body=body, status=status)
    result = rig.loop.run_until_complete(rig.poller.refresh())
    assert not rig.fk.faults.pending()
    for stream in result.failed:
        error = rig.poller.snapshot.stream(stream).error
        assert isinstance(error, str) and error.strip(), (stream, error)
    rig.clock.advance(61)


def test_zz_api_tally() -> None:
    assert counted["api"] >= 950
    TALLY.fault("fuzz: random Kraken API responses", n=counted["api"])
