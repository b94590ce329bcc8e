"""The Kraken GraphQL client: httpx (HTTP/1.1 keep-alive), tokens, retries, budget, error mapping."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx
import structlog

from kraken2mqtt import __version__
from kraken2mqtt.backoff import Backoff
from kraken2mqtt.clock import Clock, SystemClock
from kraken2mqtt.kraken import capabilities, documents
from kraken2mqtt.kraken.auth import Credentials, TokenManager
from kraken2mqtt.kraken.budget import RequestBudget, ServerAllowance
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CredentialsError,
    KrakenError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    error_from_graphql,
    most_important,
)
from kraken2mqtt.kraken.tokens import TokenStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One HTTP exchange, for metrics and benchmarks."""

    operation: str
    outcome: str  # "ok", "partial", or the error class name
    seconds: float


@dataclass(slots=True)
class GraphQLResult:
    """``data`` of a response, and the errors of the root fields that failed (``allow_partial``)."""

    data: dict[str, Any]
    errors: list[KrakenError] = field(default_factory=list)

    def failed(self, root_field: str) -> KrakenError | None:
        for err in self.errors:
            if err.extensions.get("_path") == root_field:
                return err
        return None


class UndocumentedFieldError(KrakenError):
    """We were about to send a field this deployment does not document (a bug: nothing is sent)."""


