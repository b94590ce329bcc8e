"""SQLite persistence in the state directory: the snapshot, dispatch history, a key-value table."""

from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore

__all__ = ["SqliteTokenStore", "StateStore"]
