"""A device's counts of the day, and so its flash budget, survive a restart (store/device_days.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from kraken2mqtt.devices.base import Message
from kraken2mqtt.devices.config import DeviceConfig
from kraken2mqtt.devices.driver import DeviceDriver
from kraken2mqtt.devices.guard import DeviceDay
from kraken2mqtt.store.database import Database
from kraken2mqtt.store.device_days import SqliteDeviceDays
from tests.devices.helpers import T0, act

CONFIG: TypeAdapter[DeviceConfig] = TypeAdapter(DeviceConfig)
HEAT_PUMP: dict[str, Any] = {
    "id": "hp",
    "kind": "heat_pump",
    "adapter": "ebusd",  # a setpoint write is kept in the controller's EEPROM
    "circuit": "700",
    "setpoint": "z1DayTemp",
    "default_c": 20.0,
    "off_c": 17.0,
    "max_persistent_writes_per_day": 2,
    "min_dwell_minutes": 0,
    "min_run_minutes": 0,
}


class Process:
    """One run of the daemon's device side on the state file."""

    def __init__(self, db: Database, sent: list[str]) -> None:
        self.now = T0
        self.sent = sent
        self.driver = DeviceDriver(
            [CONFIG.validate_python(HEAT_PUMP)],
            publish=self._publish,
            now=lambda: self.now,
            days=SqliteDeviceDays(db),
        )

    async def _publish(self, m: Message) -> bool:
        self.sent.append(m.payload if isinstance(m.payload, str) else m.payload.decode())
        return True

    async def heat(self, at: timedelta, setpoint: float) -> None:
        self.now = T0 + at
        await self.driver.apply({"hp": act("heat", setpoint_c=setpoint)})


async def test_a_restart_does_not_reset_the_flash_budget(tmp_path: Path) -> None:
    sent: list[str] = []
    with Database(tmp_path / "kraken2mqtt.db") as db:
        first = Process(db, sent)
        await first.heat(timedelta(0), 18.0)
        await first.heat(timedelta(hours=1), 19.0)
        assert sent == ["18", "19"]  # the day's budget of two EEPROM writes is spent
    with Database(tmp_path / "kraken2mqtt.db") as db:  # the next process, the same day
        second = Process(db, sent)
        await second.heat(timedelta(hours=2), 21.0)
        assert sent == ["18", "19"]
        assert "flash budget reached" in str(second.driver.reported()["hp"].result)
        (status,) = second.driver.status()
        assert status["persistent_today"] == 2 and status["sent_today"]["change"] == 2
        await second.heat(timedelta(days=1), 22.0)  # a new day: a new budget
        assert sent == ["18", "19", "22"]
    with Database(tmp_path / "kraken2mqtt.db") as db:
        (day,) = SqliteDeviceDays(db).load_days().values()
        assert day.day == (T0 + timedelta(days=1)).date() and day.persistent == 1 and not day.budget_hit


def test_days_round_trip_and_a_bad_row_costs_its_device_only(tmp_path: Path) -> None:
    with Database(tmp_path / "kraken2mqtt.db") as db:
        days = SqliteDeviceDays(db)
        record = DeviceDay(date(2026, 12, 2), {"change": 3, "keepalive": 1, "release": 0}, 2, True)
        days.save_day("hp", record)
        days.save_day("r", DeviceDay(date(2026, 12, 2), {"change": 1}, 0))
        with db.transaction() as c:
            c.execute("UPDATE device_day SET counts = 'not json' WHERE device = 'r'")
        assert days.load_days() == {"hp": record}
