"""The Kraken client's exception hierarchy and the mapping from Kraken error codes onto it.

Codes come from the API docs (see ``../shared/kraken-api-digest.md`` Appendix A). Messages never carry
credentials: they are built from the server's error text and code only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class KrakenError(Exception):
    """Base class for everything the Kraken client raises."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        operation: str | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.operation = operation
        self.extensions: Mapping[str, Any] = extensions or {}
        #: Where in the response the error sits (``("devices", 0, "status")``); None for a document-level
        #: error (a validation failure, a transport error).
        self.path: tuple[str | int, ...] | None = None
        #: The response's data and errors when the error came with data (the client's GraphQLResult).
        self.partial: Any = None

    @property
    def root_field(self) -> str | None:
        """The response key of the root field the error is under (None for a document-level error)."""
        if self.path and isinstance(self.path[0], str):
            return self.path[0]
        return None

    def __str__(self) -> str:
        where = f" in {self.operation}" if self.operation else ""
        code = f"{self.code}: " if self.code else ""
        return f"{code}{self.message}{where}"


class TransportError(KrakenError):
    """The request did not complete: connection refused or reset, timeout, DNS failure."""

    retryable = True


class ServerError(KrakenError):
    """The server answered with an HTTP 5xx (or another status we cannot use)."""

    retryable = True

    def __init__(self, message: str, *, status: int, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.status = status


class ProtocolError(KrakenError):
    """The server answered 200 with something that is not a GraphQL response (bad JSON, wrong shape)."""

    retryable = True


class AuthError(KrakenError):
    """Authentication or authorisation failed (missing, invalid or expired token; account not allowed)."""


class TokenExpiredError(AuthError):
    """KT-CT-1120 / KT-CT-1124 ("Signature of the JWT has expired."): the Kraken token has expired."""


class CredentialsError(AuthError):
    """The API key or email/password was refused (KT-CT-1134/1135). Needs the user to fix the config."""


class AuthBackoffError(AuthError):
    """Recent authentication attempts failed; the client waits before it tries again (no mint storm)."""

    def __init__(self, message: str, *, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class RateLimitedError(KrakenError):
    """KT-CT-1199, OE-0002 (backend) or HTTP 429, or our own request budget is spent."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, code=code, operation=operation)
        self.retry_after = retry_after


class EdgeBlockedError(RateLimitedError):
    """HTTP 403 with an HTML body: the CDN/WAF in front of the API blocked us (edge rate limiting).

    Not a credential problem: the token is kept and the client backs off (HAOE issues 1623, 1781, 1837;
    Predbat ``is_edge_block_body``)."""


class FieldAuthorizationError(KrakenError):
    """KT-CT-1111 / errorType AUTHORIZATION on one field (it has a ``path``) while the token is good:
    that field (or sub-field) fails, never the credentials (thecem/octopus_germany treats it so)."""


class QueryTooComplexError(KrakenError):
    """KT-CT-1188 (query complexity above the limit) or KT-CT-1189 (more than 10,000 nodes): the document
    must be split or shrunk. ``kind`` is ``"complexity"`` or ``"nodes"``."""

    @property
    def kind(self) -> str:
        return "nodes" if self.code == "KT-CT-1189" else "complexity"


class DisabledFieldError(KrakenError):
    """KT-CT-1113: the field is disabled for this deployment or during an API brownout.

    Not retried within a call (a brownout lasts minutes); the poller backs off the affected stream."""


class KrakenValidationError(KrakenError):
    """The server rejected our input (or our document)."""


class MissingFirstError(KrakenValidationError):
    """KT-CT-1201: a connection was queried without ``first:`` (or ``last:``); ``field`` names it."""

    @property
    def field(self) -> str:
        names = [p for p in self.path or () if isinstance(p, str)]
        return ".".join(names) if names else "a connection"


class NotFoundError(KrakenError):
    """The account, device, agreement or event does not exist (or is not visible to us)."""


class CommandRefusedError(KrakenError):
    """A device command was understood but refused, e.g. a boost while the device is suspended."""

    @property
    def reasons(self) -> list[str]:
        """Refusal reasons from the error extensions (``boostChargeRefusalReasons`` and the like)."""
        found: list[str] = []
        for key, value in self.extensions.items():
            if key.endswith("RefusalReasons") and isinstance(value, list):
                found.extend(str(v) for v in value)
        return found


_TOKEN_EXPIRED = frozenset({"KT-CT-1120", "KT-CT-1124"})
_CREDENTIALS = frozenset({"KT-CT-1134", "KT-CT-1135"})
_AUTH = frozenset(
    {
        "KT-CT-1111",
        "KT-CT-1112",
        "KT-CT-1121",
        "KT-CT-1122",
        "KT-CT-1128",
        "KT-CT-1129",
        "KT-CT-1130",
        "KT-CT-1131",
        "KT-CT-1132",
        "KT-CT-1133",
        "KT-CT-1139",
        "KT-CT-1143",  # not in the docs; public clients re-authenticate on them
        "KT-CT-4177",
        "KT-CT-4123",
        "KT-CT-3822",
        "KT-CT-7223",
        "OE-0103",  # api.backend.octopus.energy: not authenticated
    }
)
_RATE_LIMITED = frozenset({"KT-CT-1199", "OE-0002"})  # OE-0002: "Too many requests" on the GB backend
_TOO_COMPLEX = frozenset({"KT-CT-1188", "KT-CT-1189"})
_MISSING_FIRST = frozenset({"KT-CT-1201"})
_DISABLED = frozenset({"KT-CT-1113"})
_NOT_FOUND = frozenset(
    {
        "KT-CT-4301",
        "KT-CT-4313",
        "KT-CT-1501",
        "KT-CT-1606",
        "KT-CT-3815",
        "KT-GB-5110",
        "KT-GB-5111",
        "KT-GB-5114",
        "KT-AU-9510",
    }
)
_VALIDATION = frozenset(
    {
        "KT-CT-4321",
        "KT-CT-5450",
        "KT-CT-4329",
        "KT-CT-4333",
        "KT-CT-4334",
        "KT-CT-3941",
        "KT-CT-3820",
        "KT-CT-3821",
        "KT-CT-3953",
        "KT-CT-4371",
        "KT-CT-4375",
        "KT-CT-4377",
        "KT-CT-4378",
    }
)
_REFUSED = frozenset(
    {
        "KT-CT-4306",
        "KT-CT-4308",
        "KT-CT-4336",
        "KT-CT-4337",
        "KT-CT-4339",
        "KT-CT-4346",
        "KT-CT-4353",
        "KT-CT-4354",
        "KT-CT-4355",
        "KT-CT-4356",
        "KT-CT-4357",
        "KT-CT-4358",
        "KT-CT-4359",
        "KT-CT-4362",
        "KT-CT-4386",
        "KT-CT-4379",
        "KT-CT-4376",
        "KT-CT-4372",
        "KT-CT-3942",
        "KT-CT-3947",
        "KT-GB-5115",
        "KT-GB-5112",
        "KT-GB-5116",
        "KT-GB-5117",
    }
)

# When a response carries several errors, the one that decides what the client does comes first.
_PRECEDENCE: Sequence[type[KrakenError]] = (
    CredentialsError,
    TokenExpiredError,
    AuthError,
    RateLimitedError,
    QueryTooComplexError,
    DisabledFieldError,
    KrakenValidationError,
    FieldAuthorizationError,
    NotFoundError,
    CommandRefusedError,
    KrakenError,
)


def error_class_for(code: str | None, error_type: str | None = None) -> type[KrakenError]:
    """The exception class for a Kraken ``errorCode`` (and ``errorType`` when the code is unknown)."""
    if code in _TOKEN_EXPIRED:
        return TokenExpiredError
    if code in _CREDENTIALS:
        return CredentialsError
    if code in _AUTH:
        return AuthError
    if code in _RATE_LIMITED:
        return RateLimitedError
    if code in _TOO_COMPLEX:
        return QueryTooComplexError
    if code in _MISSING_FIRST:
        return MissingFirstError
    if code in _DISABLED:
        return DisabledFieldError
    if code in _NOT_FOUND:
        return NotFoundError
    if code in _VALIDATION:
        return KrakenValidationError
    if code in _REFUSED:
        return CommandRefusedError
    if error_type == "VALIDATION":
        return KrakenValidationError
    if error_type in {"AUTHORIZATION", "AUTHENTICATION", "PERMISSION"}:
        return AuthError
    if error_type == "NOT_FOUND":
        return NotFoundError
    if code is None:
        # GraphQL-level errors (unknown field, bad variable) have no Kraken code: our document is wrong.
        return KrakenValidationError
    return KrakenError


def error_from_graphql(error: Mapping[str, Any], *, operation: str | None = None) -> KrakenError:
    """Map one entry of a response's ``errors`` list to an exception."""
    ext_raw = error.get("extensions")
    extensions: Mapping[str, Any] = ext_raw if isinstance(ext_raw, Mapping) else {}
    code = extensions.get("errorCode")
    code = code if isinstance(code, str) else None
    error_type = extensions.get("errorType")
    message = error.get("message")
    text = message if isinstance(message, str) and message else "Kraken error"
    cls = error_class_for(code, error_type if isinstance(error_type, str) else None)
    raw_path = error.get("path")
    path = (
        tuple(p for p in raw_path if isinstance(p, str | int))
        if isinstance(raw_path, list) and raw_path
        else None
    )
    err: KrakenError
    if cls is RateLimitedError:
        err = RateLimitedError(text, code=code, operation=operation)
    else:
        err = cls(text, code=code, operation=operation, extensions=extensions)
    err.path = path or None
    if isinstance(err, MissingFirstError):
        err.message = f"{text} ({err.field} was queried without `first:`)"
    return err


def field_authorization(err: KrakenError) -> FieldAuthorizationError:
    """The same error, as a failure of its field only (see :class:`FieldAuthorizationError`)."""
    out = FieldAuthorizationError(
        err.message, code=err.code, operation=err.operation, extensions=err.extensions
    )
    out.path = err.path
    return out


def most_important(errors: Sequence[KrakenError]) -> KrakenError:
    """Pick the error that decides the client's reaction (auth before rate limit before the rest)."""

    def rank(err: KrakenError) -> int:
        for i, cls in enumerate(_PRECEDENCE):
            if isinstance(err, cls):
                return i
        return len(_PRECEDENCE)

    return min(errors, key=rank)
