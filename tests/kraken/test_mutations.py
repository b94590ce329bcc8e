"""Command -> Kraken mutation mapping, outcome classification, and the context built from a real poll."""

from __future__ import annotations

from typing import Any

import pytest

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.controls import Command, Control
from kraken2mqtt.kraken.client import UndocumentedFieldError
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CommandRefusedError,
    DisabledFieldError,
    KrakenError,
    KrakenValidationError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from kraken2mqtt.kraken.mutations import (
    LEGACY_HEAT_PUMP_KEY,
    CommandContext,
    KrakenCommandExecutor,
    MutationCall,
    Outcome,
    Target,
    TargetKind,
    check_target,
    classify,
    context_from_snapshot,
    controls_for,
    device_key,
    plan,
)
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.kraken.conftest import MakeClient
from tests.mqtt.command_rig import EV, demo_context


def test_device_key_is_one_safe_topic_level() -> None:
    assert device_key(EV) == EV
    assert device_key("Kf/EV+1#x") == "kf_ev_1_x"
    assert device_key("") == "device"
    assert len(device_key("a" * 100)) == 64


async def test_context_from_a_real_poll(
    fake: FakeKraken, make_client: MakeClient, clock: ManualClock
) -> None:
    poller = Poller(make_client(), deployment="octopus-gb", clock=clock)
    await poller.poll_once()
    ctx = context_from_snapshot(poller.snapshot, deployment="octopus-gb", local_devices=["relay1"])
    assert ctx.ready and ctx.account_number == "A-SANDBOX1"
    ev = ctx.targets[EV]
    assert (ev.kind, ev.is_ev, ev.target_soc, ev.ready_by) == (TargetKind.SMARTFLEX, True, 80, "07:00")
    assert controls_for(ev) == {Control.BOOST, Control.SMART_CONTROL, Control.TARGET_SOC, Control.READY_BY}
    heat_pump = ctx.targets["00000000-0000-4000-8000-00000000f001"]
    assert Control.SETPOINT in controls_for(heat_pump) and Control.BOOST not in controls_for(heat_pump)
    assert controls_for(ctx.targets["account"]) == {Control.TOP_UP_AMOUNT, Control.REFRESH}
    assert controls_for(ctx.targets["relay1"]) == {Control.PLANNER_MODE}
    custom = context_from_snapshot(
        poller.snapshot, deployment="octopus-gb", key_of=lambda d: f"k_{d.id[-4:]}"
    )
    assert "k_e001" in custom.targets, sorted(custom.targets)


def test_context_before_the_first_poll_asks_to_retry() -> None:
    ctx = context_from_snapshot(None, deployment="octopus-gb", local_devices=["relay1"])
    assert not ctx.ready
    assert check_target(Command("ev", Control.BOOST, True), ctx) == Outcome("retry", "devices not known yet")
    assert isinstance(check_target(Command("relay1", Control.PLANNER_MODE, "off"), ctx), Target)


def test_smartflex_heat_pump_controls_use_the_account_scoped_mutations() -> None:
    hp = Target("hp", TargetKind.SMARTFLEX, "hp-id", is_heat_pump=True)
    ctx = CommandContext("octopus-gb", "A-1", {"hp": hp})
    call = plan(Command("hp", Control.SETPOINT, 21.0), hp, ctx)
    assert call == MutationCall(
        "SetRoomTemperature", {"input": {"accountNumber": "A-1", "temperature": "21.0"}}
    )
    call = plan(Command("hp", Control.SMART_CONTROL, False), hp, ctx)
    assert isinstance(call, MutationCall) and call.document == "UpdateDeviceSmartControl"


def test_preferences_need_the_other_half() -> None:
    ev = Target("ev", TargetKind.SMARTFLEX, "ev-id", is_ev=True)
    ctx = CommandContext("octopus-gb", "A-1", {"ev": ev})
    outcome = plan(Command("ev", Control.TARGET_SOC, 90), ev, ctx)
    assert isinstance(outcome, Outcome) and outcome.status == "invalid"
    call = plan(Command("ev", Control.TARGET_SOC, 90), ev, ctx, prefs=(80, "06:00"))
    assert isinstance(call, MutationCall)
    assert {(s["time"], s["max"]) for s in call.variables["input"]["schedules"]} == {("06:00", 90.0)}


