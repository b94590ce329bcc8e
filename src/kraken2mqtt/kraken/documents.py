"""GraphQL documents: ``.graphql`` files next to the client, loaded by operation name.

Variables always travel separately from the document (no string interpolation of user data). The daemon
does not import graphql-core; a small scanner finds each document's operation and root fields so the
client can refuse to send a field the deployment does not document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\.\.\.|[{}():@$!=\[\],]')
_NO_AUTH_FIELDS = frozenset({"obtainKrakenToken", "krakenVersion"})


class DocumentError(ValueError):
    """A packaged document is missing or malformed (a bug in the package, not in user input)."""


@dataclass(frozen=True, slots=True)
class Document:
    """One named GraphQL operation."""

    name: str
    kind: str  # "query" or "mutation"
    source: str
    root_fields: frozenset[str]

    @property
    def requires_auth(self) -> bool:
        return not self.root_fields <= _NO_AUTH_FIELDS


def _strip_comments(source: str) -> str:
    return "\n".join(line.split("#", 1)[0] if '"' not in line else line for line in source.splitlines())


def root_fields(source: str) -> frozenset[str]:
    """The root field names selected by the (single) operation in ``source``."""
    tokens = _TOKEN.findall(_strip_comments(source))
    fields: set[str] = set()
    depth = 0
    paren = 0
    prev = ""
    pending: str | None = None
    for tok in tokens:
        if tok == "(":
            paren += 1
        elif tok == ")":
            paren -= 1
        elif paren:
            pass
        elif tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif (depth == 1 and tok[0].isalpha()) or (depth == 1 and tok[0] == "_"):
            if prev == ":" and pending is not None:
                fields.discard(pending)  # `alias: field`
            if prev not in {"...", "on", "@"}:
                fields.add(tok)
                pending = tok
        prev = tok
    return frozenset(fields)


def operations(source: str) -> list[tuple[str, str]]:
    """(kind, name) of each named operation defined at the top level of ``source``."""
    tokens = _TOKEN.findall(_strip_comments(source))
    found: list[tuple[str, str]] = []
    depth = 0
    for i, tok in enumerate(tokens):
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif (
            depth == 0 and tok in {"query", "mutation"} and i + 1 < len(tokens) and tokens[i + 1][0].isalpha()
        ):
            found.append((tok, tokens[i + 1]))
    return found


def parse(source: str, *, origin: str = "<string>") -> Document:
    ops = operations(source)
    if len(ops) != 1:
        raise DocumentError(f"{origin}: expected exactly one named query or mutation, found {len(ops)}")
    kind, name = ops[0]
    fields = root_fields(source)
    if not fields:
        raise DocumentError(f"{origin}: no root field selected")
    return Document(name=name, kind=kind, source=source, root_fields=fields)


@cache
def load(name: str) -> Document:
    """Load ``graphql/<name>.graphql`` from the package."""
    path = resources.files("kraken2mqtt.kraken").joinpath("graphql", f"{name}.graphql")
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DocumentError(f"no GraphQL document named {name!r}") from exc
    doc = parse(source, origin=f"{name}.graphql")
    if doc.name != name:
        raise DocumentError(f"{name}.graphql declares operation {doc.name!r}; the names must match")
    return doc


def names() -> list[str]:
    """Every packaged document's operation name."""
    folder = resources.files("kraken2mqtt.kraken").joinpath("graphql")
    return sorted(p.name.removesuffix(".graphql") for p in folder.iterdir() if p.name.endswith(".graphql"))
