"""The driver keeps devices in people's hands (devices/driver.py, devices/guard.py; issue 12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from kraken2mqtt.devices.base import Message
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.devices.driver import DeviceDriver
from kraken2mqtt.planner.model import ActionKind, DeviceAction
from kraken2mqtt.settings import ConfigError, load_settings
from tests.devices.helpers import T0, act

CONFIG: TypeAdapter[DeviceConfig] = TypeAdapter(DeviceConfig)


class Rig:
    def __init__(self, *devices: dict[str, Any]) -> None:
        self.now = T0
        self.sent: list[tuple[str, str]] = []
        self.driver = DeviceDriver(
            [CONFIG.validate_python(d) for d in devices], publish=self._publish, now=lambda: self.now
        )

    async def _publish(self, m: Message) -> bool:
        self.sent.append((m.topic, m.payload if isinstance(m.payload, str) else m.payload.decode()))
        return True

    def feed(self, device: str, topic: str, payload: str) -> None:
        self.driver.adapters[device].on_message(topic, payload.encode(), self.now)
        self.driver._watch(device, self.now)

    async def apply(self, device: str, kind: str, minutes: float = 0, **kw: Any) -> list[tuple[str, str]]:
        self.now = T0 + timedelta(minutes=minutes)
        self.sent.clear()
        await self.driver.apply({device: act(kind, **kw)})
        return list(self.sent)


RELAY = {"id": "r", "kind": "relay", "adapter": "tasmota", "topic": "t1"}
EBUSD = {
    "id": "hp",
    "kind": "heat_pump",
    "adapter": "ebusd",
    "circuit": "700",
    "setpoint": "z1DayTemp",
    "default_c": 20.0,
    "off_c": 17.0,
}


async def test_unplanned_device_gets_nothing_and_release_is_once() -> None:
    rig = Rig(RELAY)
    rig.feed("r", "stat/t1/POWER", "ON")  # the person switched it on
    for minute in range(0, 600, 1):
        assert await rig.apply("r", "follow_kraken", minute) == []  # issue 12: was OFF every pass
    assert await rig.apply("r", "on", 600) == []  # already on
    rig.feed("r", "stat/t1/POWER", "ON")
    assert await rig.apply("r", "off", 700) == [("cmnd/t1/POWER", "OFF")]
    rig.feed("r", "stat/t1/POWER", "OFF")
    assert await rig.apply("r", "on", 720) == [("cmnd/t1/POWER", "ON")]
    rig.feed("r", "stat/t1/POWER", "ON")
    assert await rig.apply("r", "follow_kraken", 730) == [("cmnd/t1/POWER", "OFF")]  # one release
    assert await rig.apply("r", "follow_kraken", 731) == []
    assert rig.driver.counts("r") == {"change": 1, "keepalive": 0, "release": 1}  # today (after midnight)


async def test_a_persons_change_is_held_and_shown() -> None:
    rig = Rig(RELAY)
    assert await rig.apply("r", "on", 0) == [("cmnd/t1/POWER", "ON")]
    rig.feed("r", "stat/t1/POWER", "ON")
    rig.now = T0 + timedelta(minutes=10)
    rig.feed("r", "stat/t1/POWER", "OFF")  # by hand
    assert rig.driver.reported()["r"].control == "overridden by hand until 14:10"  # 12:10 + 2 h
    for minute in range(10, 130):
        assert await rig.apply("r", "on", minute) == []  # never fought
    assert await rig.apply("r", "on", 131) == [("cmnd/t1/POWER", "ON")]  # the hold is over


async def test_setpoint_hysteresis_and_heat_pump_run_times() -> None:
    rig = Rig(EBUSD)
    assert await rig.apply("hp", "heat", 0, setpoint_c=19.8) == [("ebusd/700/z1DayTemp/set", "20")]
    rig.feed("hp", "ebusd/700/z1DayTemp", "20")
    # issue 12: 19.8 / 19.7 °C rounded to 20 / 19.5 in turn: no flip-back
    for minute, sp in ((5, 19.7), (10, 19.8), (15, 19.7), (20, 19.74)):
        assert await rig.apply("hp", "heat", minute, setpoint_c=sp) == []
    assert await rig.apply("hp", "hold", 5, setpoint_c=19.5) == []  # within the 0.75 °C hysteresis
    assert await rig.apply("hp", "hold", 20, setpoint_c=19.0) == []  # the 30-minute dwell
    assert await rig.apply("hp", "hold", 31, setpoint_c=19.0) == [("ebusd/700/z1DayTemp/set", "19")]
    rig.feed("hp", "ebusd/700/z1DayTemp", "19")
    assert await rig.apply("hp", "heat", 40, setpoint_c=21.0) == []
    assert await rig.apply("hp", "heat", 61, setpoint_c=21.0) == [("ebusd/700/z1DayTemp/set", "21")]


async def test_a_setpoint_a_person_set_applies_at_once() -> None:
    """mqtt/holds.py: a setpoint set from Home Assistant on the Kraken side of the same pump; the local side
    holds it there at once: no dwell, no hysteresis."""
    rig = Rig(EBUSD)
    assert await rig.apply("hp", "hold", 0, setpoint_c=20.0) == [("ebusd/700/z1DayTemp/set", "20")]
    rig.feed("hp", "ebusd/700/z1DayTemp", "20")
    rig.now = T0 + timedelta(minutes=5)
    rig.sent.clear()
    held = DeviceAction(ActionKind.HOLD, setpoint_c=20.5, reason="held for you until 16:02: setpoint 20.5 °C")
    await rig.driver.apply({"hp": held})
    assert rig.sent == [("ebusd/700/z1DayTemp/set", "20.5")]


async def test_on_off_heat_pump_keeps_min_run_off_and_starts_per_hour() -> None:
    rig = Rig({"id": "d", "kind": "heat_pump", "adapter": "espaltherma", "min_off_minutes": 10})
    assert await rig.apply("d", "heat", 0) == [("espaltherma/sg/set", "2")]
    rig.feed("d", "espaltherma/sg/state", "2")
    assert await rig.apply("d", "hold", 20) == []  # minimum run: 30 min
    assert await rig.apply("d", "hold", 30) == [("espaltherma/sg/set", "0")]
    rig.feed("d", "espaltherma/sg/state", "0")
    assert await rig.apply("d", "heat", 35) == []  # minimum off: 10 min
    assert await rig.apply("d", "heat", 40) == [("espaltherma/sg/set", "2")]


async def test_release_all_restores_the_persons_setpoint() -> None:
    rig = Rig(EBUSD)
    rig.feed("hp", "ebusd/700/z1DayTemp", "21.5")  # the person's own setting
    await rig.apply("hp", "heat", 0, setpoint_c=23.0)
    rig.feed("hp", "ebusd/700/z1DayTemp", "23")
    rig.sent.clear()
    assert await rig.driver.release_all() == 1
    assert rig.sent == [("ebusd/700/z1DayTemp/set", "21.5")]
    rig.sent.clear()
    assert await rig.driver.release_all() == 0


async def test_flash_budget_caps_persistent_writes() -> None:
    rig = Rig({**EBUSD, "max_persistent_writes_per_day": 2, "min_dwell_minutes": 0, "min_run_minutes": 0})
    writes = 0
    for i in range(10):
        writes += len(await rig.apply("hp", "heat", i * 60, setpoint_c=18.0 + i))
    assert writes == 2
    assert "flash budget reached" in str(rig.driver.reported()["hp"].result)


async def test_ebusd_write_without_read_back_is_an_error() -> None:
    rig = Rig(EBUSD)
    await rig.apply("hp", "heat", 0, setpoint_c=21.0)
    await rig.apply("hp", "heat", 3, setpoint_c=21.0)
    assert rig.driver.reported()["hp"].result == "error: setpoint 21 °C written, not read back within 120 s"


async def test_battery_mode_dwells_unless_the_price_changes_sign() -> None:
    rig = Rig({"id": "b", "kind": "battery", "adapter": "evcc"})
    rig.now = T0
    await rig.driver.apply({"b": act("charge")}, import_p=5.0)
    rig.sent.clear()
    rig.now = T0 + timedelta(minutes=2)
    await rig.driver.apply({"b": act("hold")}, import_p=6.0)
    assert rig.sent == [("evcc/site/batteryMode/set", "charge")]  # its keepalive: 10 minutes' dwell
    rig.sent.clear()
    await rig.driver.apply({"b": act("discharge")}, import_p=-1.0)
    assert rig.sent == [("evcc/site/batteryMode/set", "normal")]


@pytest.mark.parametrize(
    ("device", "planner", "needle"),
    [
        ({"id": "b", "kind": "battery", "adapter": "evcc", "keepalive_seconds": 30}, {}, "evcc's 60 s"),
        (
            {"id": "t", "kind": "relay", "adapter": "tasmota", "topic": "t", "pulse_time_seconds": 60},
            {},
            "chatter",
        ),
        ({"id": "g", "kind": "ev", "adapter": "goe", "serial": "1"}, {"reconcile_seconds": 400}, "10-minute"),
    ],
)
def test_deadman_periods_are_checked_against_the_reconcile_interval(
    device: dict[str, Any], planner: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(None, devices=[device], planner=planner)


async def test_status_per_device_counts_by_kind() -> None:
    saved: list[str] = []
    rig = Rig(RELAY)
    rig.driver._save_status = saved.append
    await rig.apply("r", "on", 0)
    rig.feed("r", "stat/t1/POWER", "ON")
    await rig.apply("r", "follow_kraken", 10)
    (entry,) = rig.driver.status()
    assert entry["sent_today"] == {"change": 1, "keepalive": 0, "release": 1}
    assert entry["control"] == "released: the device's own logic"
    assert saved and '"release":1' in saved[-1]
