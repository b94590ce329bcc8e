"""The snapshot, the dispatch history and a key-value table, in the state file (:mod:`.database`).

The Pi runs from an SD card, so the store writes only what changed: a snapshot stream when its JSON differs
from what is stored (or the stored copy is ``HEARTBEAT`` old, so its age survives a restart roughly), a
dispatch row when it differs. Calls are small and synchronous; async callers wrap them in
``asyncio.to_thread``. :class:`StateStore` is the :class:`kraken2mqtt.kraken.snapshot_store.SnapshotStore`
of the poller.

The key-value writes (the daemon's task state, the devices' status line, forecasts, the Kraken token) come
from the event loop and are all worth as much one pass later: :meth:`StateStore.set` never waits for
another connection's write lock. When the file is locked the value is kept in memory (``get`` returns it)
and written by the next ``set``, the next snapshot save or :meth:`StateStore.close`. The snapshot save runs
in a worker thread and waits for the lock as long as the database's default.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from pydantic import ValidationError

from kraken2mqtt.kraken.snapshot import Snapshot, Stream, StreamStatus, TrackedDispatch, comparable
from kraken2mqtt.kraken.tokens import TokenSet
from kraken2mqtt.redact import register_secret
from kraken2mqtt.store.database import DB_NAME, Database, is_busy

log = structlog.get_logger(__name__)

HEARTBEAT = timedelta(hours=1)
DISPATCH_HISTORY = timedelta(hours=48)

#: Snapshot field persisted for each stream (dispatches have their own table).
#: Live measurements that change on every poll: written with the heartbeat only (SD card wear).
_MEASUREMENTS: dict[Stream, Any] = {
    Stream.DEVICES: {
        "devices": {"__all__": {"soc_limit": {"timestamp"}, "telemetry": True, "heat_pump": True}}
    },
    Stream.HEAT_PUMPS: {
        "controllers": {
            "__all__": {
                "live_read_at": True,
                "cop": True,
                "power_input_kw": True,
                "heat_output_kw": True,
                "outdoor_temperature_c": True,
                "sensors": True,
                "zones": {"__all__": {"retrieved_at"}},
            }
        },
        "legacy": {"current_climate_c", "current_water_c"},
    },
    Stream.PREPAY: {"balance": {"as_at"}},
}

_FIELDS: dict[Stream, str] = {
    Stream.ACCOUNT: "account",
    Stream.TARIFFS: "tariffs",
    Stream.DEVICES: "devices",
    Stream.HEAT_PUMPS: "heat_pumps",
    Stream.PREPAY: "prepay",
    Stream.EVENTS: "events",
}  # rate_limit is not kept: it moves on every poll and is re-read on the first one


class StateStore:
    def __init__(self, state_dir: Path, *, name: str = DB_NAME) -> None:
        self.database = Database.in_dir(state_dir, name)
        self.path = self.database.path
        self.writes = 0  # transactions that changed something (for tests and metrics)
        self._written: dict[Stream, str | None] = {}  # comparable form of what was last written
        self._last_write: datetime | None = None  # last heartbeat
        self._unsaved: dict[str, str | None] = {}  # kv writes that found the file locked (module docstring)
        self._unsaved_lock = threading.Lock()  # set() on the loop, flush() also from the snapshot's thread

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.flush(wait=None)
        except sqlite3.Error as exc:
            log.warning("store.unsaved_at_close", keys=sorted(self._unsaved), error=str(exc)[:200])
        self.database.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.database.schema_version

    # -- key-value ----------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self._unsaved_lock:
            if key in self._unsaved:
                return self._unsaved[key]
        row = self.database.row("SELECT value FROM kv WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set(self, key: str, value: str | None) -> None:
        """Store ``value`` under ``key`` (None deletes). No write when unchanged. Never waits for another
        connection's write lock: then the value is written later (module docstring)."""
        with self._unsaved_lock:
            self._unsaved[key] = value
        self.flush()

    @property
    def unsaved(self) -> int:
        """How many key-value writes wait for the file's lock."""
        with self._unsaved_lock:
            return len(self._unsaved)

    def flush(self, *, wait: float | None = 0) -> bool:
        """Write the key-value writes kept back; True when none is left. ``wait`` as
        :meth:`Database.transaction` (0: one try). A locked file is not an error; any other is raised (the
        values stay, for the next try)."""
        with self._unsaved_lock:
            pending = dict(self._unsaved)
        if not pending:
            return True
        todo = {k: v for k, v in pending.items() if self._stored(k) != v}
        try:
            if todo:
                with self.database.transaction(wait=wait) as db:
                    for key, value in todo.items():
                        if value is None:
                            db.execute("DELETE FROM kv WHERE key = ?", (key,))
                        else:
                            db.execute(
                                "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                                "updated_at = excluded.updated_at",
                                (key, value, datetime.now(UTC).timestamp()),
                            )
                self.writes += 1
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            log.debug("store.write_deferred", keys=sorted(todo), reason="the file is locked")
            return False
        with self._unsaved_lock:
            for key, value in pending.items():
                if key in self._unsaved and self._unsaved[key] == value:
                    del self._unsaved[key]
            return not self._unsaved

    def _stored(self, key: str) -> str | None:
        row = self.database.row("SELECT value FROM kv WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    # -- snapshot -----------------------------------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot, now: datetime) -> bool:
        """Persist what changed since the last save. True if anything was written."""
        rows: list[tuple[str, float | None, str]] = []
        written: dict[Stream, str | None] = {}
        meta = json.dumps(
            {
                "deployment": snapshot.deployment,
                "account_number": snapshot.account_number,
                "mode": snapshot.mode,
                # What `status` shows: selections the server rejected, and each stream's current error.
                "dropped": snapshot.dropped,
                "errors": {s.value: st.error for s, st in snapshot.status.items() if st.error},
            }
        )
        # Timestamps of unchanged streams are refreshed at most once per HEARTBEAT, all together.
        heartbeat = self._last_write is None or now - self._last_write >= HEARTBEAT
        # Read, then write: the write transaction is not nested in the read lock, so that while it waits
        # for another connection's write lock the loop's own reads and writes go on (database module).
        with self.database.locked() as db:
            stored = _streams(db)
            if (stored["_meta"].data if "_meta" in stored else "") != meta:
                rows.append(("_meta", None, meta))
            for stream, field in _FIELDS.items():
                value = getattr(snapshot, field)
                fetched = snapshot.stream(stream).fetched_at
                if value is None or fetched is None:
                    continue
                data = value.model_dump_json(by_alias=True)
                old = stored.get(stream.value)
                heartbeat_due = heartbeat and (old is None or old.fetched_at != fetched.timestamp())
                stable = comparable(stream, value, _MEASUREMENTS.get(stream, {}))
                if stream in self._written:
                    differs = self._written[stream] != stable
                else:
                    differs = old is None or old.data != data
                if differs or heartbeat_due:
                    rows.append((stream.value, fetched.timestamp(), data))
                    written[stream] = stable
            dispatch_fetched = snapshot.stream(Stream.DISPATCHES).fetched_at
            changed = _dispatch_changes(db, snapshot.dispatches, now)
        old_d = stored.get(Stream.DISPATCHES.value)
        if dispatch_fetched is not None and (
            changed or old_d is None or (heartbeat and old_d.fetched_at != dispatch_fetched.timestamp())
        ):
            rows.append((Stream.DISPATCHES.value, dispatch_fetched.timestamp(), "{}"))
        self._flush_quietly()  # a pass also retries the key-value writes kept back
        if not rows and not changed:
            return False
        with self.database.transaction() as db:
            db.executemany(
                "INSERT INTO snapshot_stream(name, fetched_at, data) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET fetched_at = excluded.fetched_at, data = excluded.data",
                rows,
            )
            for start, end, data in changed:
                db.execute(
                    "INSERT INTO dispatch(start, end, data) VALUES (?, ?, ?) "
                    "ON CONFLICT(start) DO UPDATE SET end = excluded.end, data = excluded.data",
                    (start, end, data),
                )
            db.execute("DELETE FROM dispatch WHERE end < ?", ((now - DISPATCH_HISTORY).timestamp(),))
        self.writes += 1
        self._written.update(written)
        if heartbeat or self._last_write is None:
            self._last_write = now
        return True

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except sqlite3.Error as exc:  # the snapshot is what this call is for
            log.warning("store.kv_unsaved", error=str(exc)[:200])

    def load_dispatches(self, since: datetime | None = None) -> list[TrackedDispatch]:
        rows = self.database.rows(
            "SELECT data FROM dispatch WHERE end >= ? ORDER BY start",
            ((since.timestamp() if since else float("-inf")),),
        )
        out = []
        for row in rows:
            try:
                out.append(TrackedDispatch.model_validate_json(row["data"]))
            except ValidationError:
                log.warning("store.dispatch_unreadable")
        return out

    def load_snapshot(self, deployment: str, account_number: str | None = None) -> Snapshot | None:
        """The persisted snapshot, or None when there is none for this deployment/account."""
        with self.database.locked() as db:
            rows = _streams(db)
        meta_raw = rows.get("_meta")
        if meta_raw is None:
            return None
        try:
            meta = json.loads(meta_raw.data)
        except ValueError:
            return None
        if meta.get("deployment") != deployment or (
            account_number is not None and meta.get("account_number") != account_number
        ):
            return None
        fields: dict[str, Any] = {}
        status: dict[Stream, StreamStatus] = {}
        annotations = Snapshot.model_fields
        for stream, field in _FIELDS.items():
            row = rows.get(stream.value)
            if row is None:
                continue
            model = annotations[field].annotation
            try:
                fields[field] = _validate(model, row.data)
            except (ValidationError, ValueError) as exc:
                log.warning("store.stream_unreadable", stream=stream.value, error=str(exc).splitlines()[0])
                continue
            if row.fetched_at is not None:
                status[stream] = StreamStatus(fetched_at=datetime.fromtimestamp(row.fetched_at, UTC))
        disp = rows.get(Stream.DISPATCHES.value)
        if disp is not None and disp.fetched_at is not None:
            status[Stream.DISPATCHES] = StreamStatus(fetched_at=datetime.fromtimestamp(disp.fetched_at, UTC))
        errors = meta.get("errors") if isinstance(meta.get("errors"), dict) else {}
        for name, error in errors.items():
            if name in Stream._value2member_map_ and isinstance(error, str):
                key = Stream(name)
                status[key] = (status.get(key) or StreamStatus()).model_copy(update={"error": error})
        dropped = meta.get("dropped") if isinstance(meta.get("dropped"), dict) else {}
        return Snapshot(
            deployment=deployment,
            account_number=meta.get("account_number"),
            mode=meta.get("mode", "full"),
            dropped={str(k): str(v) for k, v in dropped.items()},
            dispatches=tuple(self.load_dispatches()),
            status=status,
            **fields,
        )


class _StoredStream(NamedTuple):
    fetched_at: float | None
    data: str


def _streams(db: sqlite3.Connection) -> dict[str, _StoredStream]:
    """The stored streams by name."""
    return {
        str(r["name"]): _StoredStream(
            None if r["fetched_at"] is None else float(r["fetched_at"]), str(r["data"])
        )
        for r in db.execute("SELECT name, fetched_at, data FROM snapshot_stream")
    }


def _dispatch_changes(
    db: sqlite3.Connection, dispatches: Iterable[TrackedDispatch], now: datetime
) -> list[tuple[float, float, str]]:
    stored = {float(r["start"]): str(r["data"]) for r in db.execute("SELECT start, data FROM dispatch")}
    out = []
    for d in dispatches:
        if d.end < now - DISPATCH_HISTORY:
            continue
        data = d.model_dump_json()
        if stored.get(d.start.timestamp()) != data:
            out.append((d.start.timestamp(), d.end.timestamp(), data))
    return out


def _validate(annotation: Any, data: str) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation).validate_json(data)


