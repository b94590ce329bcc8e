"""The Kraken GraphQL client: httpx (HTTP/1.1 keep-alive), tokens, retries, budget, error mapping."""

from __future__ import annotations

import json
import re
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
from kraken2mqtt.kraken import deployments, documents, split
from kraken2mqtt.kraken.auth import Credentials, TokenManager
from kraken2mqtt.kraken.budget import RequestBudget, ServerAllowance
from kraken2mqtt.kraken.deployments import BACKEND, MAIN
from kraken2mqtt.kraken.errors import (
    AuthBackoffError,
    AuthError,
    CredentialsError,
    EdgeBlockedError,
    KrakenError,
    KrakenValidationError,
    ProtocolError,
    QueryTooComplexError,
    RateLimitedError,
    ServerError,
    TokenExpiredError,
    TransportError,
    error_from_graphql,
    field_authorization,
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


__all__ = ["BACKEND", "MAIN", "GraphQLResult", "KrakenClient", "RequestEvent", "RetiredDocumentError"]


@dataclass(slots=True)
class GraphQLResult:
    """``data`` of a response, and the errors that came with it (``allow_partial``).

    An error at a root field (``path == ("devices",)``, or its data is null) means that field failed:
    :meth:`failed`. An error deeper down (``("devices", 1, "status")``) leaves the rest of the root field's
    data usable: :meth:`nested` lists them, so one device's failed status keeps the other devices."""

    data: dict[str, Any]
    errors: list[KrakenError] = field(default_factory=list)

    def failed(self, root_field: str) -> KrakenError | None:
        """The error that took ``root_field`` down (its data is null or missing), or None."""
        for err in self.errors:
            if err.root_field != root_field:
                continue
            if err.path is None or len(err.path) == 1 or self.data.get(root_field) is None:
                return err
        return None

    def nested(self, root_field: str | None = None) -> list[KrakenError]:
        """Errors below a root field whose data is there (``devices[i].status``), each with its ``path``."""
        return [
            err
            for err in self.errors
            if err.path is not None
            and len(err.path) > 1
            and (root_field is None or err.root_field == root_field)
            and self.data.get(str(err.path[0])) is not None
        ]

    def errors_at(self, *path: str | int) -> list[KrakenError]:
        """Errors at ``path`` or below it."""
        return [e for e in self.errors if e.path is not None and e.path[: len(path)] == path]


class UndocumentedFieldError(KrakenError):
    """We were about to send a field this deployment does not document (a bug: nothing is sent)."""


class RetiredDocumentError(KrakenError):
    """The document is past its ``# until:`` date (it selects a removed field): nothing is sent."""


class UnknownEndpointError(KrakenError):
    """``execute(endpoint=...)`` named an endpoint this deployment does not have (nothing is sent)."""


_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9_-]+")


def declared_endpoint(doc: documents.Document) -> str | None:
    """The endpoint a document names on a leading ``# endpoint: NAME`` comment line (None: not named)."""
    name = documents.header(doc.source, "endpoint")
    return name if name is not None and _ENDPOINT_NAME.fullmatch(name) else None


