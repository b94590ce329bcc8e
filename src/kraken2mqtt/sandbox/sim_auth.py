"""Token minting/checking and the hourly points budget of the fake Kraken server.

Tokens are JWT-shaped (base64url header.payload.signature with a random signature); the server only trusts
its own table of issued tokens. All times come from the injected :class:`~kraken2mqtt.clock.Clock`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Literal

from kraken2mqtt.clock import Clock

TokenState = Literal["missing", "unknown", "expired", "valid"]
MintMethod = Literal["api_key", "email_password", "refresh_token"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Issued:
    sub: str
    exp: float
    expired: bool = False


class TokenIssuer:
    def __init__(
        self, clock: Clock, subject: str, token_lifetime_s: float, refresh_lifetime_s: float
    ) -> None:
        self._clock = clock
        self._sub = subject
        self._lifetime = token_lifetime_s
        self._refresh_lifetime = refresh_lifetime_s
        self._lock = threading.Lock()
        self._access: dict[str, _Issued] = {}
        self._refresh: dict[str, _Issued] = {}
        self._ever: list[str] = []  # every token and refresh token issued (tests grep outputs for them)

    def mint(self, method: MintMethod) -> dict[str, Any]:
        """A fresh obtainKrakenToken payload: token, payload, refreshToken, refreshExpiresIn."""
        now = self._clock.now().timestamp()
        iat = int(now)
        exp = iat + round(self._lifetime)
        claims: dict[str, Any] = {
            "sub": self._sub,
            "gty": method.upper().replace("_", "-"),
            "iat": iat,
            "exp": exp,
            "origIat": iat,
            "tokenUse": "access",
            "iss": "https://kraken-sandbox.invalid",
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        token = f"{header}.{body}.{_b64(secrets.token_bytes(32))}"
        refresh = secrets.token_hex(20)
        refresh_exp = int(now + self._refresh_lifetime)
        with self._lock:
            self._access[token] = _Issued(self._sub, float(exp))
            self._refresh[refresh] = _Issued(self._sub, float(refresh_exp))
            self._ever += [token, refresh]
        return {"token": token, "payload": claims, "refreshToken": refresh, "refreshExpiresIn": refresh_exp}

    def check(self, token: str | None) -> TokenState:
        if not token:
            return "missing"
        with self._lock:
            issued = self._access.get(token)
        if issued is None:
            return "unknown"
        if issued.expired or self._clock.now().timestamp() >= issued.exp:
            return "expired"
        return "valid"

    def refresh_valid(self, refresh_token: str) -> bool:
        with self._lock:
            issued = self._refresh.get(refresh_token)
        return issued is not None and self._clock.now().timestamp() < issued.exp

    def issued(self) -> list[str]:
        """Every access and refresh token issued so far (secrets that must never be written out)."""
        with self._lock:
            return list(self._ever)

    def expire_all(self) -> None:
        with self._lock:
            for issued in self._access.values():
                issued.expired = True

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()


class PointsBudget:
    """A fixed one-hour window of ``limit`` points, opened by the first spend after the previous one ends."""

    WINDOW_S = 3600

    def __init__(self, clock: Clock, limit: int) -> None:
        self._clock = clock
        self.limit = limit
        self._lock = threading.Lock()
        self._used = 0
        self._window_start: float | None = None

    def _roll(self, now: float) -> None:
        if self._window_start is not None and now >= self._window_start + self.WINDOW_S:
            self._window_start = None
            self._used = 0

    def spend(self, points: int = 1) -> bool:
        """Spend ``points``; False (nothing spent) when the allowance doesn't cover them."""
        now = self._clock.now().timestamp()
        with self._lock:
            self._roll(now)
            if self._used + points > self.limit:
                return False
            if self._window_start is None:
                self._window_start = now
            self._used += points
            return True

    def snapshot(self) -> dict[str, Any]:
        """limit, usedPoints, remainingPoints, ttl (unix time of the next allowance), isBlocked."""
        now = self._clock.now().timestamp()
        with self._lock:
            self._roll(now)
            start = self._window_start if self._window_start is not None else now
            return {
                "limit": self.limit,
                "usedPoints": self._used,
                "remainingPoints": self.limit - self._used,
                "ttl": int(start + self.WINDOW_S),
                "isBlocked": self._used >= self.limit,
            }
