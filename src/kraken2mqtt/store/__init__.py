"""SQLite persistence in the state directory: one file (:mod:`.database`), the snapshot, dispatch history and
key-value table (:mod:`.sqlite`), the command queue and planner overrides (:mod:`.command_queue`)."""

from kraken2mqtt.store.command_queue import CommandQueue, PlannerOverrides
from kraken2mqtt.store.database import Database
from kraken2mqtt.store.sqlite import SqliteTokenStore, StateStore

__all__ = ["CommandQueue", "Database", "PlannerOverrides", "SqliteTokenStore", "StateStore"]
