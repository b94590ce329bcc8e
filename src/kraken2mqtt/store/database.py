"""The one SQLite file of the state directory (``kraken2mqtt.db``, 0600): its connection policy and schema.

Every table of the daemon lives in this file and every connection to it is opened here, the same way:

* the file is created 0600 in a 0700 directory (its ``-wal``/``-shm`` companions are chmodded too);
* WAL with ``synchronous=NORMAL``: a power cut may lose the last transaction, never corrupt the file;
  ``foreign_keys=ON``;
* autocommit mode (``isolation_level=None``); writes go through :meth:`Database.transaction`
  (``BEGIN IMMEDIATE``, re-entrant), all access under one lock, so the connection can be shared between
  the event loop and ``asyncio.to_thread`` workers;
* waiting for another connection's write lock (another process, a backup, a second daemon by mistake): a
  transaction tries for :data:`BUSY_TIMEOUT_MS` by default, in slices of :data:`BUSY_SLICE_MS` (SQLite's own
  ``busy_timeout``) with this object's lock released between them, so the other threads' reads and writes
  are held up one slice at most, never the whole wait. ``transaction(wait=0)`` tries once: the event loop's
  writes that can be done again later use it and never stall the loop for more than a slice (the command
  queue's writes, which must not be skipped, wait in a worker thread);
* rows come back as :class:`sqlite3.Row` and are read by column name.

The schema is :data:`MIGRATIONS`, one ordered list for the whole file; ``PRAGMA user_version`` counts how
many have run. Each migration is a tuple of single statements (never a script split by hand) and runs in
one transaction with its version bump, so a file is always at exactly one version. Add a migration at the
end; never edit one that has shipped.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_NAME = "kraken2mqtt.db"
BUSY_TIMEOUT_MS = 5000  # how long a transaction waits for another connection's write lock, by default
BUSY_SLICE_MS = 50  # SQLite's busy_timeout: the longest this object's lock is held while waiting for it


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "snapshot streams, dispatch history, key-value",
        (
            "CREATE TABLE snapshot_stream (name TEXT PRIMARY KEY, fetched_at REAL, data TEXT NOT NULL)",
            "CREATE TABLE dispatch (start REAL PRIMARY KEY, end REAL NOT NULL, data TEXT NOT NULL)",
            "CREATE INDEX dispatch_end ON dispatch(end)",
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL)",
        ),
    ),
    # Before this migration the command queue created its own tables with CREATE TABLE IF NOT EXISTS over
    # a second connection (in this file or a file of its own): IF NOT EXISTS keeps those tables and rows.
    Migration(
        "command queue and planner overrides",
        (
            """CREATE TABLE IF NOT EXISTS pending_command (
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
            )""",
            "CREATE INDEX IF NOT EXISTS pending_command_due ON pending_command(state, next_attempt_at)",
            """CREATE TABLE IF NOT EXISTS planner_override (
                device TEXT PRIMARY KEY,
                mode TEXT NOT NULL CHECK (mode IN ('auto', 'force_on', 'off')),
                updated_at REAL NOT NULL
            )""",
        ),
    ),
    # Which MQTT delivery (message id and a digest of topic and payload) brought a command: a QoS 1 command
    # is acknowledged only once stored, so after a crash the broker may send a stored one again (DUP).
    Migration(
        "command deliveries",
        (
            "ALTER TABLE pending_command ADD COLUMN delivery TEXT",
            "CREATE INDEX pending_command_delivery ON pending_command(delivery)",
        ),
    ),
    # Each device's counts of the day (messages by kind, flash writes): a restart keeps the flash budget.
    Migration(
        "device day counts",
        (
            """CREATE TABLE device_day (
                device TEXT PRIMARY KEY,
                day TEXT NOT NULL,
                counts TEXT NOT NULL,
                persistent INTEGER NOT NULL,
                budget_hit INTEGER NOT NULL DEFAULT 0,
                updated_at REAL NOT NULL
            )""",
        ),
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer kraken2mqtt (its ``user_version`` is past :data:`MIGRATIONS`)."""


def _create_private(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


class Database:
    """One connection to the state file, opened with the policy above, migrated to :data:`SCHEMA_VERSION`."""

    def __init__(self, path: Path | str, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        _create_private(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_SLICE_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate(migrations)
        except BaseException:
            self._db.close()
            raise
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(str(self.path) + suffix, 0o600)

    @classmethod
    def in_dir(cls, state_dir: Path, name: str = DB_NAME) -> Database:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(state_dir / name)

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        # The version is read inside each write transaction: two connections opening a fresh file at
        # once (the daemon's store and queue) serialise on BEGIN IMMEDIATE and never run a step twice.
        while True:
            with self.transaction() as db:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version > len(migrations):
                    raise SchemaTooNewError(
                        f"{self.path} has schema {version}, newer than this program knows ({len(migrations)})"
                    )
                if version == len(migrations):
                    return
                for statement in migrations[version].statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    # -- access ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, *, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one.

        ``wait``: seconds to wait for another connection's write lock (default :data:`BUSY_TIMEOUT_MS`;
        0: one try of :data:`BUSY_SLICE_MS`), then :class:`sqlite3.OperationalError` ("database is
        locked"). Between tries this object's lock is free for other threads."""
        deadline = time.monotonic() + (BUSY_TIMEOUT_MS / 1000 if wait is None else wait)
        pause = 0.001
        while True:
            with self._lock:
                if self._db.in_transaction:
                    yield self._db
                    return
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc) or time.monotonic() >= deadline:
                        raise
                else:
                    try:
                        yield self._db
                    except BaseException:
                        self._db.execute("ROLLBACK")
                        raise
                    self._db.execute("COMMIT")
                    return
            # Outside the lock: another thread of ours may read or write meanwhile.
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, BUSY_SLICE_MS / 1000)

    @contextlib.contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads that must see one state (a write transaction may follow inside)."""
        with self._lock:
            yield self._db

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of one query."""
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one query, or None."""
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
            return row

    def pragma(self, name: str) -> Any:
        """The value of ``PRAGMA name`` (for checks and tests)."""
        with self._lock:
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY: another connection holds the lock (``sqlite_errorcode`` from Python 3.11)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (code & 0xFF) == sqlite3.SQLITE_BUSY if isinstance(code, int) else "locked" in str(exc)
