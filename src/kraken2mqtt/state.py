"""The state directory: 0700, holding the SQLite state file (0600); and the daemon's own state, as it saves
it there (key :data:`DAEMON_STATE_KEY`) for ``kraken2mqtt status``: its tasks and whether it waits for the
clock."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kraken2mqtt.redact import redact_text

#: The key-value entry (``kv`` table) the running daemon keeps up to date.
DAEMON_STATE_KEY = "daemon.state"


def ensure_state_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def encode_daemon_state(tasks: Sequence[dict[str, Any]], waiting_for_clock: str | None, at: datetime) -> str:
    """``tasks`` is :meth:`kraken2mqtt.tasks.Supervisor.report`; ``waiting_for_clock`` why the daemon waits
    for the clock (:attr:`kraken2mqtt.clock_sanity.ClockGate.waiting_for`; None: it does not)."""
    return json.dumps(
        {
            "updated_at": at.isoformat(timespec="seconds"),
            "waiting_for_clock": waiting_for_clock,
            "tasks": [
                {**t, "last_error": redact_text(t["last_error"]) if t.get("last_error") else None}
                for t in tasks
            ],
        },
        sort_keys=True,
    )


def decode_daemon_state(text: str | None) -> dict[str, Any]:
    """What :func:`encode_daemon_state` wrote; ``{}`` when nothing (or something unreadable) is stored."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
