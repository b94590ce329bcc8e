"""Where the poller keeps its snapshot across restarts: a protocol, so Kraken does not import the store.

:class:`kraken2mqtt.store.sqlite.StateStore` implements it (the store sits above Kraken and imports the
snapshot's types); tests may pass anything with these two methods, or ``None`` for no persistence. Both
are synchronous and are called through ``asyncio.to_thread``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kraken2mqtt.kraken.snapshot import Snapshot


class SnapshotStore(Protocol):
    def load_snapshot(self, deployment: str, account_number: str | None = None) -> Snapshot | None:
        """The persisted snapshot of this deployment (and account, when given), or None."""
        ...

    def save_snapshot(self, snapshot: Snapshot, now: datetime) -> bool:
        """Persist what changed since the last save; True if anything was written."""
        ...
