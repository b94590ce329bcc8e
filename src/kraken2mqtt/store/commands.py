"""The persisted command queue and the planner overrides (SQLite, shareable with :class:`StateStore`).

Tables are created with ``CREATE TABLE IF NOT EXISTS`` so this module can live in the state store's
database file (pass its connection) or in a file of its own (pass a path; created 0600).

A command row moves ``accepted -> in_flight -> done | refused | invalid`` and is never executed again once
it is final, so a command is applied at most once per successful mutation. The one exception is a crash (or
power cut) while a row is ``in_flight``: the mutation may or may not have reached Kraken. On the next start
such rows go back to ``accepted`` and are sent again. That is safe because every mutation we send is
state-setting: boost on/cancel, suspend/resume, preferences, heat-pump state and setpoint and the top-up
amount all describe the wanted end state, so applying one twice leaves the same state. The legacy toggles
(``triggerBoostCharge``, ``suspendControl``...) answer a repeat with "already in that state"; the executor
treats that answer as done for a retried command.

Retry policy: each failed attempt schedules ``next_attempt_at`` with jittered exponential backoff
(:class:`kraken2mqtt.backoff.Backoff`, per-row failure count = ``attempts``). Rows older than their
``expires_at`` are finished as ``refused`` (reason ``expired``) instead of being sent. A newer command for
the same device and control supersedes an older one still waiting (``refused``, reason ``superseded``).

Calls are small and synchronous (well under a millisecond with WAL); callers on the event loop may call
them directly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kraken2mqtt.mqtt.commands import Command

State = Literal["accepted", "in_flight", "done", "refused", "invalid"]
FINAL_STATES: frozenset[str] = frozenset({"done", "refused", "invalid"})
PlannerMode = Literal["auto", "force_on", "off"]

_SCHEMA = """
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