def test_a_deployment_without_the_mutation_makes_it_invalid() -> None:
    ctx = demo_context("red-energy-au")
    outcome = plan(Command(EV, Control.BOOST, True), ctx.targets[EV], ctx)
    assert outcome == Outcome("invalid", "updateBoostCharge is not available on red-energy-au")


def test_legacy_commands_wait_for_the_account_number() -> None:
    ctx = CommandContext("octopus-gb", None, demo_context().targets)
    outcome = plan(
        Command(LEGACY_HEAT_PUMP_KEY, Control.ZONE_MODE, "ON"), ctx.targets[LEGACY_HEAT_PUMP_KEY], ctx
    )
    assert isinstance(outcome, Outcome) and outcome.status == "retry"


LEGACY_SUSPEND = MutationCall("SuspendControl", {}, frozenset({"KT-CT-4358"}))

CLASSIFY: list[tuple[Exception, int, MutationCall | None, Outcome]] = [
    (
        CommandRefusedError("no", code="KT-CT-4357", extensions={"boostChargeRefusalReasons": ["BC_X"]}),
        1,
        None,
        Outcome("refused", "KT-CT-4357: no", ("BC_X",)),
    ),
    (
        CommandRefusedError("already", code="KT-CT-4358"),
        1,
        LEGACY_SUSPEND,
        Outcome("refused", "KT-CT-4358: already"),
    ),
    (
        CommandRefusedError("already", code="KT-CT-4358"),
        2,
        LEGACY_SUSPEND,
        Outcome("done", "already in the requested state"),
    ),
    (KrakenValidationError("bad", code="KT-CT-4321"), 1, None, Outcome("invalid", "KT-CT-4321: bad")),
    (
        KrakenValidationError("bad", code="KT-CT-4321", extensions={"errorDescription": "max 100"}),
        1,
        None,
        Outcome("invalid", "KT-CT-4321: bad max 100"),
    ),
    (NotFoundError("gone", code="KT-CT-4301"), 1, None, Outcome("invalid", "KT-CT-4301: gone")),
    (UndocumentedFieldError("x"), 1, None, Outcome("invalid", "not available on this deployment")),
    (RateLimitedError("slow", retry_after=42.0), 1, None, Outcome("retry", "rate limited", retry_after=42.0)),
    (
        AuthBackoffError("wait", retry_in=9.0),
        1,
        None,
        Outcome("retry", "authentication backing off", retry_after=9.0),
    ),
    (AuthError("no"), 1, None, Outcome("retry", "authentication failed")),
    (DisabledFieldError("off", code="KT-CT-1113"), 1, None, Outcome("retry", "field disabled (brownout?)")),
    (DisabledFieldError("off", code="KT-CT-1113"), 3, None, Outcome("refused", "KT-CT-1113: off")),
    (TransportError("down"), 1, None, Outcome("retry", "down")),
    (ServerError("HTTP 503", status=503), 1, None, Outcome("retry", "HTTP 503")),
    (ProtocolError("junk"), 1, None, Outcome("retry", "junk")),
    (KrakenError("odd", code="KT-CT-9999"), 1, None, Outcome("refused", "KT-CT-9999: odd")),
    (RuntimeError("bug"), 1, None, Outcome("retry", "unexpected error RuntimeError")),
]


@pytest.mark.parametrize(("exc", "attempt", "call", "expected"), CLASSIFY)
def test_classify(exc: Exception, attempt: int, call: MutationCall | None, expected: Outcome) -> None:
    assert classify(exc, attempt=attempt, call=call) == expected


async def test_executor_keeps_what_it_set_for_the_next_preference_change(
    fake: FakeKraken, make_client: MakeClient
) -> None:
    executor = KrakenCommandExecutor(make_client(), demo_context)
    assert await executor.execute(Command(EV, Control.TARGET_SOC, 90), attempt=1) == Outcome("done")
    assert await executor.execute(Command(EV, Control.READY_BY, "05:30"), attempt=1) == Outcome("done")
    last: dict[str, Any] = fake.mutations[-1][1]
    assert {(s["time"], s["max"]) for s in last["schedules"]} == {("05:30", 90.0)}


async def test_executor_reports_missing_ledger(fake: FakeKraken, make_client: MakeClient) -> None:
    fake.account.ledgers.clear()
    executor = KrakenCommandExecutor(make_client(), demo_context)
    outcome = await executor.execute(Command("account", Control.TOP_UP_AMOUNT, 2000), attempt=1)
    assert outcome == Outcome("invalid", "the account has no ledger for an auto top-up")
    assert fake.mutations == []
