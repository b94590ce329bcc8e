"""Each device's counts of the day (:class:`~kraken2mqtt.devices.guard.DeviceDay`), in the state file: the
driver's :class:`~kraken2mqtt.devices.driver.DayStore`. A restart (a crash loop, an update) must not hand a
device a fresh daily budget of flash writes."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from datetime import date

import structlog

from kraken2mqtt.devices.guard import DeviceDay
from kraken2mqtt.store.database import Database

log = structlog.get_logger(__name__)


class SqliteDeviceDays:
    def __init__(self, database: Database) -> None:
        self.database = database

    def load_days(self) -> Mapping[str, DeviceDay]:
        out: dict[str, DeviceDay] = {}
        for r in self.database.rows("SELECT device, day, counts, persistent, budget_hit FROM device_day"):
            try:
                counts = json.loads(r["counts"])
                out[str(r["device"])] = DeviceDay(
                    date.fromisoformat(str(r["day"])),
                    {str(k): int(v) for k, v in counts.items()},
                    int(r["persistent"]),
                    bool(r["budget_hit"]),
                )
            except (ValueError, TypeError, AttributeError, sqlite3.Error) as exc:  # one bad row: that device
                log.warning("store.device_day_unreadable", device=str(r["device"]), error=str(exc)[:200])
        return out

    def save_day(self, device: str, record: DeviceDay) -> None:
        """Called on the event loop: one try (``wait=0``), so a file locked by another connection costs a
        slice, not the busy timeout; the driver saves again with the next count (or warns)."""
        with self.database.transaction(wait=0) as c:
            c.execute(
                "INSERT INTO device_day (device, day, counts, persistent, budget_hit, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET day = excluded.day, "
                "counts = excluded.counts, persistent = excluded.persistent, "
                "budget_hit = excluded.budget_hit, updated_at = excluded.updated_at",
                (
                    device,
                    record.day.isoformat(),
                    json.dumps(dict(record.counts), sort_keys=True),
                    record.persistent,
                    int(record.budget_hit),
                    time.time(),
                ),
            )
