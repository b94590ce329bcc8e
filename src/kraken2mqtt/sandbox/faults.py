"""Fault injection for the fake Kraken server.

``FaultQueue.inject(kind, times=1, operation=None, **params)`` queues a fault for the next ``times`` requests
(only those whose ``operationName`` equals ``operation`` when given). Faults are consumed in FIFO order: a
request takes the first queued fault that matches it.

Kinds and params:

``http_500`` / ``http_502`` / ``http_503``
    That status with a plain-text body.
``http_429``
    429 with ``Retry-After: <retry_after>`` (seconds, default 1).
``timeout``
    Waits ``delay`` s (default 5; cut short by ``FakeKraken.stop``) and then answers normally.
``slow``
    Waits ``delay`` s (default 0.2) and then answers normally.
``reset``
    Closes the socket (RST) without a response.
``invalid_json``
    200 whose body is not JSON.
``wrong_shape``
    200 with valid JSON of the wrong shape; ``body`` overrides the default ``{"data": [1, 2]}``.
``rate_limited``
    200; every root field errors with KT-CT-1199 (data null for it).
``expired_token``
    200; every root field that needs auth errors with KT-CT-1120.
``brownout``
    200; KT-CT-1113 "Disabled GraphQL field requested." for every root field, or only ``field``.
``raw``
    ``body`` (any JSON-serialisable value) returned verbatim with status ``status`` (default 200).

The live API's error shapes (``../shared/kraken-live-api.md``, "Rate limits and errors seen in the wild"):

``jwt_expired``
    200; every root field that needs auth errors with KT-CT-1124 "Signature of the JWT has expired."
    (errorType APPLICATION), and every token issued so far is expired.
``field_unauthorized``
    200; the root field ``field`` is null with KT-CT-1111 / errorType AUTHORIZATION at its ``path``;
    the other fields answer normally.
``nested_error``
    200; the value at ``path`` (e.g. ``["devices", 0, "status"]``) is null with an error there: ``code``
    (default KT-CT-4360), ``message``, ``error_type``; the rest of the data is kept.
``missing_first``
    200; ``field`` is null with KT-CT-1201 (a connection queried without ``first:``).
``edge_block``
    403 with CloudFront's HTML "Request blocked" page (the CDN's rate limit, not the API's).
``too_complex`` / ``too_many_nodes``
    200 (or ``status``), no data; KT-CT-1188 (complexity above 200) / KT-CT-1189 (more than 10,000 nodes),
    for documents with more than ``max_root_fields`` (default 1) root selections; smaller documents are
    answered.
``backend_rate_limited``
    200, no data; OE-0002 "Too many requests." (the GB backend's rate limit).
``backend_unauthenticated``
    200, no data; OE-0103 (the GB backend's authentication error).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS: frozenset[str] = frozenset(
    {
        "http_500",
        "http_502",
        "http_503",
        "http_429",
        "timeout",
        "slow",
        "reset",
        "invalid_json",
        "wrong_shape",
        "rate_limited",
        "expired_token",
        "brownout",
        "raw",
        "jwt_expired",
        "field_unauthorized",
        "nested_error",
        "missing_first",
        "edge_block",
        "too_complex",
        "too_many_nodes",
        "backend_rate_limited",
        "backend_unauthenticated",
    }
)


@dataclass
class Fault:
    kind: str
    remaining: int
    operation: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, operation_name: str | None) -> bool:
        return self.operation is None or self.operation == operation_name


class FaultQueue:
    """Thread-safe queue of pending faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, kind: str, *, times: int = 1, operation: str | None = None, **params: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(Fault(kind, times, operation, dict(params)))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [Fault(f.kind, f.remaining, f.operation, dict(f.params)) for f in self._faults]

    def take(self, operation_name: str | None) -> Fault | None:
        """The fault to apply to a request with this operationName (consuming one use), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(operation_name):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return Fault(fault.kind, 1, fault.operation, dict(fault.params))
        return None