@dataclass(frozen=True, slots=True)
class PendingCommand:
    id: str
    command: Command
    state: State
    attempts: int
    created_at: float
    next_attempt_at: float
    expires_at: float
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Superseded:
    id: str
    command: Command


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class CommandQueue:
    """Accepted commands until Kraken answers them (see module docstring)."""

    def __init__(self, db: sqlite3.Connection | Path | str) -> None:
        self._own = not isinstance(db, sqlite3.Connection)
        self._db = _connect(Path(db)) if not isinstance(db, sqlite3.Connection) else db
        self._lock = threading.RLock()
        with self._tx() as c:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def close(self) -> None:
        if self._own:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------------------

    def add(self, command: Command, *, now: float, ttl: float) -> tuple[str, list[Superseded]]:
        """Persist an accepted command; returns its id and the waiting commands it supersedes."""
        command_id = uuid.uuid4().hex
        with self._tx() as c:
            rows = c.execute(
                "SELECT id, command FROM pending_command "
                "WHERE device = ? AND control = ? AND state = 'accepted'",
                (command.device, command.control.value),
            ).fetchall()
            superseded = [Superseded(str(r[0]), Command.from_json(r[1])) for r in rows]
            if superseded:
                c.execute(
                    "UPDATE pending_command SET state = 'refused', reason = 'superseded', updated_at = ? "
                    "WHERE device = ? AND control = ? AND state = 'accepted'",
                    (now, command.device, command.control.value),
                )
            c.execute(
                "INSERT INTO pending_command (id, device, control, command, state, attempts, created_at, "
                "updated_at, next_attempt_at, expires_at) VALUES (?, ?, ?, ?, 'accepted', 0, ?, ?, ?, ?)",
                (
                    command_id,
                    command.device,
                    command.control.value,
                    command.to_json(),
                    now,
                    now,
                    now,
                    now + ttl,
                ),
            )
        return command_id, superseded

    def claim(self, command_id: str, *, now: float) -> bool:
        """``accepted -> in_flight`` (False if the row is no longer waiting, e.g. superseded)."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE pending_command SET state = 'in_flight', attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND state = 'accepted'",
                (now, command_id),
            )
            return cur.rowcount == 1

    def retry_later(self, command_id: str, *, now: float, at: float, error: str) -> None:
        """``in_flight -> accepted`` with the next attempt at ``at``."""
        with self._tx() as c:
            c.execute(
                "UPDATE pending_command SET state = 'accepted', next_attempt_at = ?, last_error = ?, "
                "updated_at = ? WHERE id = ? AND state = 'in_flight'",
                (at, error[:300], now, command_id),
            )

    def finish(
        self,
        command_id: str,
        state: Literal["done", "refused", "invalid"],
        *,
        now: float,
        reason: str | None = None,
        reasons: tuple[str, ...] = (),
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE pending_command SET state = ?, reason = ?, reasons = ?, updated_at = ? "
                "WHERE id = ? AND state IN ('accepted', 'in_flight')",
                (state, reason, json.dumps(list(reasons)), now, command_id),
            )

    def recover(self, *, now: float) -> int:
        """After a restart: ``in_flight`` rows (the mutation may or may not have arrived) are sent again
        (every mutation is state-setting, see module docstring), and every waiting row is due now."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE pending_command SET state = 'accepted', next_attempt_at = ?, updated_at = ? "
                "WHERE state IN ('accepted', 'in_flight')",
                (now, now),
            )
            return cur.rowcount

    def prune(self, *, before: float) -> int:
        """Forget final rows last touched before ``before``."""
        with self._tx() as c:
            cur = c.execute(
                "DELETE FROM pending_command "
                "WHERE state IN ('done', 'refused', 'invalid') AND updated_at < ?",
                (before,),
            )
            return cur.rowcount

    # -- reading ----------------------------------------------------------------------------------------

    def due(self, *, now: float, limit: int = 20) -> list[PendingCommand]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM pending_command "  # noqa: S608 - constant column list
                "WHERE state = 'accepted' AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM pending_command WHERE state = 'accepted'"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def get(self, command_id: str) -> tuple[State, PendingCommand] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM pending_command WHERE id = ?",  # noqa: S608 - constant column list
                (command_id,),
            ).fetchone()
        if row is None:
            return None
        pending = _row(row)
        return pending.state, pending

    def pending(self) -> list[PendingCommand]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM pending_command "  # noqa: S608 - constant column list
                "WHERE state IN ('accepted', 'in_flight') ORDER BY created_at"
            ).fetchall()
        return [_row(r) for r in rows]


_COLUMNS = "id, command, state, attempts, created_at, next_attempt_at, expires_at, last_error"


def _row(r: tuple[object, ...]) -> PendingCommand:
    return PendingCommand(
        id=str(r[0]),
        command=Command.from_json(str(r[1])),
        state=r[2],  # type: ignore[arg-type]
        attempts=int(r[3]),  # type: ignore[call-overload]
        created_at=float(r[4]),  # type: ignore[arg-type]
        next_attempt_at=float(r[5]),  # type: ignore[arg-type]
        expires_at=float(r[6]),  # type: ignore[arg-type]
        last_error=None if r[7] is None else str(r[7]),
    )


class PlannerOverrides:
    """Per local device planner mode set from Home Assistant: ``auto`` (default), ``force_on``, ``off``."""

    def __init__(self, queue: CommandQueue) -> None:
        self._queue = queue

    def set(self, device: str, mode: PlannerMode, *, now: float) -> None:
        with self._queue._tx() as c:
            c.execute(
                "INSERT INTO planner_override (device, mode, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(device) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
                (device, mode, now),
            )

    def get(self, device: str) -> PlannerMode:
        return self.all().get(device, "auto")

    def all(self) -> Mapping[str, PlannerMode]:
        with self._queue._lock:
            rows = self._queue.connection.execute("SELECT device, mode FROM planner_override").fetchall()
        return {str(d): m for d, m in rows}
