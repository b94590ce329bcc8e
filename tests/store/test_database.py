"""The one owner of the SQLite file: connection policy, ordered migrations, old files migrated in place."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kraken2mqtt.controls import Command, Control
from kraken2mqtt.kraken.snapshot import AccountInfo, Snapshot, Stream
from kraken2mqtt.store.command_queue import CommandQueue, PlannerOverrides
from kraken2mqtt.store.database import (
    BUSY_SLICE_MS,
    BUSY_TIMEOUT_MS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Database,
    Migration,
    SchemaTooNewError,
    is_busy,
)
from kraken2mqtt.store.sqlite import StateStore
from tests.timing import scaled

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

# The layout written before the database module existed (kraken2mqtt at commit e88c481): StateStore's
# migration 1 (user_version 1) and, over a second connection to the same file, the CommandQueue's
# CREATE TABLE IF NOT EXISTS schema, which never touched user_version.
OLD_STATE_SCHEMA = """
CREATE TABLE snapshot_stream (name TEXT PRIMARY KEY, fetched_at REAL, data TEXT NOT NULL);
CREATE TABLE dispatch (start REAL PRIMARY KEY, end REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX dispatch_end ON dispatch(end);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
PRAGMA user_version = 1;
"""
OLD_QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_command (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    control TEXT NOT NULL,
    command TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('accepted', 'in_flight', 'done', 'refused', 'invalid')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_error TEXT,
    reason TEXT,
    reasons TEXT
);
CREATE INDEX IF NOT EXISTS pending_command_due ON pending_command(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS planner_override (
    device TEXT PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('auto', 'force_on', 'off')),
    updated_at REAL NOT NULL
);
"""
OLD_STATE_ROWS = """
INSERT INTO snapshot_stream VALUES ('_meta', NULL,
    '{"deployment": "octopus-gb", "account_number": "A-1", "mode": "full"}');
INSERT INTO snapshot_stream VALUES ('account', 1768478400.0, '{"number": "A-1"}');
INSERT INTO kv VALUES ('k', 'v', 1.0);
"""
OLD_QUEUE_ROWS = """
INSERT INTO pending_command (id, device, control, command, state, attempts, created_at, updated_at,
    next_attempt_at, expires_at) VALUES ('c1', 'ev', 'boost',
    '{"device": "ev", "control": "boost", "value": true}', 'in_flight', 1, 1.0, 2.0, 1.0, 9e9);
INSERT INTO planner_override VALUES ('relay1', 'off', 1.0);
"""


def _old_file(path: Path, *scripts: str) -> None:
    db = sqlite3.connect(path)
    for script in scripts:
        db.executescript(script)
    db.close()


def _tables(db: Database) -> set[str]:
    return {str(r["name"]) for r in db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_connection_policy(tmp_path: Path) -> None:
    with Database(tmp_path / "state" / "x.db") as db:
        assert stat.S_IMODE(os.stat(db.path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(db.path.parent).st_mode) == 0o700
        assert db.pragma("journal_mode") == "wal"
        assert db.pragma("synchronous") == 1  # NORMAL
        assert db.pragma("foreign_keys") == 1
        assert db.pragma("busy_timeout") == BUSY_SLICE_MS  # a slice; transactions wait longer (below)
        for suffix in ("-wal", "-shm"):
            companion = Path(str(db.path) + suffix)
            if companion.exists():
                assert stat.S_IMODE(companion.stat().st_mode) == 0o600
        row = db.row("SELECT 1 AS one")
        assert row is not None and row["one"] == 1  # rows are read by column name


def test_a_new_file_gets_every_migration(tmp_path: Path) -> None:
    with Database(tmp_path / "x.db") as db:
        assert db.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert _tables(db) == {
            "snapshot_stream",
            "dispatch",
            "kv",
            "pending_command",
            "planner_override",
            "device_day",  # issue 12: the flash budget survives a restart
        }


def test_the_old_two_connection_layout_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "kraken2mqtt.db"
    _old_file(path, OLD_STATE_SCHEMA, OLD_QUEUE_SCHEMA, OLD_STATE_ROWS, OLD_QUEUE_ROWS)
    with StateStore(tmp_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get("k") == "v"
        snap = store.load_snapshot("octopus-gb", "A-1")
        assert snap is not None and snap.account == AccountInfo(number="A-1")
        queue = CommandQueue(store.database)
        [pending] = queue.pending()
        assert (pending.id, pending.state) == ("c1", "in_flight")
        assert pending.command == Command("ev", Control.BOOST, True)
        assert PlannerOverrides(queue).all() == {"relay1": "off"}
        # and it keeps working: a new command and a new snapshot in the migrated file
        queue.add(Command("ev", Control.TARGET_SOC, 80), now=3.0, ttl=60)
        snap2 = Snapshot(deployment="octopus-gb", account_number="A-1").with_data(
            Stream.ACCOUNT, T0, account=AccountInfo(number="A-1", product_codes=("AGILE",))
        )
        assert store.save_snapshot(snap2, T0)
    with StateStore(tmp_path) as store:
        assert len(CommandQueue(store.database).pending()) == 2


def test_an_old_queue_only_file_opens_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    _old_file(path, OLD_QUEUE_SCHEMA, OLD_QUEUE_ROWS)  # user_version 0, command tables only
    queue = CommandQueue(path)
    assert queue.database.schema_version == SCHEMA_VERSION
    assert [p.id for p in queue.pending()] == ["c1"]
    assert _tables(queue.database) >= {"snapshot_stream", "kv"}
    queue.close()


def test_store_and_queue_opening_a_new_file_together(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store, Database(store.path) as second:
        assert store.schema_version == second.schema_version == SCHEMA_VERSION


def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Database(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaTooNewError, match="newer"):
        Database(path)


def test_a_failing_migration_leaves_the_file_at_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    good = Migration("one", ("CREATE TABLE a (x INTEGER)",))
    bad = Migration("two", ("CREATE TABLE b (x INTEGER)", "CREATE TABLE a (x INTEGER)"))
    with pytest.raises(sqlite3.OperationalError):
        Database(path, migrations=(good, bad))
    with Database(path, migrations=(good,)) as db:
        assert db.schema_version == 1
        assert "b" not in _tables(db)  # the failed step was rolled back whole


def test_statements_are_never_split_by_hand(tmp_path: Path) -> None:
    odd = Migration("a ';' in a literal", ("CREATE TABLE t (x TEXT NOT NULL DEFAULT ';')",))
    with Database(tmp_path / "x.db", migrations=(odd,)) as db:
        with db.transaction() as c:
            c.execute("INSERT INTO t DEFAULT VALUES")
        row = db.row("SELECT x FROM t")
        assert row is not None and row["x"] == ";"


def test_transactions_roll_back_and_nest(tmp_path: Path) -> None:
    odd = Migration("t", ("CREATE TABLE t (x INTEGER)",))
    with Database(tmp_path / "x.db", migrations=(odd,)) as db:

        def fails() -> None:
            with db.transaction() as c:
                c.execute("INSERT INTO t VALUES (1)")
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            fails()
        with db.transaction() as outer:
            outer.execute("INSERT INTO t VALUES (2)")
            with db.transaction() as inner:  # joins the outer transaction
                inner.execute("INSERT INTO t VALUES (3)")
        assert [r["x"] for r in db.rows("SELECT x FROM t ORDER BY x")] == [2, 3]


@contextlib.contextmanager
def _foreign_writer(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection (another process, a backup, a second daemon) holding the file's write lock."""
    c = sqlite3.connect(path, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        yield c
        c.execute("ROLLBACK")
    finally:
        c.close()


def test_a_locked_file_costs_one_slice_with_wait_0(tmp_path: Path) -> None:
    with Database(tmp_path / "x.db") as db, _foreign_writer(db.path):
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError) as err, db.transaction(wait=0):
            pass
        assert is_busy(err.value)
        # one slice of BUSY_SLICE_MS, far from the BUSY_TIMEOUT_MS default wait
        assert time.monotonic() - start < min(BUSY_TIMEOUT_MS / 1000 / 2, scaled(0.5))


def test_a_waiting_writer_holds_up_other_threads_one_slice_at_most(tmp_path: Path) -> None:
    """A write waiting (in a worker thread) for another connection's lock releases this object's lock
    between tries: the loop's reads go on, each within a bound far below the wait; the write is done once
    the other connection lets go."""
    with Database(tmp_path / "x.db") as db:
        waiting, done = threading.Event(), threading.Event()

        def write() -> None:
            waiting.set()
            with db.transaction() as c:  # default wait: BUSY_TIMEOUT_MS
                c.execute("INSERT INTO kv(key, value, updated_at) VALUES ('k', 'v', 0)")
            done.set()

        with _foreign_writer(db.path):
            worker = threading.Thread(target=write)
            worker.start()
            waiting.wait(scaled(5))
            slowest = 0.0
            for _ in range(20):
                start = time.monotonic()
                assert db.row("SELECT count(*) AS n FROM kv")["n"] == 0  # type: ignore[index]
                slowest = max(slowest, time.monotonic() - start)
            assert not done.is_set()
        worker.join(scaled(5))
        assert done.is_set() and db.row("SELECT value FROM kv WHERE key = 'k'") is not None
        assert slowest < min(BUSY_TIMEOUT_MS / 1000 / 2, scaled(0.5)), slowest
