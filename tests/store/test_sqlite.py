from __future__ import annotations

import os
import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kraken2mqtt.kraken.snapshot import (
    AccountInfo,
    Device,
    DeviceKind,
    DevicesData,
    DispatchState,
    InverterTelemetry,
    PriceSlot,
    PriceTimeline,
    RateLimitData,
    Snapshot,
    Stream,
    TariffKind,
    Tariffs,
    TrackedDispatch,
)
from kraken2mqtt.kraken.snapshot_store import SnapshotStore
from kraken2mqtt.kraken.tokens import TokenSet
from kraken2mqtt.store import SqliteTokenStore, StateStore
from kraken2mqtt.store.database import SCHEMA_VERSION
from tests.timing import scaled

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _snapshot(at: datetime = T0) -> Snapshot:
    snap = Snapshot(deployment="octopus-gb", account_number="A-1")
    tl = PriceTimeline(
        kind=TariffKind.HALF_HOURLY,
        slots=(PriceSlot(start=at, end=at + timedelta(minutes=30), value=Decimal("12.34")),),
    )
    snap = snap.with_data(Stream.ACCOUNT, at, account=AccountInfo(number="A-1"))
    snap = snap.with_data(Stream.TARIFFS, at, tariffs=Tariffs.model_validate({"import": tl}))
    snap = snap.with_data(
        Stream.DEVICES, at, devices=DevicesData(devices=(Device(id="ev", kind=DeviceKind.VEHICLE),))
    )
    snap = snap.with_data(Stream.RATE_LIMIT, at, rate_limit=RateLimitData(limit=100, remaining=99))
    return snap.with_data(
        Stream.DISPATCHES,
        at,
        dispatches=(
            TrackedDispatch(
                start=at + timedelta(hours=1), end=at + timedelta(hours=2), delta_kwh=Decimal("-1.5")
            ),
        ),
    )


