"""What the Home Assistant publisher shows after commands (optimistic until Kraken says otherwise), and
that a re-planned but unchanged plan publishes nothing new."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from kraken2mqtt.controls import Control
from kraken2mqtt.forecast.planning import plan_forecast
from kraken2mqtt.kraken.mutations import default_key_of
from kraken2mqtt.kraken.snapshot import AutoTopupConfig, DeviceKind
from kraken2mqtt.mqtt import homeassistant as ha
from kraken2mqtt.mqtt.command_parse import CommandResult
from kraken2mqtt.mqtt.ha_publisher import PLAN_MIN_HOLD, HaPublisher
from kraken2mqtt.planner.model import ActionKind, DeviceAction, DevicePlan, Interval, Plan
from tests.mqtt.conftest import TOPICS


class Sink:
    def __init__(self) -> None:
        self.sent: dict[str, str] = {}
        self.count = 0

    async def __call__(self, topic: str, payload: str, retain: bool) -> bool:
        self.sent[topic] = payload
        self.count += 1
        return True


def heat_pump_key(view: ha.View) -> str:
    assert view.snapshot.devices is not None
    dev = next(d for d in view.snapshot.devices.devices if d.kind == DeviceKind.HEAT_PUMP)
    return default_key_of(dev)


def done(control: Control, value: object, status: str = "done") -> CommandResult:
    return CommandResult("c1", control.value, status, datetime(2026, 1, 1), value=value)  # type: ignore[arg-type]


def state(sink: Sink, key: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(sink.sent[TOPICS.state(key)])
    return loaded


async def test_a_control_kraken_never_reports_shows_the_value_last_set(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    hp = heat_pump_key(view)
    await pub.publish(view)
    assert state(sink, hp)["hot_water_boost"] == "OFF"
    assert state(sink, hp)["hot_water_mode"] == "heat_pump"
    assert pub.note_result(hp, done(Control.HOT_WATER_BOOST, True))
    await pub.publish(view)
    assert state(sink, hp)["hot_water_boost"] == "ON"  # never `unknown` after `done`
    assert state(sink, hp)["hot_water_mode"] == "high_demand"  # the water heater agrees
    assert pub.note_result(hp, done(Control.ZONE_MODE, "OFF"))
    await pub.publish(view)
    assert state(sink, hp)["zone_mode"] == "OFF"
    assert state(sink, hp)["heating_mode"] == "off"
    assert state(sink, hp)["heating_action"] == "off"


async def test_refused_and_accepted_results_change_nothing(view: ha.View) -> None:
    pub = HaPublisher(Sink(), TOPICS)
    hp = heat_pump_key(view)
    await pub.publish(view)
    assert not pub.note_result(hp, done(Control.HOT_WATER_BOOST, True, "refused"))
    assert not pub.note_result(hp, done(Control.HOT_WATER_BOOST, True, "accepted"))
    assert pub.overrides(view) == {}


async def test_top_up_amount_shows_the_set_value_until_kraken_reads_back_something_new(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    prepay = view.snapshot.prepay
    assert prepay is not None

    def with_amount(pence: int | None) -> ha.View:
        configs = () if pence is None else (AutoTopupConfig(id="c", topup_amount=pence),)
        snap = view.snapshot.model_copy(
            update={"prepay": prepay.model_copy(update={"topup_configs": configs})}
        )
        return replace(view, snapshot=snap)

    await pub.publish(with_amount(None))  # the poller did not find the account's config
    assert state(sink, "account")["top_up_amount"] is None
    pub.note_result("account", done(Control.TOP_UP_AMOUNT, 2000))
    await pub.publish(with_amount(None))
    assert state(sink, "account")["top_up_amount"] == 2000  # in pence, the unit HA sends it in
    assert (
        '"top_up_amount": 2000.0' in sink.sent[TOPICS.state("account")]
    )  # HA shows "2000.0", as after a poll
    assert state(sink, "account")["top_up_amount_attributes"] == {"amount": 20.0, "currency": "GBP"}
    await pub.publish(with_amount(2000))  # Kraken agrees
    assert state(sink, "account")["top_up_amount"] == 2000
    assert pub.overrides(with_amount(2000)) == {}
    await pub.publish(with_amount(1500))  # changed elsewhere (the app): the read-back wins
    assert state(sink, "account")["top_up_amount"] == 1500


async def test_a_lagging_read_back_does_not_take_the_value_back(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    hp = heat_pump_key(view)
    await pub.publish(view)
    before = state(sink, hp)["setpoint"]
    pub.note_result(hp, done(Control.SETPOINT, 23.5))
    await pub.publish(view)  # Kraken still reports the old setpoint
    assert state(sink, hp)["setpoint"] == 23.5 != before
    assert state(sink, hp)["heating_target"] == 23.5


def plan(now: datetime, cost: float, charge_from: int) -> Plan:
    start = now.replace(minute=0, second=0, microsecond=0)
    ivs = tuple(
        Interval(
            start + timedelta(minutes=30 * i),
            start + timedelta(minutes=30 * (i + 1)),
            DeviceAction(
                ActionKind.CHARGE if i >= charge_from else ActionKind.STOP,
                7.0 + cost / 1000,
                reason=f"{cost}",
            ),
        )
        for i in range(48)
    )
    dp = DevicePlan("ev", "ev", ivs, DeviceAction(ActionKind.STOP), f"charges, £{cost / 100:.2f}")
    return Plan(now, start, start + timedelta(hours=24), (), (dp,), cost, 0.0)


async def test_a_replanned_plan_that_does_the_same_is_not_published_again(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    now = view.now
    await pub.publish(replace(view, plan=plan(now, 150.0, 10)))
    first = sink.count
    shown = state(sink, "account")["plan_cost"]
    # a minute later the costs and powers moved a little: nothing a person would see changed
    later = now + timedelta(minutes=1)
    sent = await pub.publish(replace(view, now=later, plan=plan(later, 151.3, 10)))
    assert sent == 0 and sink.count == first
    assert state(sink, "account")["plan_cost"] == shown
    # the EV now charges an hour earlier: shown once the plan shown has been up PLAN_MIN_HOLD
    assert await pub.publish(replace(view, now=later, plan=plan(later, 140.0, 8))) == 0
    later = now + PLAN_MIN_HOLD
    sent = await pub.publish(replace(view, now=later, plan=plan(later, 140.0, 8)))
    assert sent > 0
    assert state(sink, "account")["plan_cost"] == 1.4
    document = json.loads(sink.sent[TOPICS.plan])
    assert document["devices"]["ev"]["intervals"][0]["action"] == "stop"
    # what the plan counted on per slot (sun, house load, outdoor temperature) is on the same topic
    assert document["forecast"] == plan_forecast(plan(later, 140.0, 8), later, 24)
    assert len(json.dumps(state(sink, "account")["plan_cost_attributes"])) < 2048  # far below HA's 16 KiB


async def test_a_number_set_to_an_integer_shows_as_the_read_back_will(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    assert view.snapshot.devices is not None
    ev = next(d for d in view.snapshot.devices.devices if d.is_ev)
    pub.note_result(default_key_of(ev), done(Control.TARGET_SOC, 90))
    await pub.publish(view)
    assert (
        '"target_soc": 90.0' in sink.sent[TOPICS.state(default_key_of(ev))]
    )  # HA shows "90.0", as after a poll


async def test_old_attribute_topics_are_cleared_once_per_run(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    await pub.publish(view)
    swept = {t for t, payload in sink.sent.items() if t.endswith("/attributes")}
    assert "kraken2mqtt/account/plan_cost/attributes" in swept
    assert "kraken2mqtt/ev/action/attributes" in swept
    assert all(sink.sent[t] == "" for t in swept)
    sink.sent.clear()
    pub.forget()  # a reconnect publishes everything again, but the old topics stay cleared
    await pub.publish(view)
    assert not any(t.endswith("/attributes") for t in sink.sent)


async def test_the_clock_wait_is_published_before_anything_else_and_cleared_after(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    assert await pub.publish_clock("systemd-timesyncd has not synchronised the clock yet") == 1
    assert list(sink.sent) == [TOPICS.clock]
    assert json.loads(sink.sent[TOPICS.clock])["waiting_for_clock"] == "ON"
    assert await pub.publish_clock("systemd-timesyncd has not synchronised the clock yet") == 0  # unchanged
    await pub.publish_clock(None)
    await pub.publish(view)
    assert json.loads(sink.sent[TOPICS.clock]) == {
        "waiting_for_clock": "OFF",
        "waiting_for_clock_attributes": {},
    }


async def test_a_change_of_the_action_now_is_shown_at_once(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    now = view.now
    await pub.publish(replace(view, plan=plan(now, 150.0, 10)))
    later = now + timedelta(minutes=1)
    assert await pub.publish(replace(view, now=later, plan=plan(later, 120.0, 0))) > 0  # charges now
    assert state(sink, "account")["plan_cost"] == 1.2


async def test_the_action_nows_reason_is_kept_while_the_action_is_the_same(view: ha.View) -> None:
    sink = Sink()
    pub = HaPublisher(sink, TOPICS)
    now, p = view.now, plan(view.now, 150.0, 10)

    def at(minutes: int, kind: ActionKind, reason: str) -> ha.View:
        action = DeviceAction(kind, 7.0, reason=reason)
        return replace(view, now=now + timedelta(minutes=minutes), plan=p, actions={"ev": action})

    await pub.publish(at(0, ActionKind.STOP, "waiting for 21:00-23:30 (avg 7.1p/kWh)"))
    await pub.publish(at(1, ActionKind.STOP, "waiting for 21:01-23:30 (avg 7.2p/kWh)"))
    assert state(sink, "ev")["action_attributes"]["reason"] == "waiting for 21:00-23:30 (avg 7.1p/kWh)"  # type: ignore[index]
    await pub.publish(at(2, ActionKind.CHARGE, "charging: cheapest slots"))
    assert state(sink, "ev")["action"] == "charge"
    assert state(sink, "ev")["action_attributes"]["reason"] == "charging: cheapest slots"  # type: ignore[index]