class SqliteTokenStore:
    """:class:`kraken2mqtt.kraken.tokens.TokenStore` in the ``kv`` table (key ``kraken.tokens``)."""

    KEY = "kraken.tokens"

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def load(self) -> TokenSet | None:
        raw = self._store.get(self.KEY)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            tokens = TokenSet(
                token=str(data["token"]),
                expires_at=float(data["expires_at"]),
                refresh_token=data.get("refresh_token"),
                refresh_expires_at=data.get("refresh_expires_at"),
                fingerprint=str(data.get("fingerprint", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None
        _register(tokens)
        return tokens

    def save(self, tokens: TokenSet | None) -> None:
        if tokens is not None:
            _register(tokens)  # with their expiries, so the registry can forget them once stale
        self._store.set(self.KEY, None if tokens is None else json.dumps(asdict(tokens)))


class SqliteForecastStore:
    """:class:`kraken2mqtt.forecast.service.ForecastStore` in the ``kv`` table (``forecast.<name>``)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def load_forecast(self, name: str) -> dict[str, Any] | None:
        raw = self._store.get(f"forecast.{name}")
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def save_forecast(self, name: str, data: dict[str, Any]) -> None:
        self._store.set(f"forecast.{name}", json.dumps(data, separators=(",", ":")))


def _register(tokens: TokenSet) -> None:
    register_secret(tokens.token, expires_at=tokens.expires_at)
    if tokens.refresh_token:
        register_secret(tokens.refresh_token, expires_at=tokens.refresh_expires_at)
