"""Secret redaction for everything the daemon writes out (logs, exception text, status output).

Two nets: values registered as secret (API key, passwords, tokens as they are minted) are replaced
wherever they occur, and anything shaped like a JWT or a Kraken API key is replaced even if it was never
registered.

The registry stays small on a daemon that mints a token an hour for years. Credentials (registered without
an expiry) are kept for the life of the process. Tokens carry an expiry, given by the caller or read from a
JWT's ``exp`` claim: one is forgotten :data:`RETAIN_EXPIRED` after it expired, except the
:data:`KEEP_RECENT` registered last (a simulated clock far from the wall clock still masks its own
tokens), and at most :data:`MAX_EXPIRING` are kept. The pattern is recompiled only when the set has changed,
at the next redaction (not at each registration).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

MASK = "***"
MAX_EXPIRING = 256
KEEP_RECENT = 16
RETAIN_EXPIRED = 3600.0
_MIN_SECRET_LEN = 4

_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # JWT
    r"|\bsk_(?:live|test)_[A-Za-z0-9_]{6,}"  # Kraken/Octopus API keys
)
_SECRET_KEYS = re.compile(r"pass(word|wd)?|secret|token|api_?key|authorization|credential", re.IGNORECASE)


def jwt_expiry(value: str) -> float | None:
    """The ``exp`` claim of a JWT (unverified), or None when ``value`` is not one."""
    parts = value.split(".")
    if len(parts) != 3 or not value.startswith("eyJ"):
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    with contextlib.suppress(binascii.Error, ValueError, UnicodeDecodeError):
        claims = json.loads(base64.urlsafe_b64decode(body))
        exp = claims.get("exp") if isinstance(claims, dict) else None
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return float(exp)
    return None


class SecretRegistry:
    """The registered secrets and the one pattern that masks them all (see module docstring)."""

    def __init__(
        self,
        *,
        max_expiring: int = MAX_EXPIRING,
        keep_recent: int = KEEP_RECENT,
        retain_expired: float = RETAIN_EXPIRED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_expiring = max_expiring
        self.keep_recent = keep_recent
        self.retain_expired = retain_expired
        self._clock = clock
        self._lock = threading.Lock()
        self._permanent: set[str] = set()
        self._expiring: OrderedDict[str, float] = OrderedDict()  # value -> expiry, most recent last
        self._pattern: re.Pattern[str] | None = None
        self._stale = False  # the set changed since the pattern was compiled
        self._generation = 0  # counts the changes, so a pattern compiled meanwhile is known to be stale
        self.compilations = 0  # how often the pattern was rebuilt

    def register(self, value: str | None, *, expires_at: float | None = None) -> None:
        if not value or len(value) < _MIN_SECRET_LEN:
            return
        if expires_at is None:
            expires_at = jwt_expiry(value)
        with self._lock:
            if expires_at is None:
                if value in self._permanent or value in self._expiring:
                    return
                self._permanent.add(value)
            elif not self._add_token(value, expires_at):
                return
            self._stale = True  # compiled on the next redaction, not per registration
            self._generation += 1

    def _current_pattern(self) -> re.Pattern[str] | None:
        # The pattern is compiled outside the lock: compiling can run a finalizer (an asyncio task
        # destroyed while pending) that logs, and so redacts, on this same thread; with the lock held that
        # nested call would wait on it for ever (seen once, a test run hung here).
        while True:
            with self._lock:
                if not self._stale:
                    return self._pattern
                generation = self._generation
                ordered = sorted(self._permanent | self._expiring.keys(), key=len, reverse=True)
            compiled = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None
            with self._lock:
                if self._generation == generation:  # no secret added meanwhile: this pattern is current
                    self._pattern, self._stale = compiled, False
                    self.compilations += 1
                    return compiled

    def _add_token(self, value: str, expires_at: float) -> bool:
        """Keep ``value`` as a token; drop the stale ones. True if the set of secrets changed."""
        known = value in self._expiring or value in self._permanent
        self._permanent.discard(value)
        self._expiring[value] = max(expires_at, self._expiring.get(value, expires_at))
        self._expiring.move_to_end(value)
        horizon = self._clock() - self.retain_expired
        items = list(self._expiring.items())
        older = items[: max(0, len(items) - self.keep_recent)]
        dropped = [v for v, exp in older if exp < horizon]
        for v in dropped:
            del self._expiring[v]
        while len(self._expiring) > self.max_expiring:
            dropped.append(self._expiring.popitem(last=False)[0])
        return bool(dropped) or not known

    def redact_text(self, text: str) -> str:
        pattern = self._current_pattern()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _SHAPES.sub(MASK, text)

    def __len__(self) -> int:
        with self._lock:
            return len(self._permanent) + len(self._expiring)

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._permanent or value in self._expiring


REGISTRY = SecretRegistry()


def register_secret(value: str | None, *, expires_at: float | None = None) -> None:
    """Remember ``value`` so it is masked wherever it appears from now on.

    ``expires_at`` (Unix time) marks a token, kept only while it is recent (see module docstring); a JWT's
    own ``exp`` is used when none is given. Registering a value again with an expiry makes it a token."""
    REGISTRY.register(value, expires_at=expires_at)


def redact_text(text: str) -> str:
    return REGISTRY.redact_text(text)


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
