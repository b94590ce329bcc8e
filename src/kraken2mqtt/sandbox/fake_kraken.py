"""A fake Kraken GraphQL server: a real HTTP/1.1 server executing documents with graphql-core.

>>> with FakeKraken() as fk:           # doctest: +SKIP
...     httpx.post(fk.url, json={"query": "{ krakenVersion { number } }"})

* Endpoint ``POST /v1/graphql/`` on 127.0.0.1 (ephemeral port), keep-alive, Content-Length framing.
* Schema: ``schema.graphql`` cut down to the deployment's documented root fields (``extra_fields`` adds
  undocumented ones such as ``flexPlannedDispatches``).
* Auth, points and error semantics: see :mod:`kraken2mqtt.sandbox.resolvers`. Faults: see
  :mod:`kraken2mqtt.sandbox.faults`.
* Bodies that are not a JSON object with a string ``query`` get HTTP 400; GraphQL syntax/validation errors
  get HTTP 200 with ``{"errors": [...]}`` and no ``data``.
* ``requests`` records every request; secrets in variables (APIKey, password, refreshToken, preSignedKey,
  organizationSecretKey) are stored as ``"<redacted>"`` and the Authorization header is never stored.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, execute, parse

from kraken2mqtt.clock import Clock, SystemClock
from kraken2mqtt.sandbox.faults import Fault, FaultQueue
from kraken2mqtt.sandbox.live_rules import validate_live
from kraken2mqtt.sandbox.resolvers import RequestContext, Resolvers, attach
from kraken2mqtt.sandbox.schema import build_schema
from kraken2mqtt.sandbox.sim_account import SimAccount
from kraken2mqtt.sandbox.sim_auth import MintMethod, PointsBudget, TokenIssuer

PATH = "/v1/graphql/"
_SECRET_KEYS = frozenset({"APIKey", "password", "refreshToken", "preSignedKey", "organizationSecretKey"})


@dataclass(frozen=True)
class RequestRecord:
    operation_name: str | None
    query: str | None
    variables: dict[str, Any] | None
    had_auth: bool
    status: int  # HTTP status sent; 0 when the connection was reset


@dataclass
class Stats:
    mints: Counter[str] = field(default_factory=Counter)  # "api_key" | "refresh_token" | "email_password"
    requests: Counter[str] = field(default_factory=Counter)  # by operationName, None -> "anonymous"


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<redacted>" if k in _SECRET_KEYS and v is not None else _redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


class FakeKraken:
    def __init__(
        self,
        account: SimAccount | None = None,
        *,
        deployment: str = "octopus-gb",
        clock: Clock | None = None,
        api_key: str = "sk_test_fake_api_key",
        email: str = "user@example.com",
        password: str = "correct horse",  # noqa: S107 - the fake's test credential
        token_lifetime_s: float = 3600,
        refresh_lifetime_s: float = 7 * 24 * 3600,
        points_per_hour: int = 10_000,
        extra_fields: Iterable[str] = (),
    ) -> None:
        self.deployment = deployment
        self.clock: Clock = clock or SystemClock()
        self.account: SimAccount = account or SimAccount.for_deployment(deployment, self.clock.now())
        self.api_key, self.email, self.password = api_key, email, password
        self.lock = threading.RLock()
        self.tokens = TokenIssuer(
            self.clock, f"kraken|account-user:{self.account.user_id}", token_lifetime_s, refresh_lifetime_s
        )
        self.budget = PointsBudget(self.clock, points_per_hour)
        self.faults = FaultQueue()
        self.stats = Stats()
        self.requests: list[RequestRecord] = []
        self.mutations: list[tuple[str, dict[str, Any]]] = []
        self.schema = _schema(deployment, frozenset(extra_fields))
        self.resolvers = Resolvers(self)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> str:
        if self._server is not None:
            return self.url
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-kraken", daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeKraken:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls -------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (KT-CT-1120 on next use)."""
        self.tokens.expire_all()

    def revoke_refresh_tokens(self) -> None:
        self.tokens.revoke_refresh_tokens()

    def record_mint(self, method: MintMethod) -> None:
        with self.lock:
            self.stats.mints[method] += 1

    # -- request handling (called from handler threads) ----------------------------------------------------
    def _record(self, op: str | None, query: str | None, variables: Any, had_auth: bool, status: int) -> None:
        with self.lock:
            self.requests.append(
                RequestRecord(
                    op, query, _redact(variables) if isinstance(variables, dict) else None, had_auth, status
                )
            )

    def handle(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, str], bytes | None]:
        """(status, extra headers, body); body None = reset the connection."""
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            with self.lock:
                self.stats.requests["anonymous"] += 1
            self._record(None, None, None, bool(authorization), 400)
            return (
                400,
                {},
                _json({"errors": [{"message": "Must provide a JSON object with a 'query' string."}]}),
            )
        op = payload.get("operationName")
        op = op if isinstance(op, str) else None
        query: str = payload["query"]
        variables = payload.get("variables") if isinstance(payload.get("variables"), dict) else None
        with self.lock:
            self.stats.requests[op or "anonymous"] += 1
        fault = self.faults.take(op)
        status, headers, out = self._respond(fault, query, variables, op, authorization)
        self._record(op, query, variables, bool(authorization), status if out is not None else 0)
        return status, headers, out

    def _respond(
        self,
        fault: Fault | None,
        query: str,
        variables: dict[str, Any] | None,
        op: str | None,
        auth: str | None,
    ) -> tuple[int, dict[str, str], bytes | None]:
        ctx = RequestContext(self.resolvers, self.tokens.check(auth))
        if fault is not None:
            kind, p = fault.kind, fault.params
            if kind in ("http_500", "http_502", "http_503"):
                code = int(kind[5:])
                return code, {"Content-Type": "text/plain"}, f"{code} sandbox fault".encode()
            if kind == "http_429":
                return (
                    429,
                    {"Content-Type": "text/plain", "Retry-After": str(p.get("retry_after", 1))},
                    b"429",
                )
            if kind in ("timeout", "slow"):
                self._stopping.wait(float(p.get("delay", 5.0 if kind == "timeout" else 0.2)))
            if kind == "reset":
                return 0, {}, None
            if kind == "invalid_json":
                return 200, {}, b"<html><body>Not JSON</body></html>"
            if kind == "wrong_shape":
                return 200, {}, _json(p.get("body", {"data": [1, 2]}))
            if kind == "raw":
                return int(p.get("status", 200)), {}, _json(p.get("body"))
            if kind == "rate_limited":
                ctx.forced = ("KT-CT-1199", "Too many requests.", True)
            if kind == "expired_token":
                ctx.forced = ("KT-CT-1120", "The Kraken Token has expired.", False)
            if kind == "brownout":
                if p.get("field"):
                    ctx.brownout_fields = frozenset({str(p["field"])})
                else:
                    ctx.brownout_all = True
        return 200, {}, _json(self.execute(query, variables, op, ctx))

    def execute(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, ctx: RequestContext
    ) -> dict[str, Any]:
        document, errors = _checked(self.schema, query, self.clock.now().date())  # live_rules as of today
        if document is None:
            return {"errors": errors}
        result = execute(
            self.schema, document, variable_values=variables, operation_name=operation_name, context_value=ctx
        )
        if not hasattr(result, "formatted"):  # pragma: no cover - we have no async resolvers
            raise TypeError("unexpected async execution result")
        return dict(result.formatted)


