"""Degrade, never die (issue 11 point 1): a server that rejects one optional field of a document costs that
selection only; dispatches, device state and prices still reach the snapshot within one poll. A rejected
critical field makes its stream stale with the reason, logged once per hour.

The fake server is made to reject a field the way graphql-core (and the live server) do: the field is
removed from its type in the executable schema, so validation answers "Cannot query field 'x' on type 'Y'".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    assert_valid_schema,
    get_named_type,
    parse,
    visit,
)
from prometheus_client import generate_latest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken import documents
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.snapshot import Stream
from kraken2mqtt.ops.metrics import Metrics
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.resolvers import attach
from kraken2mqtt.sandbox.schema import build_schema
from kraken2mqtt.store import StateStore
from tests.kraken.conftest import MakeClient

GB_DOCUMENTS = [
    "PollAccountGb",
    "HeatPumpControllersGb",
    "PollDevicesGb",
    "PollLiveGb",
    "PollEventsGb",
    "PollHeatPumpGb",
    "PollPrepayGb",
]


def _fields_of(fragment: str, schema: GraphQLSchema) -> set[tuple[str, str]]:
    """(parent type, field) of every field selected in the optional fragment ``fragment``."""
    text = next(
        documents.load(name).source
        for name in GB_DOCUMENTS
        if f"fragment {fragment} on" in documents.load(name).source
    )
    ast = parse(text)
    info = TypeInfo(schema)
    found: set[tuple[str, str]] = set()
    inside = {"on": False}

    class Collect(Visitor):
        def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: object) -> None:
            inside["on"] = node.name.value == fragment

        def enter_field(self, node: FieldNode, *_: object) -> None:
            parent = info.get_parent_type()
            if inside["on"] and parent is not None and node.name.value != "__typename":
                found.add((get_named_type(parent).name, node.name.value))

    visit(ast, TypeInfoVisitor(info, Collect()))
    return found


def _fields_outside(source: str, optional: set[str], schema: GraphQLSchema) -> set[tuple[str, str]]:
    """(parent type, field) of every field of ``source`` outside the fragments named in ``optional``."""
    info = TypeInfo(schema)
    out: set[tuple[str, str]] = set()
    state = {"skip": False}

    class Collect(Visitor):
        def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: object) -> None:
            state["skip"] = node.name.value in optional

        def enter_operation_definition(self, *_: object) -> None:
            state["skip"] = False

        def enter_field(self, node: FieldNode, *_: object) -> None:
            parent = info.get_parent_type()
            if not state["skip"] and parent is not None:
                out.add((get_named_type(parent).name, node.name.value))

    visit(parse(source), TypeInfoVisitor(info, Collect()))
    return out


def _critical_fields(schema: GraphQLSchema) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for name in GB_DOCUMENTS:
        doc = documents.load(name)
        out |= _fields_outside(doc.source, {p.name for p in doc.optional}, schema)
    return out


def _optional_cases() -> Iterator[tuple[str, str, str]]:
    schema = build_schema("octopus-gb")
    critical = _critical_fields(schema)
    seen: set[tuple[str, str]] = set()
    for name in GB_DOCUMENTS:
        for part in documents.load(name).optional:
            for type_name, field in sorted(_fields_of(part.name, schema) - critical):
                if (type_name, field) not in seen:
                    seen.add((type_name, field))
                    yield part.name, type_name, field


CASES = list(_optional_cases())


def _rejecting(deployment: str, type_name: str, field: str) -> GraphQLSchema:
    """The fake's schema with ``type_name.field`` gone (and from the interfaces that declare it)."""
    schema = build_schema(deployment)
    assert_valid_schema(schema)  # validate the intact schema first: the removal is what the server does
    attach(schema)
    target = schema.get_type(type_name)
    assert isinstance(target, GraphQLObjectType | GraphQLInterfaceType), type_name
    del target.fields[field]
    return schema


def test_every_optional_fragment_has_fields_to_reject() -> None:
    fragments = {case[0] for case in CASES}
    assert {"EvReadings", "EvSpecs", "DeviceAlerts", "InverterTelemetry", "RateLimitInfo"} <= fragments
    assert {"SavingSessions", "Greenness", "HeatPumpControllerStatus", "LegacyHeatPumpStatus"} <= fragments
    assert len(CASES) >= 30


