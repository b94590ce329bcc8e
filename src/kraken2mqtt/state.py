"""The state directory: 0700, holding the SQLite state file (0600)."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_state_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)
    return path
