"""Kraken tokens: mint with the API key (or email/password), refresh before expiry, persist, back off.

One :class:`TokenManager` per account. A lock makes concurrent callers share one mint; an exponential
backoff after failures means a refused key or a misbehaving server never becomes a token-minting storm
(the API can lock accounts that mint too often).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import SecretStr

from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import Clock
from kraken2mqtt.kraken import documents
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CredentialsError,
    KrakenError,
    KrakenValidationError,
    ProtocolError,
)
from kraken2mqtt.kraken.tokens import (
    MemoryTokenStore,
    TokenSet,
    TokenStore,
    credential_fingerprint,
    expiry_from_payload,
)
from kraken2mqtt.redact import register_secret

log = structlog.get_logger(__name__)

Sender = Callable[[documents.Document, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""Sends an unauthenticated document and returns its ``data`` (raising mapped errors)."""

DEFAULT_LIFETIME = 900.0  # used only when a token carries no expiry at all


@dataclass(frozen=True, slots=True)
class Credentials:
    """The primary credential: an API key, or an email and password."""

    api_key: SecretStr | None = None
    email: str | None = None
    password: SecretStr | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.api_key is None and not (self.email and self.password):
            raise ValueError("Kraken credentials need an API key, or an email and a password")
        for secret in (self.api_key, self.password):
            if secret is not None:
                register_secret(secret.get_secret_value())

    @property
    def method(self) -> str:
        return "api_key" if self.api_key is not None else "email_password"

    @property
    def identity(self) -> str:
        if self.api_key is not None:
            return "key:" + self.api_key.get_secret_value()
        return f"user:{self.email}"

    def mint_input(self) -> dict[str, str]:
        if self.api_key is not None:
            return {"APIKey": self.api_key.get_secret_value()}
        assert self.email is not None and self.password is not None
        return {"email": self.email, "password": self.password.get_secret_value()}


class TokenManager:
    def __init__(
        self,
        send: Sender,
        credentials: Credentials,
        *,
        endpoint: str,
        clock: Clock,
        store: TokenStore | None = None,
        refresh_margin: float = 300.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._send = send
        self._credentials = credentials
        self._clock = clock
        self._store = store or MemoryTokenStore()
        self._margin = refresh_margin
        self._backoff = backoff or Backoff(base=30.0, cap=3600.0)
        self._retry_at = 0.0  # monotonic time before which no mint or refresh is attempted
        self._lock = asyncio.Lock()
        self._fingerprint = credential_fingerprint(endpoint, credentials.identity)
        stored = self._store.load()
        self._tokens = stored if stored is not None and stored.fingerprint == self._fingerprint else None
        self.mints: dict[str, int] = {}
        self.generation = 0  # bumped on every token obtained, so callers can tell a fresh one

    @property
    def expires_at(self) -> float | None:
        """Unix time at which the current access token expires (for metrics)."""
        return self._tokens.expires_at if self._tokens else None

    def _usable(self, now: float) -> str | None:
        t = self._tokens
        if t is not None and t.valid_for(now) > self._margin:
            return t.token
        return None

    async def token(self) -> str:
        """A token that is valid for at least the refresh margin, minting or refreshing if needed."""
        now = self._clock.now().timestamp()
        if (ready := self._usable(now)) is not None:
            return ready
        async with self._lock:
            now = self._clock.now().timestamp()
            if (ready := self._usable(now)) is not None:
                return ready
            wait = self._retry_at - self._clock.monotonic()
            if wait > 0:
                if self._tokens is not None and self._tokens.valid_for(now) > 0:
                    return self._tokens.token  # near expiry, but still good
                raise AuthBackoffError(
                    f"authentication failed recently; next attempt in {wait:.0f} s", retry_in=wait
                )
            return await self._renew(now)

    async def _renew(self, now: float) -> str:
        current = self._tokens
        if current is not None and current.refreshable(now):
            assert current.refresh_token is not None
            try:
                return await self._obtain({"refreshToken": current.refresh_token}, "refresh_token")
            except (AuthError, KrakenValidationError) as exc:
                log.info("kraken.refresh_refused", reason=str(exc), fallback="primary credential")
            except KrakenError:
                if current.valid_for(now) > 0:
                    return current.token
                raise
        try:
            return await self._obtain(self._credentials.mint_input(), self._credentials.method)
        except (AuthError, KrakenValidationError) as exc:
            delay = self._fail()
            raise CredentialsError(
                f"Kraken refused the configured credentials ({exc.code or 'no code'}); "
                f"next attempt in {delay:.0f} s",
                code=exc.code,
                operation="ObtainKrakenToken",
            ) from None
        except KrakenError:
            if current is not None and current.valid_for(now) > 0:
                return current.token
            raise

    async def _obtain(self, token_input: dict[str, str], method: str) -> str:
        data = await self._send(documents.load("ObtainKrakenToken"), {"input": token_input})
        self.mints[method] = self.mints.get(method, 0) + 1
        self.generation += 1
        body = data.get("obtainKrakenToken")
        token = body.get("token") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            raise ProtocolError("obtainKrakenToken returned no token", operation="ObtainKrakenToken")
        assert isinstance(body, Mapping)
        register_secret(token)
        refresh = body.get("refreshToken")
        refresh = refresh if isinstance(refresh, str) and refresh else None
        refresh_exp = body.get("refreshExpiresIn")
        # With its expiry, so the redaction registry can forget it once stale (redact.py).
        refresh_until = float(refresh_exp) if isinstance(refresh_exp, int | float) else None
        register_secret(refresh, expires_at=refresh_until)
        now = self._clock.now().timestamp()
        expires = expiry_from_payload(body.get("payload"), token) or now + DEFAULT_LIFETIME
        self._tokens = TokenSet(
            token=token,
            expires_at=expires,
            refresh_token=refresh,
            refresh_expires_at=float(refresh_exp) if isinstance(refresh_exp, int | float) else None,
            fingerprint=self._fingerprint,
        )
        self._store.save(self._tokens)
        log.info("kraken.token_obtained", method=method, expires_in=round(expires - now))
        return token

    def _fail(self) -> float:
        delay = self._backoff.next_delay()
        self._retry_at = self._clock.monotonic() + delay
        return delay

    def invalidate(self, token: str) -> None:
        """The server said ``token`` is no longer good: the next call refreshes (or mints)."""
        t = self._tokens
        if t is not None and t.token == token:
            self._tokens = TokenSet(
                token=t.token,
                expires_at=0.0,
                refresh_token=t.refresh_token,
                refresh_expires_at=t.refresh_expires_at,
                fingerprint=t.fingerprint,
            )

    def rejected_after_renewal(self) -> float:
        """A freshly renewed token was refused too: stop and back off exponentially."""
        self._tokens = None
        self._store.save(None)
        delay = self._fail()
        log.warning("kraken.auth_backoff", retry_in=round(delay))
        return delay

    def succeeded(self) -> None:
        self._backoff.reset()
        self._retry_at = 0.0
