"""Kraken tokens, and the protocol of the stores that keep them between restarts (the daemon keeps them
in its SQLite state file, mode 0600: :class:`kraken2mqtt.store.sqlite.SqliteTokenStore`)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token with its expiry, and the refresh token that can renew it."""

    token: str = field(repr=False)
    expires_at: float  # Unix time, from the token payload's ``exp`` claim
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: float | None = None  # Unix time (``refreshExpiresIn`` is absolute)
    fingerprint: str = ""  # which endpoint + credential minted it; a change of either discards it

    def valid_for(self, now: float) -> float:
        """Seconds of life left at Unix time ``now`` (negative when expired)."""
        return self.expires_at - now

    def refreshable(self, now: float, margin: float = 30.0) -> bool:
        return bool(self.refresh_token) and (
            self.refresh_expires_at is None or self.refresh_expires_at - margin > now
        )


def credential_fingerprint(endpoint: str, identity: str) -> str:
    """A short non-reversible tag of endpoint + credential, so a stored token is only reused for them."""
    return hashlib.sha256(f"{endpoint}\n{identity}".encode()).hexdigest()[:16]


def expiry_from_payload(payload: Any, token: str) -> float | None:
    """Read ``exp`` from the ``payload`` the API returns, else from the JWT body itself."""
    if isinstance(payload, dict):
        exp = payload.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return float(exp)
    parts = token.split(".")
    if len(parts) == 3:
        body = parts[1] + "=" * (-len(parts[1]) % 4)
        with contextlib.suppress(binascii.Error, ValueError, UnicodeDecodeError):
            claims = json.loads(base64.urlsafe_b64decode(body))
            exp = claims.get("exp") if isinstance(claims, dict) else None
            if isinstance(exp, int | float) and not isinstance(exp, bool):
                return float(exp)
    return None


class TokenStore(Protocol):
    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet | None) -> None: ...


class MemoryTokenStore:
    """Keeps tokens for the life of the process only."""

    def __init__(self) -> None:
        self._tokens: TokenSet | None = None

    def load(self) -> TokenSet | None:
        return self._tokens

    def save(self, tokens: TokenSet | None) -> None:
        self._tokens = tokens
