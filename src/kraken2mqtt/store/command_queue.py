"""The persisted command queue and the planner overrides, in the state file (:mod:`.database`).

Pass the :class:`~kraken2mqtt.store.database.Database` to share the state store's connection
(``CommandQueue(store.database)``), or a path to open one with the same policy and migrations.

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

Calls are small and synchronous (well under a millisecond with WAL), but a write waits for another
connection's write lock up to the database's busy timeout (seconds): the event loop makes the writes in a
worker thread (``asyncio.to_thread``), reads may be made directly.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeGuard, get_args

from kraken2mqtt.controls import Command, PlannerMode
from kraken2mqtt.store.database import Database

State = Literal["accepted", "in_flight", "done", "refused", "invalid"]
FINAL_STATES: frozenset[str] = frozenset({"done", "refused", "invalid"})
_STATES: frozenset[str] = frozenset(get_args(State))
_MODES: frozenset[str] = frozenset(get_args(PlannerMode))


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


class CommandQueue:
    """Accepted commands until Kraken answers them (see module docstring)."""

    def __init__(self, db: Database | Path | str) -> None:
        self._own = not isinstance(db, Database)
        self.database = db if isinstance(db, Database) else Database(db)

    def close(self) -> None:
        if self._own:
            self.database.close()

    # -- writing ----------------------------------------------------------------------------------------

    def add(
        self, command: Command, *, now: float, ttl: float, delivery: str | None = None
    ) -> tuple[str, list[Superseded]]:
        """Persist an accepted command; returns its id and the waiting commands it supersedes.
        ``delivery`` names the MQTT delivery that brought it (:meth:`delivered`)."""
        command_id = uuid.uuid4().hex
        with self.database.transaction() as c:
            rows = c.execute(
                "SELECT id, command FROM pending_command "
                "WHERE device = ? AND control = ? AND state = 'accepted'",
                (command.device, command.control.value),
            ).fetchall()
            superseded = [Superseded(str(r["id"]), Command.from_json(r["command"])) for r in rows]
            if superseded:
                c.execute(
                    "UPDATE pending_command SET state = 'refused', reason = 'superseded', updated_at = ? "
                    "WHERE device = ? AND control = ? AND state = 'accepted'",
                    (now, command.device, command.control.value),
                )
            c.execute(
                "INSERT INTO pending_command (id, device, control, command, state, attempts, created_at, "
                "updated_at, next_attempt_at, expires_at, delivery) "
                "VALUES (?, ?, ?, ?, 'accepted', 0, ?, ?, ?, ?, ?)",
                (
                    command_id,
                    command.device,
                    command.control.value,
                    command.to_json(),
                    now,
                    now,
                    now,
                    now + ttl,
                    delivery,
                ),
            )
        return command_id, superseded

    def claim(self, command_id: str, *, now: float) -> bool:
        """``accepted -> in_flight`` (False if the row is no longer waiting, e.g. superseded)."""
        with self.database.transaction() as c:
            cur = c.execute(
                "UPDATE pending_command SET state = 'in_flight', attempts = attempts + 1, updated_at = ? "
                "WHERE id = ? AND state = 'accepted'",
                (now, command_id),
            )
            return cur.rowcount == 1

    def retry_later(self, command_id: str, *, now: float, at: float, error: str) -> None:
        """``in_flight -> accepted`` with the next attempt at ``at``."""
        with self.database.transaction() as c:
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
        with self.database.transaction() as c:
            c.execute(
                "UPDATE pending_command SET state = ?, reason = ?, reasons = ?, updated_at = ? "
                "WHERE id = ? AND state IN ('accepted', 'in_flight')",
                (state, reason, json.dumps(list(reasons)), now, command_id),
            )

    def recover(self, *, now: float) -> int:
        """After a restart: ``in_flight`` rows (the mutation may or may not have arrived) are sent again
        (every mutation is state-setting, see module docstring), and every waiting row is due now."""
        with self.database.transaction() as c:
            cur = c.execute(
                "UPDATE pending_command SET state = 'accepted', next_attempt_at = ?, updated_at = ? "
                "WHERE state IN ('accepted', 'in_flight')",
                (now, now),
            )
            return cur.rowcount

    def prune(self, *, before: float) -> int:
        """Forget final rows last touched before ``before``."""
        with self.database.transaction() as c:
            cur = c.execute(
                "DELETE FROM pending_command "
                "WHERE state IN ('done', 'refused', 'invalid') AND updated_at < ?",
                (before,),
            )
            return cur.rowcount

    # -- reading ----------------------------------------------------------------------------------------

    def delivered(self, delivery: str, *, since: float) -> bool:
        """A command brought by ``delivery`` was stored at or after ``since`` (a redelivery after a crash)."""
        row = self.database.row(
            "SELECT 1 AS seen FROM pending_command WHERE delivery = ? AND created_at >= ? LIMIT 1",
            (delivery, since),
        )
        return row is not None

    def due(self, *, now: float, limit: int = 20) -> list[PendingCommand]:
        rows = self.database.rows(
            f"SELECT {_COLUMNS} FROM pending_command "  # noqa: S608 - constant column list
            "WHERE state = 'accepted' AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
            (now, limit),
        )
        return [_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        row = self.database.row(
            "SELECT MIN(next_attempt_at) AS due FROM pending_command WHERE state = 'accepted'"
        )
        return None if row is None or row["due"] is None else float(row["due"])

    def get(self, command_id: str) -> tuple[State, PendingCommand] | None:
        row = self.database.row(
            f"SELECT {_COLUMNS} FROM pending_command WHERE id = ?",  # noqa: S608 - constant column list
            (command_id,),
        )
        if row is None:
            return None
        pending = _row(row)
        return pending.state, pending

    def pending(self) -> list[PendingCommand]:
        rows = self.database.rows(
            f"SELECT {_COLUMNS} FROM pending_command "  # noqa: S608 - constant column list
            "WHERE state IN ('accepted', 'in_flight') ORDER BY created_at"
        )
        return [_row(r) for r in rows]


_COLUMNS = "id, command, state, attempts, created_at, next_attempt_at, expires_at, last_error"


def _is_state(value: str) -> TypeGuard[State]:
    return value in _STATES


def _is_mode(value: str) -> TypeGuard[PlannerMode]:
    return value in _MODES


def _row(r: sqlite3.Row) -> PendingCommand:
    state = str(r["state"])
    if not _is_state(state):  # the table's CHECK constraint makes this unreachable
        raise ValueError(f"pending_command {r['id']}: unknown state {state!r}")
    return PendingCommand(
        id=str(r["id"]),
        command=Command.from_json(str(r["command"])),
        state=state,
        attempts=int(r["attempts"]),
        created_at=float(r["created_at"]),
        next_attempt_at=float(r["next_attempt_at"]),
        expires_at=float(r["expires_at"]),
        last_error=None if r["last_error"] is None else str(r["last_error"]),
    )


class PlannerOverrides:
    """Per local device planner mode set from Home Assistant: ``auto`` (default), ``force_on``, ``off``."""

    def __init__(self, queue: CommandQueue) -> None:
        self._queue = queue

    def set(self, device: str, mode: PlannerMode, *, now: float) -> None:
        with self._queue.database.transaction() as c:
            c.execute(
                "INSERT INTO planner_override (device, mode, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(device) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
                (device, mode, now),
            )

    def get(self, device: str) -> PlannerMode:
        return self.all().get(device, "auto")

    def all(self) -> Mapping[str, PlannerMode]:
        rows = self._queue.database.rows("SELECT device, mode FROM planner_override")
        return {str(r["device"]): mode for r in rows if _is_mode(mode := str(r["mode"]))}