class KrakenClient:
    def __init__(
        self,
        endpoint: str,
        credentials: Credentials | None,
        *,
        deployment: str | None = None,
        clock: Clock | None = None,
        token_store: TokenStore | None = None,
        budget: RequestBudget | None = None,
        timeout: float = 20.0,
        attempts: int = 3,
        retry_backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.deployment = deployment
        self._clock = clock or SystemClock()
        self.budget = budget or RequestBudget(self._clock)
        self._attempts = max(1, attempts)
        self._retry_backoff = retry_backoff or Backoff(base=1.0, cap=30.0)
        self._on_request = on_request
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=60.0),
            headers={"User-Agent": f"kraken2mqtt/{__version__}", "Content-Type": "application/json"},
            transport=transport,
            follow_redirects=False,
        )
        self.auth = (
            TokenManager(
                self._send_unauthenticated,
                credentials,
                endpoint=endpoint,
                clock=self._clock,
                store=token_store,
            )
            if credentials is not None
            else None
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- public -------------------------------------------------------------------------------------

    async def execute(
        self,
        document: documents.Document | str,
        variables: Mapping[str, Any] | None = None,
        *,
        allow_partial: bool = False,
        max_wait: float = 60.0,
    ) -> GraphQLResult:
        """Run a document and return its data.

        Transient failures (transport, 5xx, unreadable responses) are retried with jittered backoff; an
        auth error gets one token renewal and one retry. With ``allow_partial``, root fields that failed
        with a field-level error (e.g. a KT-CT-1113 brownout) are reported in ``errors`` next to the
        data of the others; auth and rate-limit errors always raise.
        """
        doc = documents.load(document) if isinstance(document, str) else document
        self._check_capabilities(doc)
        variables = dict(variables or {})
        renewed = False
        self._retry_backoff.reset()
        attempt = 0
        while True:
            attempt += 1
            await self.budget.acquire(1.0, max_wait=max_wait)
            generation = self.auth.generation if self.auth else 0
            token = await self._token() if doc.requires_auth else None
            fresh = self.auth is not None and self.auth.generation != generation
            try:
                return await self._request(doc, variables, token, allow_partial=allow_partial)
            except RateLimitedError as exc:
                self.budget.block_for(exc.retry_after or 60.0)
                raise
            except (AuthBackoffError, CredentialsError):
                raise
            except AuthError:
                if self.auth is None or token is None:
                    raise
                if renewed or fresh:  # a token we just obtained is refused: renewing again is futile
                    self.auth.rejected_after_renewal()
                    raise
                self.auth.invalidate(token)
                renewed = True
                attempt -= 1  # the auth retry does not count against transient retries
            except KrakenError as exc:
                if not exc.retryable or attempt >= self._attempts:
                    raise
                delay = self._retry_backoff.next_delay()
                log.info("kraken.retry", operation=doc.name, error=str(exc), retry_in=round(delay, 2))
                await self._clock.sleep(delay)

    async def rate_limit(self) -> ServerAllowance | None:
        """Ask the server for the remaining allowance (where the deployment documents it) and feed it to
        the budget."""
        if self.deployment is None or capabilities.has(self.deployment, "rateLimit"):
            data = (await self.execute("RateLimit")).data.get("rateLimit") or {}
            allowance = _allowance(data, None, None)
        elif capabilities.has(self.deployment, "rateLimitInfo"):
            info = (await self.execute("RateLimitInfo")).data.get("rateLimitInfo") or {}
            points = info.get("pointsAllowanceRateLimit") or {}
            allowance = _allowance(points, points.get("ttl"), points.get("isBlocked"))
        else:
            return None
        if allowance is not None:
            self.budget.update_from_server(allowance)
        return allowance

    # -- internals ----------------------------------------------------------------------------------

    def _check_capabilities(self, doc: documents.Document) -> None:
        if self.deployment is None:
            return
        missing = sorted(f for f in doc.root_fields if not capabilities.has(self.deployment, f))
        if missing:
            raise UndocumentedFieldError(
                f"{', '.join(missing)} not documented for {self.deployment}; request not sent",
                operation=doc.name,
            )

    async def _token(self) -> str:
        if self.auth is None:
            raise AuthError("no Kraken credentials configured")
        return await self.auth.token()

    async def _send_unauthenticated(
        self, doc: documents.Document, variables: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        await self.budget.acquire(1.0)
        return (await self._request(doc, variables, None, allow_partial=False)).data

    async def _request(
        self,
        doc: documents.Document,
        variables: Mapping[str, Any],
        token: str | None,
        *,
        allow_partial: bool,
    ) -> GraphQLResult:
        headers = {"Authorization": token} if token else {}
        body = {"query": doc.source, "variables": dict(variables), "operationName": doc.name}
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = await self._exchange(doc, body, headers, allow_partial=allow_partial)
            if result.errors:
                outcome = "partial"
            if token is not None and self.auth is not None:
                self.auth.succeeded()
            return result
        except KrakenError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if self._on_request is not None:
                self._on_request(RequestEvent(doc.name, outcome, time.perf_counter() - started))

    async def _exchange(
        self,
        doc: documents.Document,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        allow_partial: bool,
    ) -> GraphQLResult:
        try:
            response = await self._http.post(self.endpoint, content=json.dumps(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise TransportError(f"timed out ({type(exc).__name__})", operation=doc.name) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", operation=doc.name) from None
        if response.status_code == 429:
            raise RateLimitedError(
                "HTTP 429 Too Many Requests", retry_after=_retry_after(response), operation=doc.name
            )
        if response.status_code >= 500:
            raise ServerError(f"HTTP {response.status_code}", status=response.status_code, operation=doc.name)
        try:
            payload = response.json()
        except ValueError:
            if response.status_code in (401, 403):
                raise AuthError(f"HTTP {response.status_code}", operation=doc.name) from None
            if response.status_code != 200:
                raise ServerError(
                    f"HTTP {response.status_code}", status=response.status_code, operation=doc.name
                ) from None
            raise ProtocolError("response is not JSON", operation=doc.name) from None
        return _interpret(doc, payload, response.status_code, allow_partial=allow_partial)


def _interpret(doc: documents.Document, payload: Any, status: int, *, allow_partial: bool) -> GraphQLResult:
    if not isinstance(payload, dict) or not ("data" in payload or "errors" in payload):
        raise ProtocolError("response is not a GraphQL result object", operation=doc.name)
    data = payload.get("data")
    raw_errors = payload.get("errors")
    if data is not None and not isinstance(data, dict):
        raise ProtocolError("response 'data' is not an object", operation=doc.name)
    if raw_errors is not None and not isinstance(raw_errors, list):
        raise ProtocolError("response 'errors' is not a list", operation=doc.name)
    errors: list[KrakenError] = []
    for raw in raw_errors or []:
        if not isinstance(raw, dict):
            raise ProtocolError("response error entry is not an object", operation=doc.name)
        err = error_from_graphql(raw, operation=doc.name)
        path = raw.get("path")
        if isinstance(path, list) and path and isinstance(path[0], str):
            err.extensions = {**err.extensions, "_path": path[0]}
        errors.append(err)
    if status in (401, 403) and not errors:
        raise AuthError(f"HTTP {status}", operation=doc.name)
    if status != 200 and not errors:
        raise ServerError(f"HTTP {status}", status=status, operation=doc.name)
    if errors:
        worst = most_important(errors)
        field_level = all("_path" in e.extensions for e in errors)
        if (
            not allow_partial
            or data is None
            or not field_level
            or isinstance(worst, AuthError | RateLimitedError)
            or (isinstance(worst, ValidationError) and worst.code is None)
        ):
            raise worst
    if data is None:
        raise ProtocolError("response has neither data nor errors", operation=doc.name)
    missing = [f for f in doc.root_fields if f not in data]
    if missing and not errors:
        raise ProtocolError(f"response lacks {', '.join(sorted(missing))}", operation=doc.name)
    return GraphQLResult(data=data, errors=errors)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _allowance(data: Mapping[str, Any], ttl: Any, blocked: Any) -> ServerAllowance | None:
    limit, remaining = data.get("limit"), data.get("remainingPoints")
    if not isinstance(limit, int) or not isinstance(remaining, int):
        return None
    return ServerAllowance(
        limit=limit,
        remaining=remaining,
        resets_at=float(ttl) if isinstance(ttl, int | float) else None,
        blocked=bool(blocked),
    )
