"""The entity tables' newer entities: the EV's dispatch type and Kraken-reported charge, dropped API
selections, the clock wait, the heat pump's live telemetry, the top-up amount per currency."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from kraken2mqtt.kraken.snapshot import (
    Device,
    DeviceKind,
    DispatchState,
    HeatPumpController,
    HeatPumpData,
    TrackedDispatch,
)
from kraken2mqtt.mqtt import homeassistant as ha
from tests.mqtt.conftest import TOPICS, key_of


def _device(view: ha.View, kind: DeviceKind) -> ha.HaDevice:
    assert view.snapshot.devices is not None
    dev = next(d for d in view.snapshot.devices.devices if d.kind == kind)
    return next(d for d in ha.build(view, key_of) if d.key == key_of(dev))


def _ev(view: ha.View) -> Device:
    return view.snapshot.ev_devices[0]


def _with_dispatches(view: ha.View, *dispatches: TrackedDispatch) -> ha.View:
    return replace(view, snapshot=view.snapshot.model_copy(update={"dispatches": dispatches}))


def test_the_dispatch_type_is_the_current_dispatchs_else_the_next_ones(view: ha.View) -> None:
    now, ev = view.now, _ev(view)

    def dispatch(start_h: float, kind: str | None, device: str | None = None) -> TrackedDispatch:
        start = now + timedelta(hours=start_h)
        state = DispatchState.STARTED if start <= now else DispatchState.PLANNED
        return TrackedDispatch(
            start=start, end=start + timedelta(hours=1), type=kind, state=state, device_id=device
        )

    def shown(v: ha.View) -> object:
        return ha.state_payload(_device(v, ev.kind))["dispatch_type"]

    assert shown(_with_dispatches(view)) == "none"
    assert shown(_with_dispatches(view, dispatch(2, "SMART"), dispatch(-0.5, "BOOST", ev.id))) == "boost"
    assert shown(_with_dispatches(view, dispatch(3, "TEST"), dispatch(1, "SMART"))) == "smart"
    assert shown(_with_dispatches(view, dispatch(1, "SMART", "another-device"))) == "none"
    assert shown(_with_dispatches(view, dispatch(1, None))) is None  # a source that gives no type
    comp = ha.discovery_payload(_device(view, ev.kind), TOPICS)["cmps"]["dispatch_type"]
    assert comp["device_class"] == "enum" and comp["options"] == ["none", "smart", "boost", "test"]


def test_the_evs_charge_and_power_as_kraken_reports_them(view: ha.View) -> None:
    ev = _ev(view)
    devices = view.snapshot.devices
    assert devices is not None
    changed = ev.model_copy(update={"soc_percent": Decimal("61.5"), "active_power_kw": Decimal("7.2")})
    others = tuple(d for d in devices.devices if d.id != ev.id)
    snap = view.snapshot.model_copy(
        update={"devices": devices.model_copy(update={"devices": (changed, *others)})}
    )
    state = ha.state_payload(_device(replace(view, snapshot=snap), ev.kind))
    assert (state["soc"], state["active_power"]) == (61.5, 7200)


def test_dropped_selections_are_counted_with_the_servers_messages(view: ha.View) -> None:
    snap = view.snapshot.model_copy(update={"dropped": {"PollFastGb/SmartFlexStatus": "Cannot query field"}})
    account = ha.account_device(replace(view, snapshot=snap))
    state = ha.state_payload(account)
    assert state["dropped_selections"] == 1
    assert state["dropped_selections_attributes"] == {
        "selections": {"PollFastGb/SmartFlexStatus": "Cannot query field"}
    }
    comp = ha.discovery_payload(account, TOPICS)["cmps"]["dropped_selections"]
    assert comp["entity_category"] == "diagnostic"


def test_the_clock_wait_has_its_own_topic_that_the_gate_publishes(view: ha.View) -> None:
    comp = ha.discovery_payload(ha.account_device(view), TOPICS)["cmps"]["waiting_for_clock"]
    assert comp["state_topic"] == comp["json_attributes_topic"] == "kraken2mqtt/account/clock"
    assert "waiting_for_clock" not in ha.state_payload(ha.account_device(view))
    topic, payload, retain = ha.clock_message(TOPICS, "the clock says 1970-01-01T00:00:05+00:00")
    assert (topic, retain) == ("kraken2mqtt/account/clock", True)
    assert json.loads(payload) == {
        "waiting_for_clock": "ON",
        "waiting_for_clock_attributes": {"reason": "the clock says 1970-01-01T00:00:05+00:00"},
    }
    assert json.loads(ha.clock_message(TOPICS, None)[1])["waiting_for_clock"] == "OFF"


def test_the_heat_pumps_live_telemetry_from_the_backend(view: ha.View) -> None:
    live = HeatPumpController(
        euid="00:1e:5e:09:02:ab:cd:ef",
        live_read_at=view.now,
        cop=Decimal("3.41"),
        power_input_kw=Decimal("0.82"),
        heat_output_kw=Decimal("2.8"),
        outdoor_temperature_c=Decimal("6.5"),
    )
    snap = view.snapshot.model_copy(update={"heat_pumps": HeatPumpData(controllers=(live,))})
    hp = _device(replace(view, snapshot=snap), DeviceKind.HEAT_PUMP)
    state = ha.state_payload(hp)
    assert (state["cop"], state["outdoor_temperature"], state["power_input"], state["heat_output"]) == (
        3.41,
        6.5,
        820,
        2800,
    )
    comps = ha.discovery_payload(hp, TOPICS)["cmps"]
    assert comps["cop"]["default_entity_id"] == "sensor.kraken2mqtt_heat_pump_f001_cop"
    assert comps["live_read_at"]["enabled_by_default"] is False
    # without a live read the entities are not announced
    bare = HeatPumpData(controllers=(HeatPumpController(euid="x"),))
    hp = _device(replace(view, snapshot=snap.model_copy(update={"heat_pumps": bare})), DeviceKind.HEAT_PUMP)
    assert "cop" not in ha.discovery_payload(hp, TOPICS)["cmps"]


def test_the_top_up_amount_is_whole_yen_and_monetary_in_japan(view: ha.View) -> None:
    jp = replace(view, snapshot=view.snapshot.model_copy(update={"deployment": "octopus-jp"}))
    comp = ha.discovery_payload(ha.account_device(jp), TOPICS)["cmps"]["top_up_amount"]
    assert (comp["device_class"], comp["unit_of_measurement"]) == ("monetary", "JPY")
    assert "top_up_amount_attributes" not in ha.state_payload(ha.account_device(jp))


def test_state_is_retained_before_home_assistant_learns_of_the_entities(view: ha.View) -> None:
    for dev in ha.build(view, key_of):
        topics = [topic for topic, _, _ in ha.messages(dev, TOPICS)]
        assert topics.index(TOPICS.state(dev.key)) < topics.index(TOPICS.config(dev.key))


def test_every_table_declares_each_key_once() -> None:
    tables = [
        ha.ACCOUNT_ENTITIES,
        ha.FORECAST_ENTITIES,
        ha.KRAKEN_ENTITIES
        + ha.EV_ENTITIES
        + ha.INVERTER_ENTITIES
        + ha.HEAT_PUMP_ENTITIES
        + ha.ALERT_ENTITIES,
        ha.LOCAL_ENTITIES,
    ]
    for table in tables:
        keys = [d.key for d in table if isinstance(d, ha.EntityDescription)]
        assert len(keys) == len(set(keys))
