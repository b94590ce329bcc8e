"""What a server's GraphQL validation message names: the field (on a type) or the type it rejects, so
the poller can tell which optional part of a document to leave out (``documents.culprits``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_N = r"['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]"
_REJECTED_FIELD = re.compile(r"Cannot query field " + _N + " on type " + _N)
_UNKNOWN_TYPE = re.compile(r"Unknown type " + _N)
_NEEDS_SUBFIELDS = re.compile(r"Field " + _N + " of type " + _N + " must have a selection of subfields")
_NO_SUBFIELDS = re.compile(r"Field " + _N + " must not have a selection since type " + _N)
_UNKNOWN_ARGUMENT = re.compile(
    r"Unknown argument " + _N + r" on field ['\"](?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """What a GraphQL validation error names: a field (on a type) or a type."""

    name: str
    on_type: str | None
    message: str

    @property
    def label(self) -> str:
        return f"{self.on_type}.{self.name}" if self.on_type else self.name


def rejection(message: str) -> Rejection | None:
    """The field or type a server's validation message names (``Cannot query field 'x' on type 'Y'``,
    ``Unknown type 'Y'``, ``Unknown argument 'a' on field 'Y.x'``, a scalar/object shape mismatch), or
    None."""
    if m := _REJECTED_FIELD.search(message):
        return Rejection(m.group(1), m.group(2), message)
    if m := _NEEDS_SUBFIELDS.search(message) or _NO_SUBFIELDS.search(message):
        return Rejection(m.group(1), None, message)
    if m := _UNKNOWN_TYPE.search(message):
        return Rejection(m.group(1), None, message)
    if m := _UNKNOWN_ARGUMENT.search(message):
        return Rejection(m.group(3), m.group(2), message)
    return None