def is_edge_block(status: int, content_type: str, body: bytes) -> bool:
    """A 403 whose body is an HTML page (or names a CDN) and not JSON: the CDN/WAF blocked us, the API did
    not (the API answers JSON). Predbat's ``is_edge_block_body`` uses the same two conditions."""
    if status != 403:
        return False
    try:
        json.loads(body)
        return False
    except ValueError:
        pass
    text = body[:2048].decode("utf-8", "replace").lower()
    return (
        "html" in content_type.lower()
        or text.lstrip().startswith("<")
        or any(word in text for word in ("cloudfront", "request blocked", "waf"))
    )


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
        endpoints: Mapping[str, str] | None = None,
        edge_backoff: Backoff | None = None,
    ) -> None:
        self.endpoint = endpoint
        #: Endpoint name -> URL. ``main`` is ``endpoint``; all share one token and one budget.
        self.endpoints: dict[str, str] = {**dict(endpoints or {}), MAIN: endpoint}
        self.deployment = deployment
        self._clock = clock or SystemClock()
        self.budget = budget or RequestBudget(self._clock)
        self._attempts = max(1, attempts)
        self._retry_backoff = retry_backoff or Backoff(base=1.0, cap=30.0)
        self._on_request = on_request
        self._edge_backoff = edge_backoff or Backoff(base=60.0, cap=3600.0)
        self._edge_blocked = False  # inside a streak of edge blocks (logged once per streak)
        self._split: dict[str, list[split.Part]] = {}  # documents the server found too complex
        self._denied: tuple[int, set[str]] = (-1, set())  # (token generation, root fields refused to it)
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
        endpoint: str | None = None,
    ) -> GraphQLResult:
        """Run a document at the named endpoint (``main``, or ``backend`` on GB; by default the one the
        document declares on a leading ``# endpoint: backend`` comment line, else ``main``) and return
        its data. Every endpoint shares the token (minted at ``main``) and the request budget.

        Transient failures (transport, 5xx, unreadable responses) are retried with jittered backoff; an
        expired or refused token gets one renewal and one retry. With ``allow_partial``, fields that failed
        with a field-level error (a KT-CT-1113 brownout, an AUTHORIZATION error on one field, an error at
        ``devices[1].status``) are reported in ``errors`` next to the data of the rest, and a document the
        server finds too complex (KT-CT-1188/1189) is sent again as one request per root selection (and so
        from then on); auth and rate-limit errors always raise.
        """
        doc = documents.load(document) if isinstance(document, str) else document
        name = endpoint or declared_endpoint(doc) or MAIN
        if documents.retired(doc, self._clock.now().date()):
            raise RetiredDocumentError(
                f"{doc.name} selects a field removed on {doc.until}; request not sent", operation=doc.name
            )
        self._check_capabilities(doc, name)
        url = self._url(name, doc)
        variables = dict(variables or {})
        parts = self._split.get(doc.source)
        if parts is not None and allow_partial:
            return await self._execute_parts(doc, parts, variables, url, max_wait=max_wait)
        try:
            return await self._execute_one(
                doc, variables, url, allow_partial=allow_partial, max_wait=max_wait
            )
        except QueryTooComplexError as exc:
            if not allow_partial:
                raise
            parts = split.split(doc)
            if len(parts) <= 1:
                raise
            log.warning(
                "kraken.document_split",
                operation=doc.name,
                error=str(exc),
                parts=[p.key for p in parts],
            )
            self._split[doc.source] = parts
            return await self._execute_parts(doc, parts, variables, url, max_wait=max_wait)

    async def _execute_parts(
        self,
        doc: documents.Document,
        parts: list[split.Part],
        variables: Mapping[str, Any],
        url: str,
        *,
        max_wait: float,
    ) -> GraphQLResult:
        """Each part on its own; a part that fails for its own reasons fails its root fields only."""
        merged = GraphQLResult(data={})
        for part in parts:
            wanted = {k: v for k, v in variables.items() if re.search(rf"\${k}\b", part.document.source)}
            try:
                result = await self._execute_one(
                    part.document, wanted, url, allow_partial=True, max_wait=max_wait
                )
            except (AuthError, RateLimitedError):
                raise
            except KrakenError as exc:
                for root in sorted(part.document.root_fields):
                    failure = _at(exc, root)
                    merged.errors.append(failure)
                    merged.data.setdefault(root, None)
                continue
            merged.data.update(result.data)
            merged.errors.extend(result.errors)
        return merged

    async def _execute_one(
        self,
        doc: documents.Document,
        variables: Mapping[str, Any],
        url: str,
        *,
        allow_partial: bool,
        max_wait: float,
    ) -> GraphQLResult:
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
                result = await self._request(doc, variables, token, url, allow_partial=allow_partial)
                self._unblocked()
                return result
            except EdgeBlockedError as exc:
                self._edge_block(exc)
                raise
            except RateLimitedError as exc:
                self.budget.block_for(exc.retry_after or 60.0)
                raise
            except (AuthBackoffError, CredentialsError):
                raise
            except AuthError as exc:
                if self.auth is None or token is None:
                    raise
                denied = self._field_denial(exc, allow_partial)
                if denied is not None and (renewed or fresh or self._known_denied(exc)):
                    # A good token (just renewed, or one this field was refused to before) is refused
                    # on a field: that field is not ours to read, the credentials are fine.
                    self._remember_denied(exc)
                    if isinstance(denied, GraphQLResult):
                        return denied
                    raise denied from None
                if renewed or fresh:  # a token we just obtained is refused: renewing again is futile
                    self.auth.rejected_after_renewal()
                    raise
                log.info("kraken.token_refused", operation=doc.name, error=str(exc))
                self.auth.invalidate(token)
                renewed = True
                attempt -= 1  # the auth retry does not count against transient retries
            except KrakenError as exc:
                if not exc.retryable or attempt >= self._attempts:
                    raise
                delay = self._retry_backoff.next_delay()
                log.info("kraken.retry", operation=doc.name, error=str(exc), retry_in=round(delay, 2))
                await self._clock.sleep(delay)

    def _field_denial(self, exc: AuthError, allow_partial: bool) -> GraphQLResult | KrakenError | None:
        """What ``exc`` becomes if it is an authorisation failure of fields (it has a path) rather than of
        the token: the partial result (``allow_partial``) or a :class:`FieldAuthorizationError`."""
        if isinstance(exc, TokenExpiredError) or exc.path is None:
            return None
        partial = getattr(exc, "partial", None)
        if allow_partial and isinstance(partial, GraphQLResult):
            errors = [
                field_authorization(e)
                if isinstance(e, AuthError) and not isinstance(e, TokenExpiredError) and e.path
                else e
                for e in partial.errors
            ]
            if not any(isinstance(e, AuthError | RateLimitedError) for e in errors):
                return GraphQLResult(partial.data, errors)
        return field_authorization(exc)

    def _known_denied(self, exc: AuthError) -> bool:
        generation = self.auth.generation if self.auth else 0
        gen, fields = self._denied
        roots = _auth_roots(exc)
        return gen == generation and bool(roots) and roots <= fields

    def _remember_denied(self, exc: AuthError) -> None:
        generation = self.auth.generation if self.auth else 0
        if self._denied[0] != generation:
            self._denied = (generation, set())
        self._denied[1].update(_auth_roots(exc))
        log.info("kraken.field_unauthorized", operation=exc.operation, fields=sorted(_auth_roots(exc)))

    def _edge_block(self, exc: EdgeBlockedError) -> None:
        delay = self._edge_backoff.next_delay()
        exc.retry_after = delay
        self.budget.block_for(delay)
        if not self._edge_blocked:
            log.warning(
                "kraken.edge_blocked",
                detail="HTTP 403 with an HTML page: the API's CDN is rate limiting us; token kept",
                operation=exc.operation,
                retry_in=round(delay),
            )
        else:
            log.debug("kraken.edge_blocked", operation=exc.operation, retry_in=round(delay))
        self._edge_blocked = True

    def _unblocked(self) -> None:
        if self._edge_blocked:
            log.info("kraken.edge_unblocked")
        self._edge_blocked = False
        self._edge_backoff.reset()

    def _url(self, endpoint: str, doc: documents.Document) -> str:
        try:
            return self.endpoints[endpoint]
        except KeyError:
            raise UnknownEndpointError(
                f"no endpoint {endpoint!r} for {self.deployment or 'this deployment'} "
                f"(known: {', '.join(sorted(self.endpoints))}); request not sent",
                operation=doc.name,
            ) from None

    async def rate_limit(self) -> ServerAllowance | None:
        """Ask the server for the remaining allowance and feed it to the budget: ``rateLimitInfo`` where
        the deployment serves it (what the live GB and DE clients read; no live client uses ``rateLimit``),
        else the docs' ``rateLimit``."""
        dep = deployments.find(self.deployment) if self.deployment is not None else None
        if dep is not None and dep.has("rateLimitInfo"):
            info = (await self.execute("RateLimitInfo")).data.get("rateLimitInfo") or {}
            points = info.get("pointsAllowanceRateLimit") or {}
            allowance = _allowance(points, points.get("ttl"), points.get("isBlocked"))
        elif self.deployment is None or (dep is not None and dep.has("rateLimit")):
            data = (await self.execute("RateLimit")).data.get("rateLimit") or {}
            allowance = _allowance(data, None, None)
        else:
            return None
        if allowance is not None:
            self.budget.update_from_server(allowance)
        return allowance

    # -- internals ----------------------------------------------------------------------------------

    def _check_capabilities(self, doc: documents.Document, endpoint: str) -> None:
        if self.deployment is None:
            return
        dep = deployments.find(self.deployment)
        missing = sorted(f for f in doc.root_fields if dep is None or not dep.has(f))
        if missing:
            raise UndocumentedFieldError(
                f"{', '.join(missing)} not documented for {self.deployment}; request not sent",
                operation=doc.name,
            )
        elsewhere = sorted(
            f
            for f in doc.root_fields
            if dep is not None and (only := dep.endpoint_of(f)) is not None and only != endpoint
        )
        if elsewhere:
            raise UndocumentedFieldError(
                f"{', '.join(elsewhere)} served only at another endpoint of {self.deployment} than "
                f"{endpoint!r}; request not sent",
                operation=doc.name,
            )

    async def _token(self) -> str:
        if self.auth is None:
            raise AuthError("no Kraken credentials configured")
        return await self.auth.token()

    async def _send_unauthenticated(
        self, doc: documents.Document, variables: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Token minting and refreshing: same budget, same reaction to a rate limit as any request."""
        await self.budget.acquire(1.0)
        try:
            result = await self._request(doc, variables, None, self.endpoint, allow_partial=False)
        except EdgeBlockedError as exc:
            self._edge_block(exc)
            raise
        except RateLimitedError as exc:
            self.budget.block_for(exc.retry_after or 60.0)
            raise
        self._unblocked()
        return result.data

    async def _request(
        self,
        doc: documents.Document,
        variables: Mapping[str, Any],
        token: str | None,
        url: str,
        *,
        allow_partial: bool,
    ) -> GraphQLResult:
        headers = (
            {"Authorization": token} if token else {}
        )  # bare token: no "JWT " prefix (backend rejects it)
        body = {"query": doc.source, "variables": dict(variables), "operationName": doc.name}
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = await self._exchange(doc, url, body, headers, allow_partial=allow_partial)
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
        url: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        allow_partial: bool,
    ) -> GraphQLResult:
        try:
            response = await self._http.post(url, content=json.dumps(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise TransportError(f"timed out ({type(exc).__name__})", operation=doc.name) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", operation=doc.name) from None
        if response.status_code == 429:
            raise RateLimitedError(
                "HTTP 429 Too Many Requests", retry_after=_retry_after(response), operation=doc.name
            )
        if is_edge_block(response.status_code, response.headers.get("Content-Type", ""), response.content):
            raise EdgeBlockedError("HTTP 403 from the CDN/WAF (edge rate limit)", operation=doc.name)
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
        if err.root_field is not None:
            err.extensions = {**err.extensions, "_path": err.root_field}
        errors.append(err)
    errors = [_field_or_token(e, data) for e in errors]
    if status in (401, 403) and not errors:
        raise AuthError(f"HTTP {status}", operation=doc.name)
    if status != 200 and not errors:
        raise ServerError(f"HTTP {status}", status=status, operation=doc.name)
    if errors:
        worst = most_important(errors)
        field_level = all(e.path is not None for e in errors)
        if (
            not allow_partial
            or data is None
            or not field_level
            or isinstance(worst, AuthError | RateLimitedError)
            or (isinstance(worst, KrakenValidationError) and worst.code is None)
        ):
            if data is not None:
                worst.partial = GraphQLResult(data=data, errors=errors)
            raise worst
    if data is None:
        raise ProtocolError("response has neither data nor errors", operation=doc.name)
    missing = [f for f in split.response_keys(doc) if f not in data]
    if missing and not errors:
        raise ProtocolError(f"response lacks {', '.join(sorted(missing))}", operation=doc.name)
    return GraphQLResult(data=data, errors=errors)


def _field_or_token(err: KrakenError, data: Mapping[str, Any] | None) -> KrakenError:
    """An authorisation error below a root field (``devices[0].preferenceSetting``), or on a root field
    while another root field of the same response came back, is about that field, not the token."""
    if not isinstance(err, AuthError) or isinstance(err, TokenExpiredError | CredentialsError):
        return err
    if err.path is None:
        return err
    if len(err.path) > 1:
        return field_authorization(err)
    others = [k for k, v in (data or {}).items() if k != err.path[0] and v is not None]
    return field_authorization(err) if others else err


def _at(exc: KrakenError, root: str) -> KrakenError:
    """A copy of ``exc`` placed at the root field ``root``."""
    failure = type(exc).__new__(type(exc), *exc.args)
    failure.__dict__.update(exc.__dict__)
    failure.path = (root,)
    return failure


def _auth_roots(exc: KrakenError) -> set[str]:
    partial = getattr(exc, "partial", None)
    errors = partial.errors if isinstance(partial, GraphQLResult) else [exc]
    return {e.root_field for e in errors if isinstance(e, AuthError) and e.root_field is not None}


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