def test_file_mode_wal_and_schema_version(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state") as store:
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
        assert store.schema_version == SCHEMA_VERSION
        assert store.database.pragma("journal_mode") == "wal"
        assert store.database.pragma("synchronous") == 1  # NORMAL


def test_newer_schema_refused(tmp_path: Path) -> None:
    StateStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "kraken2mqtt.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        StateStore(tmp_path)


def test_snapshot_round_trip(tmp_path: Path) -> None:
    snap = _snapshot()
    with StateStore(tmp_path) as store:
        assert store.save_snapshot(snap, T0)
    with StateStore(tmp_path) as store:
        loaded = store.load_snapshot("octopus-gb", "A-1")
        assert loaded is not None
        assert loaded.account == snap.account
        assert loaded.tariffs == snap.tariffs
        assert loaded.devices == snap.devices
        assert loaded.dispatches == snap.dispatches
        assert loaded.rate_limit is None  # not persisted (changes every poll)
        assert loaded.age(Stream.DEVICES, T0 + timedelta(minutes=5)) == 300.0
        assert store.load_snapshot("octopus-de") is None
        assert store.load_snapshot("octopus-gb", "A-OTHER") is None


def test_writes_only_what_changed(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        snap = _snapshot()
        assert store.save_snapshot(snap, T0)
        writes = store.writes
        # same data re-fetched a minute later (rate limit moved): no write
        later = T0 + timedelta(minutes=1)
        again = snap.with_data(Stream.DEVICES, later, devices=snap.devices).with_data(
            Stream.RATE_LIMIT, later, rate_limit=RateLimitData(limit=100, remaining=50)
        )
        assert not store.save_snapshot(again, later)
        assert store.writes == writes
        # a change is written
        changed = again.with_data(Stream.DEVICES, later, devices=DevicesData())
        assert store.save_snapshot(changed, later)
        # heartbeat: unchanged data still refreshes its timestamp after HEARTBEAT
        much_later = T0 + timedelta(minutes=65)
        beat = changed.with_data(Stream.DEVICES, much_later, devices=DevicesData())
        assert store.save_snapshot(beat, much_later)
        loaded = store.load_snapshot("octopus-gb")
        assert loaded is not None and loaded.stream(Stream.DEVICES).fetched_at == much_later


def test_dispatch_history_kept_48h_then_pruned(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        old = TrackedDispatch(start=T0, end=T0 + timedelta(hours=1), state=DispatchState.COMPLETED)
        snap = Snapshot(deployment="octopus-gb").with_data(Stream.DISPATCHES, T0, dispatches=(old,))
        store.save_snapshot(snap, T0)
        # a later snapshot no longer carries it (the tracker forgot it) — the history still has it
        store.save_snapshot(snap.with_data(Stream.DISPATCHES, T0 + timedelta(hours=2), dispatches=()), T0)
        assert store.load_dispatches() == [old]
        newer = TrackedDispatch(start=T0 + timedelta(hours=50), end=T0 + timedelta(hours=51))
        store.save_snapshot(
            snap.with_data(Stream.DISPATCHES, T0, dispatches=(newer,)), T0 + timedelta(hours=50)
        )
        assert store.load_dispatches() == [newer]


def test_kv_and_token_store(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        store.set("a", "1")
        writes = store.writes
        store.set("a", "1")
        assert store.writes == writes
        assert store.get("a") == "1"
        store.set("a", None)
        assert store.get("a") is None
        tokens = SqliteTokenStore(store)
        assert tokens.load() is None
        ts = TokenSet(
            token="tok", expires_at=1.0, refresh_token="ref", refresh_expires_at=2.0, fingerprint="f"
        )
        tokens.save(ts)
        assert tokens.load() == ts
        tokens.save(None)
        assert tokens.load() is None
        store.set(SqliteTokenStore.KEY, "not json")
        assert tokens.load() is None


def test_unreadable_stream_is_skipped(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        store.save_snapshot(_snapshot(), T0)
        with store.database.transaction() as db:
            db.execute("UPDATE snapshot_stream SET data = '{\"devices\": 5}' WHERE name = 'devices'")
        loaded = store.load_snapshot("octopus-gb")
        assert loaded is not None and loaded.devices is None and loaded.account is not None


def test_live_measurements_wait_for_the_heartbeat(tmp_path: Path) -> None:
    def with_soc(snap: Snapshot, at: datetime, soc: str) -> Snapshot:
        dev = Device(
            id="inv", kind=DeviceKind.INVERTER, telemetry=InverterTelemetry(battery_soc=Decimal(soc))
        )
        return snap.with_data(Stream.DEVICES, at, devices=DevicesData(devices=(dev,)))

    with StateStore(tmp_path) as store:
        snap = with_soc(Snapshot(deployment="octopus-gb"), T0, "50")
        assert store.save_snapshot(snap, T0)
        t1 = T0 + timedelta(minutes=5)
        assert not store.save_snapshot(with_soc(snap, t1, "51"), t1)
        t2 = T0 + timedelta(minutes=61)
        assert store.save_snapshot(with_soc(snap, t2, "58"), t2)
        loaded = store.load_snapshot("octopus-gb")
        assert loaded is not None and loaded.devices is not None
        telemetry = loaded.devices.devices[0].telemetry
        assert telemetry is not None and telemetry.battery_soc == Decimal("58")


def test_the_state_store_is_the_pollers_snapshot_store(tmp_path: Path) -> None:
    # mypy checks the assignment: StateStore implements the protocol the poller depends on
    with StateStore(tmp_path) as state:
        store: SnapshotStore = state
        assert store.save_snapshot(_snapshot(), T0)
        loaded = store.load_snapshot("octopus-gb", "A-1")
        assert loaded is not None and loaded.account_number == "A-1"
        assert store.load_snapshot("octopus-de") is None


def test_kv_writes_never_wait_for_another_connections_lock(tmp_path: Path) -> None:
    """The loop's key-value writes (task state, device status, forecasts, tokens) under a foreign write
    lock: ``set`` returns at once, ``get`` reads the value back, and the next ``set`` after the lock is gone
    (or ``close``) writes everything kept back."""
    with StateStore(tmp_path) as store:
        store.set("kept", "0")
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        store.set("a", "1")
        store.set("kept", None)
        assert time.monotonic() - start < scaled(0.5)  # two slices, not two busy timeouts
        assert store.get("a") == "1" and store.get("kept") is None and store.unsaved == 2
        other.execute("ROLLBACK")
        assert other.execute("SELECT count(*) FROM kv WHERE key = 'a'").fetchone()[0] == 0
        store.set("b", "2")  # the lock is gone: all three are written
        assert store.unsaved == 0
        assert dict(other.execute("SELECT key, value FROM kv").fetchall()) == {"a": "1", "b": "2"}
        other.execute("BEGIN IMMEDIATE")
        store.set("c", "3")
        other.execute("ROLLBACK")
        other.close()
    with StateStore(tmp_path) as store:  # close() wrote it
        assert store.get("c") == "3" and store.unsaved == 0


def test_a_snapshot_save_retries_the_kv_writes_kept_back(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        store.set("a", "1")
        other.execute("ROLLBACK")
        other.close()
        assert store.unsaved == 1
        assert store.save_snapshot(_snapshot(), T0)
        assert store.unsaved == 0
