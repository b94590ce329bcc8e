"""GB's backend endpoint (issue 10 point 3): heat pumps, saving sessions and greener nights in the live
clients' shapes, sent to ``/backend/v1/graphql/`` of the fake over real HTTP with the main endpoint's
token and budget; the main endpoint's documents stay the fallback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken import documents
from kraken2mqtt.kraken.client import BACKEND, KrakenClient, UndocumentedFieldError
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.kraken.snapshot import GreennessIndex, Stream
from kraken2mqtt.sandbox.fake_kraken import BACKEND_PATH, PATH, FakeKraken
from kraken2mqtt.sandbox.resolvers import attach
from kraken2mqtt.sandbox.schema import build_schema
from tests.kraken.conftest import MakeClient

pytestmark = pytest.mark.asyncio

EUID = "00:1e:5e:09:02:ab:cd:ef"
TOPUP_DEVICE = "A1-BC-D2-00-01-23-EF-4G"


def _backend_client(fake: FakeKraken, make_client: MakeClient) -> KrakenClient:
    return make_client(endpoints={BACKEND: fake.backend_url})


def _paths(fake: FakeKraken) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in fake.requests:
        out.setdefault(r.operation_name or "?", set()).add(r.path)
    return out


async def test_heat_pumps_and_events_come_from_the_backend(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(
        _backend_client(fake, make_client), deployment="octopus-gb", clock=clock, topup_device_id=TOPUP_DEVICE
    )
    result = await poller.poll_once()
    assert result.failed == frozenset()
    snap = poller.snapshot
    assert snap.account is not None and snap.account.heat_pump_controller_euids == (EUID,)
    assert snap.heat_pumps is not None
    (ctrl,) = snap.heat_pumps.controllers
    assert [z.zone for z in ctrl.zones] == ["WATER", "ZONE1"] and ctrl.sensors
    # heatPumpLivePerformance: the fields the live client reads (HAOE heat_pump_status_and_config_query).
    assert ctrl.cop == Decimal("3.4") and ctrl.outdoor_temperature_c == Decimal("7.5")
    assert ctrl.power_input_kw == Decimal("1.1") and ctrl.heat_output_kw == Decimal("3.74")
    assert ctrl.live_read_at == clock.now()
    assert snap.heat_pumps.legacy is not None  # the legacy KrakenFlex status still comes from main
    events = snap.events
    assert events is not None and len(events.saving_sessions) == 1 and events.has_joined_saving_campaign
    # greenerNightsForecast: one period per night, 23:00-06:00 UK time, highlight = isGreenerNight
    assert events.greenness and all((g.end - g.start).total_seconds() == 7 * 3600 for g in events.greenness)
    assert any(g.highlight and g.index == GreennessIndex.HIGH for g in events.greenness)
    assert snap.dropped == {}
    paths = _paths(fake)
    assert paths["HeatPumpControllersAtLocationGb"] == {BACKEND_PATH}
    assert paths["PollHeatPumpLiveGb"] == {BACKEND_PATH}
    assert paths["PollEventsBackendGb"] == {BACKEND_PATH}
    assert paths["PollHeatPumpStatusGb"] == {PATH}
    assert not {"HeatPumpControllersGb", "PollEventsGb", "PollHeatPumpGb"} & set(paths)
    assert fake.stats.mints == {"api_key": 1}  # one token for both endpoints
    assert all((r.user_agent or "").startswith("kraken2mqtt/") for r in fake.requests)
    # The documents carry the live client's selections (kept verbatim as fixtures in the fragments).
    live = next(r.query for r in fake.requests if r.operation_name == "PollHeatPumpLiveGb")
    assert live is not None and "coefficientOfPerformance" in live
    assert "outdoorTemperature { value unit }" in live
    saving = next(r.query for r in fake.requests if r.operation_name == "PollEventsBackendGb")
    assert saving is not None and "events(includeDev: false)" in saving
    assert "account(accountNumber: $accountNumber)" in saving
    # Cadence: the heat pump every 5 minutes, events hourly, both inside the one budget.
    before = dict(fake.stats.requests)
    for _ in range(12):
        clock.advance(300)
        await poller.poll_once()
    grown = {k: v - before.get(k, 0) for k, v in fake.stats.requests.items()}
    assert grown["PollHeatPumpLiveGb"] == 12 and grown["PollEventsBackendGb"] == 1
    # The legacy status is asked beside the controller only while the account shows one.
    assert grown["PollHeatPumpStatusGb"] == 12


async def test_legacy_status_is_not_asked_again_when_the_account_has_none(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    fake.account.legacy_heat_pump = None
    poller = Poller(_backend_client(fake, make_client), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    for _ in range(3):
        clock.advance(300)
        await poller.poll_once()
    assert fake.stats.requests["PollHeatPumpStatusGb"] == 1
    assert fake.stats.requests["PollHeatPumpLiveGb"] == 4


async def test_a_backend_that_rejects_the_documents_falls_back_to_the_main_endpoint(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    # A backend without the live fields (as if it lagged the clients): its documents are dropped, one
    # warning each, and the main endpoint's documents take over in the same poll.
    schema = build_schema("octopus-gb")
    attach(schema)
    assert schema.query_type is not None
    for name in ("savingSessions", "heatPumpControllerStatus"):
        del schema.query_type.fields[name]
    fake.backend_schema = schema
    poller = Poller(_backend_client(fake, make_client), deployment="octopus-gb", clock=clock)
    result = await poller.poll_once()
    assert Stream.HEAT_PUMPS not in result.failed and Stream.EVENTS not in result.failed
    snap = poller.snapshot
    assert snap.account is not None and snap.account.heat_pump_controller_euids == (EUID,)
    assert snap.heat_pumps is not None and [z.zone for z in snap.heat_pumps.controllers[0].zones]
    assert snap.events is not None and len(snap.events.greenness) == 48  # greennessForecast, hourly
    dropped = {"HeatPumpControllersAtLocationGb", "PollHeatPumpLiveGb", "PollEventsBackendGb"}
    assert dropped <= set(snap.dropped)
    paths = _paths(fake)
    assert paths["HeatPumpControllersGb"] == {PATH} and paths["PollHeatPumpGb"] == {PATH}
    assert paths["PollEventsGb"] == {PATH}
    clock.advance(3600)
    before = dict(fake.stats.requests)
    await poller.poll_once()
    assert fake.stats.requests["PollHeatPumpLiveGb"] == before["PollHeatPumpLiveGb"]  # not sent again
    assert fake.stats.requests["PollHeatPumpGb"] == before["PollHeatPumpGb"] + 1


async def test_a_backend_that_rejects_only_greener_nights_degrades_greenness_alone(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    # The backend serves saving sessions but not greenerNightsForecast: the saving sessions still come from
    # the backend; the greenness comes from the main endpoint's greennessForecast (PollGreennessGb).
    schema = build_schema("octopus-gb-backend")
    attach(schema)
    assert schema.query_type is not None
    del schema.query_type.fields["greenerNightsForecast"]
    fake.backend_schema = schema
    poller = Poller(_backend_client(fake, make_client), deployment="octopus-gb", clock=clock)
    result = await poller.poll_once()
    assert Stream.EVENTS not in result.failed
    events = poller.snapshot.events
    assert events is not None and len(events.saving_sessions) == 1 and events.has_joined_saving_campaign
    assert len(events.greenness) == 48  # greennessForecast, hourly (not the nightly greener nights)
    assert set(poller.snapshot.dropped) == {"PollEventsBackendGb/GreenerNights"}
    paths = _paths(fake)
    assert paths["PollEventsBackendGb"] == {BACKEND_PATH} and paths["PollGreennessGb"] == {PATH}
    assert "PollEventsGb" not in paths  # the main endpoint's stale saving sessions are not asked
    # The next hour: one request to each, the greener nights not offered to the backend again.
    before = dict(fake.stats.requests)
    clock.advance(3600)
    await poller.poll_once()
    assert fake.stats.requests["PollEventsBackendGb"] == before["PollEventsBackendGb"] + 1
    assert fake.stats.requests["PollGreennessGb"] == before["PollGreennessGb"] + 1
    sent = [r.query or "" for r in fake.requests if r.operation_name == "PollEventsBackendGb"]
    assert "greenerNightsForecast" not in sent[-1]
    # A transient failure of the main endpoint's greenness keeps the last greenness, not the stream down.
    kept = poller.snapshot.events
    fake.faults.inject("http_503", operation="PollGreennessGb", times=3)
    clock.advance(3600)
    result = await poller.poll_once()
    events = poller.snapshot.events
    assert not fake.faults.pending()  # every attempt answered 503
    assert Stream.EVENTS not in result.failed and events is not None and kept is not None
    assert events.greenness == kept.greenness and events.saving_sessions


async def test_greenness_is_empty_when_both_endpoints_reject_it(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    backend = build_schema("octopus-gb-backend")
    attach(backend)
    main = build_schema("octopus-gb")
    attach(main)
    assert backend.query_type is not None and main.query_type is not None
    del backend.query_type.fields["greenerNightsForecast"]
    del main.query_type.fields["greennessForecast"]
    fake.backend_schema, fake.schema = backend, main
    poller = Poller(_backend_client(fake, make_client), deployment="octopus-gb", clock=clock)
    result = await poller.poll_once()
    events = poller.snapshot.events
    assert Stream.EVENTS not in result.failed and events is not None
    assert events.saving_sessions and events.greenness == ()
    assert {"PollEventsBackendGb/GreenerNights", "PollGreennessGb"} <= set(poller.snapshot.dropped)
    clock.advance(3600)
    before = fake.stats.requests["PollGreennessGb"]
    await poller.poll_once()
    assert fake.stats.requests["PollGreennessGb"] == before  # dropped: not sent again


async def test_a_rejected_live_performance_costs_only_that_selection(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    schema = build_schema("octopus-gb-backend")
    attach(schema)
    assert schema.query_type is not None
    del schema.query_type.fields["heatPumpLivePerformance"]
    fake.backend_schema = schema
    poller = Poller(_backend_client(fake, make_client), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    snap = poller.snapshot
    assert snap.heat_pumps is not None
    (ctrl,) = snap.heat_pumps.controllers
    assert ctrl.zones and ctrl.cop is None
    assert set(snap.dropped) == {"PollHeatPumpLiveGb/HeatPumpLivePerformance"}
    assert _paths(fake)["PollHeatPumpLiveGb"] == {BACKEND_PATH}


async def test_transient_backend_errors_keep_the_last_heat_pump_data(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(_backend_client(fake, make_client), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    first = poller.snapshot.heat_pumps
    fake.faults.inject("http_503", operation="PollHeatPumpLiveGb", times=3)
    clock.advance(300)
    await poller.poll_once()
    snap = poller.snapshot
    assert snap.heat_pumps == first and snap.stream(Stream.HEAT_PUMPS).error is not None
    assert "PollHeatPumpLiveGb" not in snap.dropped  # a transient failure demotes nothing
    clock.advance(600)
    await poller.poll_once()
    assert poller.snapshot.stream(Stream.HEAT_PUMPS).error is None


async def test_backend_only_fields_are_never_sent_to_the_main_endpoint(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    client = make_client(endpoints={BACKEND: fake.backend_url})
    with pytest.raises(UndocumentedFieldError, match="another endpoint"):
        await client.execute(
            "PollHeatPumpLiveGb", {"accountNumber": fake.account.number, "euid": EUID}, endpoint="main"
        )
    assert "PollHeatPumpLiveGb" not in fake.stats.requests
    assert documents.load("PollHeatPumpLiveGb").root_fields == {
        "heatPumpControllerStatus",
        "heatPumpLivePerformance",
    }