@pytest.mark.parametrize(("fragment", "type_name", "field"), CASES, ids=[f"{t}.{f}" for _, t, f in CASES])
async def test_a_rejected_optional_field_costs_only_its_selection(
    fragment: str,
    type_name: str,
    field: str,
    fake: FakeKraken,
    make_client: MakeClient,
    clock: ManualClock,
) -> None:
    fake.schema = _rejecting("octopus-gb", type_name, field)
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    start = clock.now()
    result = await poller.poll_once()
    snap = poller.snapshot
    # What the plan needs arrived in this one poll.
    for stream in (Stream.ACCOUNT, Stream.TARIFFS, Stream.DEVICES, Stream.DISPATCHES):
        assert snap.stream(stream).error is None, (stream, snap.stream(stream).error)
        assert (snap.stream(stream).fetched_at or start) >= start, stream
        assert stream not in result.failed
    assert snap.tariffs is not None and snap.tariffs.import_ is not None
    assert snap.devices is not None and snap.devices.devices and len(snap.dispatches) == 3
    # The rejected selection was dropped, named, and is not sent again.
    dropped = [k for k in snap.dropped if k.endswith(f"/{fragment}") or k in GB_DOCUMENTS]
    assert dropped, snap.dropped
    assert any(f"'{field}'" in snap.dropped[k] for k in dropped)
    clock.advance(1800)
    second = clock.now()
    await poller.poll_once()
    again = poller.snapshot
    assert snap.dropped.items() <= again.dropped.items()
    for stream in (Stream.DEVICES, Stream.DISPATCHES):
        assert again.stream(stream).error is None and (again.stream(stream).fetched_at or start) >= second


async def test_dropping_is_at_once_not_after_a_backoff(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    fake.schema = _rejecting("octopus-gb", "SmartFlexVehicleStatus", "stateOfCharge")
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    assert clock.slept == [] or max(clock.slept) < 1.0  # no retry delay for a rejected selection
    assert poller.snapshot.dropped.keys() == {"PollDevicesGb/EvReadings"}
    # The rejection came as the live server sends it: HTTP 400 with a GraphQL errors body.
    assert [r.status for r in fake.requests if r.operation_name == "PollDevicesGb"] == [400, 200]
    clock.advance(1800)
    await poller.poll_once()  # PollLiveGb is a different document: it drops the fragment too, once
    assert set(poller.snapshot.dropped) == {"PollDevicesGb/EvReadings", "PollLiveGb/EvReadings"}
    ev = poller.snapshot.devices.devices[0] if poller.snapshot.devices else None
    assert ev is not None and ev.soc_percent is None and ev.battery_size_kwh is not None


async def test_a_rejected_critical_field_makes_the_stream_stale_and_says_which(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    # After plannedDispatches' removal date (2026-01-16): GB has no fallback source left.
    clock.advance(timedelta(days=2).total_seconds())
    fake.schema = _rejecting("octopus-gb", "Query", "flexPlannedDispatches")
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    with structlog.testing.capture_logs() as logs:
        await poller.poll_once()
        snap = poller.snapshot
        error = snap.stream(Stream.DISPATCHES).error or ""
        assert "Query.flexPlannedDispatches" in error and "needed" in error
        assert 400 in {r.status for r in fake.requests}  # the live answer to a field it does not know
        # The devices still arrive (polled without the dispatch field); prices too.
        assert snap.stream(Stream.DEVICES).error is None and snap.devices is not None
        assert snap.stream(Stream.TARIFFS).error is None
        for _ in range(5):
            clock.advance(300)
            await poller.poll_once()
        critical = [e for e in logs if e["event"] == "poller.critical_field_rejected"]
        assert len(critical) == 1  # once per hour, not once per poll
        clock.advance(timedelta(hours=1).total_seconds())
        await poller.poll_once()
    assert len([e for e in logs if e["event"] == "poller.critical_field_rejected"]) == 2
    assert "Query.flexPlannedDispatches" in (poller.snapshot.stream(Stream.DISPATCHES).error or "")
    assert poller.snapshot.stream(Stream.DEVICES).error is None


async def test_dropped_selections_and_stream_errors_survive_a_restart_for_status(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock, tmp_path: Path
) -> None:
    fake.schema = _rejecting("octopus-gb", "SmartFlexVehicleStatus", "stateOfCharge")
    with StateStore(tmp_path / "state") as store:
        poller = Poller(make_client(), deployment="octopus-gb", clock=clock, store=store)
        await poller.poll_once()
        dropped = poller.snapshot.dropped
        assert dropped
        metrics = Metrics(clock=lambda: clock.now().timestamp())
        metrics.set_dropped(dropped)
        text = generate_latest(metrics.registry).decode()
        assert (
            'kraken2mqtt_kraken_dropped_selections{document="PollDevicesGb",selection="EvReadings"} 1.0'
            in text
        )
    with StateStore(tmp_path / "state") as store:
        loaded = store.load_snapshot("octopus-gb")
    assert loaded is not None and loaded.dropped == dropped