@cache
def _schema(deployment: str, extra_fields: frozenset[str]) -> GraphQLSchema:
    """One executable schema per (deployment, extras), shared by all servers (resolvers find their server
    through the request context)."""
    schema = build_schema(deployment, extra_fields)
    attach(schema)
    return schema


@lru_cache(maxsize=512)
def _checked(
    schema: GraphQLSchema, query: str, today: date
) -> tuple[DocumentNode | None, list[dict[str, Any]]]:
    """Parse and validate once per distinct document and day (the daemon sends the same few over and over;
    fields past their removal date fail as on the live server, see :mod:`live_rules`)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, [dict(exc.formatted)]
    errors = validate_live(schema, document, today)
    if errors:
        return None, [dict(e.formatted) for e in errors]
    return document, []


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _make_handler(fk: FakeKraken) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeKraken/1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK would
            # add ~40 ms to every kept-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            # Always drain the body, so the next request on a kept-alive connection starts cleanly.
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def do_POST(self) -> None:
            body = self._body()
            if self.path.split("?", 1)[0] != PATH:
                self._send(404, {"Content-Type": "text/plain"}, b"not found")
                return
            status, headers, out = fk.handle(body, self.headers.get("Authorization"))
            if out is None:
                self._reset()
                return
            try:
                self._send(status, dict(headers), out)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): fine
                self.close_connection = True

        def do_GET(self) -> None:
            self._body()
            self._send(405, {"Content-Type": "text/plain", "Allow": "POST"}, b"POST only")

        def _reset(self) -> None:
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

    return Handler
