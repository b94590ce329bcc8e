"""Planned dispatches per deployment (issue 10 point 1): ``flexPlannedDispatches(deviceId)`` first, the
account-wide ``plannedDispatches`` as the fallback of a deployment that serves only that, demoted at run
time when the server rejects the field. Against the fake with both SDL variants: the docs' (no
flexPlannedDispatches) and the live one (plannedDispatches gone)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog
from prometheus_client import generate_latest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken import poller as poller_module
from kraken2mqtt.kraken.client import RetiredDocumentError
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.snapshot import DispatchState, Stream
from kraken2mqtt.ops.metrics import Metrics
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.resolvers import attach
from kraken2mqtt.sandbox.schema import build_schema
from tests.kraken.conftest import MakeClient

pytestmark = pytest.mark.asyncio


def _without(deployment: str, *fields: str) -> object:
    """The fake's executable schema for ``deployment`` without the root ``fields``."""
    schema = build_schema(deployment)
    attach(schema)
    assert schema.query_type is not None
    for name in fields:
        del schema.query_type.fields[name]
    return schema


def _planned(poller: Poller) -> list[tuple[DispatchState, str | None]]:
    return [(d.state, d.source) for d in poller.snapshot.dispatches if d.state == DispatchState.PLANNED]


async def test_gb_with_both_fields_uses_flex_planned_dispatches(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    clock.advance(1800)
    await poller.poll_once()
    assert poller.dispatch_sources == ("flex", "planned")
    assert "PollLivePlannedGb" not in fake.stats.requests and fake.stats.requests["PollLiveGb"] == 1
    assert len(_planned(poller)) == 2


async def test_a_docs_era_server_without_flex_planned_dispatches_is_served_by_planned_dispatches(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    """The docs' SDL (000 has plannedDispatches, no flexPlannedDispatches), before plannedDispatches'
    removal date: the poller is demoted to plannedDispatches in the same poll, says so once, and shows it
    in status (``dropped``) and the dropped-selections metric."""
    fake.schema = _without("octopus-gb", "flexPlannedDispatches")  # type: ignore[assignment]
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    with structlog.testing.capture_logs() as logs:
        result = await poller.poll_once()
        for _ in range(3):
            clock.advance(300)
            await poller.poll_once()
    assert Stream.DISPATCHES not in result.failed
    snap = poller.snapshot
    assert snap.stream(Stream.DISPATCHES).error is None
    assert len(_planned(poller)) == 2  # from the account-wide list
    assert poller.dispatch_sources == ("planned",)
    demoted = [e for e in logs if e["event"] == "poller.dispatch_source_demoted"]
    assert len(demoted) == 1
    assert demoted[0]["source"] == "flexPlannedDispatches" and demoted[0]["now_using"] == "plannedDispatches"
    assert "PollLiveGb/flexPlannedDispatches" in snap.dropped
    assert fake.stats.requests["FlexPlannedDispatches"] == 1  # rejected once, never sent again
    assert "PollLiveGb" not in fake.stats.requests
    assert fake.stats.requests["PollLivePlannedGb"] == 4
    metrics = Metrics()
    metrics.set_dropped(snap.dropped)
    text = generate_latest(metrics.registry).decode()
    assert 'selection="flexPlannedDispatches"' in text


async def test_a_server_that_rejects_planned_dispatches_demotes_it_to_flex(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment listing plannedDispatches first, on the live SDL without it (as DE's): demoted to
    flexPlannedDispatches at once."""
    monkeypatch.setitem(poller_module.DISPATCH_SOURCES, "octopus-gb", ("planned", "flex"))
    fake.schema = _without("octopus-gb", "plannedDispatches")  # type: ignore[assignment]
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    snap = poller.snapshot
    assert snap.stream(Stream.DISPATCHES).error is None and len(_planned(poller)) == 2
    assert poller.dispatch_sources == ("flex",)
    assert "PollLivePlannedGb/plannedDispatches" in snap.dropped
    assert fake.stats.requests["PollLivePlannedGb"] == 1
    assert all(d.type == "SMART" for d in snap.dispatches if d.state == DispatchState.PLANNED)


async def test_after_its_removal_date_planned_dispatches_is_never_sent(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From 2026-01-16 (plannedDispatches' removal date) the fallback's document is retired: the client
    refuses it and the poller skips that source."""
    clock.advance(timedelta(days=2).total_seconds())
    client = make_client()
    with pytest.raises(RetiredDocumentError, match="removed on 2026-01-16"):
        await client.execute("PollLivePlannedGb", {"accountNumber": fake.account.number})
    monkeypatch.setitem(poller_module.DISPATCH_SOURCES, "octopus-gb", ("planned", "flex"))
    poller = Poller(client, deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    assert "PollLivePlannedGb" not in fake.stats.requests
    assert fake.stats.requests["FlexPlannedDispatches"] == 1  # flex, the next source
    assert poller.snapshot.stream(Stream.DISPATCHES).error is None


async def test_germany_has_no_planned_dispatches_source(clock: ManualClock) -> None:
    assert poller_module.DISPATCH_SOURCES["octopus-de"] == ("flex",)
