"""Secret redaction for everything the daemon writes out (logs, exception text, status output).

Two nets: values registered as secret (API key, passwords, tokens as they are minted) are replaced
wherever they occur, and anything shaped like a JWT or a Kraken API key is replaced even if it was never
registered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"
_MIN_SECRET_LEN = 4
_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # JWT
    r"|\bsk_(?:live|test)_[A-Za-z0-9_]{6,}"  # Kraken/Octopus API keys
)
_SECRET_KEYS = re.compile(r"pass(word|wd)?|secret|token|api_?key|authorization|credential", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember ``value`` so it is masked wherever it appears from now on."""
    global _pattern
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact_text(text: str) -> str:
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _SHAPES.sub(MASK, text)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEYS.search(key))


def redact(value: Any, key: str = "") -> Any:
    """Redact a value for output; mappings and sequences are walked, string values under
    secret-looking keys are masked whole."""
    if isinstance(value, str):
        return MASK if key and is_secret_key(key) and value else redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, key) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value
