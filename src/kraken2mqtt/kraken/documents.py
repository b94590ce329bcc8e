"""GraphQL documents: ``.graphql`` files next to the client, loaded by operation name.

Variables always travel separately from the document (no string interpolation of user data). The daemon
does not import graphql-core; a small scanner finds each document's operation and root fields so the
client can refuse to send a field the deployment does not document.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\.\.\.|[{}():@$!=\[\],]')
_NO_AUTH_FIELDS = frozenset({"obtainKrakenToken", "krakenVersion"})


class DocumentError(ValueError):
    """A packaged document is missing or malformed (a bug in the package, not in user input)."""


@dataclass(frozen=True, slots=True)
class OptionalPart:
    """A shared fragment marked ``# optional: <feature>``: a selection the daemon can do without."""

    name: str
    feature: str
    tokens: frozenset[str]


@dataclass(frozen=True, slots=True)
class Document:
    """One named GraphQL operation."""

    name: str
    kind: str  # "query" or "mutation"
    source: str
    root_fields: frozenset[str]
    optional: tuple[OptionalPart, ...] = ()
    #: Names (fields, types) in the parts that are not optional: a rejection of one of them is critical.
    critical_tokens: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()
    #: ``# until: YYYY-MM-DD``: the document selects a field whose removal date that is (a fallback for a
    #: lagging deployment); from that day on it is never sent (:func:`retired`).
    until: date | None = None

    @property
    def requires_auth(self) -> bool:
        return not self.root_fields <= _NO_AUTH_FIELDS


def _strip_comments(source: str) -> str:
    return "\n".join(line.split("#", 1)[0] if '"' not in line else line for line in source.splitlines())


@dataclass(slots=True)
class _Definition:
    """A top-level definition: its kind (query, mutation, fragment), name, the type a fragment is on, and
    the fields and named fragment spreads directly in its selection set."""

    kind: str
    name: str
    on: str | None
    fields: set[str]
    spreads: set[str]


def _is_name(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_"


def _definitions(source: str) -> list[_Definition]:
    tokens = _TOKEN.findall(_strip_comments(source))
    found: list[_Definition] = []
    current: _Definition | None = None
    depth = 0
    paren = 0
    prev = ""
    pending: str | None = None
    for i, tok in enumerate(tokens):
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
        elif depth == 0:
            if tok in _DEFINITION_KINDS and i + 1 < len(tokens) and _is_name(tokens[i + 1]):
                after = tokens[i + 2 : i + 4]  # `fragment Name on Type`
                on = after[1] if tok == "fragment" and len(after) == 2 and after[0] == "on" else None
                current = _Definition(tok, tokens[i + 1], on, set(), set())
                found.append(current)
        elif depth == 1 and current is not None and _is_name(tok):
            if prev == "...":
                if tok != "on":
                    current.spreads.add(tok)
            elif prev == ":" and pending is not None:
                current.fields.discard(pending)  # `alias: field`
                current.fields.add(tok)
                pending = tok
            elif prev not in {"on", "@"}:
                current.fields.add(tok)
                pending = tok
        prev = tok
    return found


_DEFINITION_KINDS = frozenset({"query", "mutation", "fragment"})
_ROOT_TYPES = {"query": "Query", "mutation": "Mutation"}


def root_fields(source: str) -> frozenset[str]:
    """The root field names selected by the (single) operation in ``source``, including those of the
    fragments on the root type that it spreads (``...Dispatches``)."""
    definitions = _definitions(source)
    fragments = {d.name: d for d in definitions if d.kind == "fragment"}
    fields: set[str] = set()
    for op in (d for d in definitions if d.kind in _ROOT_TYPES):
        seen: set[str] = set()
        todo = [op]
        while todo:
            definition = todo.pop()
            fields |= definition.fields
            for name in definition.spreads - seen:
                seen.add(name)
                fragment = fragments.get(name)
                if fragment is not None and fragment.on == _ROOT_TYPES[op.kind]:
                    todo.append(fragment)
    return frozenset(fields)


def _named_spreads(source: str) -> list[str]:
    """Every ``...Name`` fragment spread in ``source``, at any depth, in order of appearance."""
    tokens = _TOKEN.findall(_strip_comments(source))
    return list(
        dict.fromkeys(b for a, b in itertools.pairwise(tokens) if a == "..." and _is_name(b) and b != "on")
    )


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
def load(name: str, without: frozenset[str] = frozenset()) -> Document:
    """Load ``graphql/<name>.graphql`` from the package, with the shared fragments it spreads
    (``graphql/fragments/<Fragment>.graphql``) appended; ``without`` names optional fragments to leave out
    (their spreads are removed, and variables nothing uses any more)."""
    source = _read(f"{name}.graphql", f"no GraphQL document named {name!r}")
    source, optional, critical = _with_fragments(source, origin=f"{name}.graphql", without=without)
    doc = parse(source, origin=f"{name}.graphql")
    if doc.name != name:
        raise DocumentError(f"{name}.graphql declares operation {doc.name!r}; the names must match")
    return Document(
        name=doc.name,
        kind=doc.kind,
        source=doc.source,
        root_fields=doc.root_fields,
        optional=optional,
        critical_tokens=critical,
        dropped=without,
        until=_until(source),
    )


_HEADER_LINE = re.compile(r"^\s*#\s*([A-Za-z_-]+):\s*(.*?)\s*$")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def header(source: str, key: str) -> str | None:
    """The value of a document's leading ``# key: value`` comment line (None: its leading comments have none).

    Only the comment lines before the first line of GraphQL count; blank lines between them are passed over.
    """
    for line in source.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            return None
        match = _HEADER_LINE.match(line)
        if match and match.group(1) == key:
            return match.group(2)
    return None


def _until(source: str) -> date | None:
    """The date on a leading ``# until: YYYY-MM-DD`` comment line (None: none)."""
    m = _DATE.fullmatch(header(source, "until") or "")
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def retired(doc: Document, today: date) -> bool:
    """Whether ``doc`` is past its ``# until:`` date (a field it selects is removed): never sent."""
    return doc.until is not None and today >= doc.until


def optional_parts(name: str) -> tuple[OptionalPart, ...]:
    """Every optional fragment the document ``name`` spreads (directly or through other fragments)."""
    return load(name).optional


_OPTIONAL = re.compile(r"^\s*#\s*optional:\s*(.+?)\s*$", re.MULTILINE)
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


def culprits(doc: Document, found: Rejection) -> frozenset[str] | None:
    """The optional fragments of ``doc`` to drop for ``found``; an empty set when what the server rejects
    is in a critical part (nothing to drop); None when ``doc`` does not select it at all."""
    active = [p for p in doc.optional if p.name not in doc.dropped]
    names = {found.name} | ({found.on_type} if found.on_type else set())
    both = frozenset(p.name for p in active if names <= p.tokens)
    if both and not names <= doc.critical_tokens:
        return both
    only = frozenset(p.name for p in active if found.name in p.tokens)
    if only and found.name not in doc.critical_tokens:
        return only
    if found.name in doc.critical_tokens:
        return frozenset()
    return None


def _read(relative: str, missing: str) -> str:
    path = resources.files("kraken2mqtt.kraken").joinpath("graphql", *relative.split("/"))
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DocumentError(missing) from exc


def _drop_spreads(source: str, without: frozenset[str]) -> str:
    for name in without:
        source = re.sub(r"\.\.\.\s*" + re.escape(name) + r"(?![A-Za-z0-9_])", "", source)
    return source


def _tokens(source: str) -> set[str]:
    return {t for t in _TOKEN.findall(_strip_comments(source)) if _is_name(t)}


def _with_fragments(
    source: str, *, origin: str, without: frozenset[str] = frozenset()
) -> tuple[str, tuple[OptionalPart, ...], frozenset[str]]:
    source = _drop_spreads(source, without)
    defined = {d.name for d in _definitions(source) if d.kind == "fragment"}
    parts = [source.rstrip("\n")]
    optional: list[OptionalPart] = []
    critical = _tokens(source)
    todo = _named_spreads(source)
    while todo:
        name = todo.pop(0)
        if name in defined:
            continue
        fragment = _read(f"fragments/{name}.graphql", f"{origin}: no shared fragment named {name!r}")
        if [(d.kind, d.name) for d in _definitions(fragment)] != [("fragment", name)]:
            raise DocumentError(f"fragments/{name}.graphql must define exactly the fragment {name!r}")
        fragment = _drop_spreads(fragment, without)
        defined.add(name)
        parts.append(fragment.rstrip("\n"))
        marker = _optional_marker(fragment)
        body = _tokens(fragment) - {"fragment", "on", name}
        if marker:
            optional.append(OptionalPart(name, marker.group(1), frozenset(body)))
        else:
            critical |= body
        todo += _named_spreads(fragment)
    text = _without_unused_variables("\n".join(parts) + "\n")
    # Optional parts already dropped still count (so a later rejection is matched to them, not critical).
    for name in sorted(without):
        try:
            fragment = _read(f"fragments/{name}.graphql", "")
        except DocumentError:
            continue
        marker = _optional_marker(fragment)
        if marker:
            body = _tokens(fragment) - {"fragment", "on", name}
            optional.append(OptionalPart(name, marker.group(1), frozenset(body)))
    critical -= {"query", "mutation", "on", "fragment"}
    return text, tuple(optional), frozenset(critical)


def _optional_marker(fragment: str) -> re.Match[str] | None:
    head = "\n".join(
        line for line in itertools.takewhile(lambda x: x.lstrip().startswith("#"), fragment.splitlines())
    )
    return _OPTIONAL.search(head)


_VARIABLE_DEF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*:\s*[A-Za-z_][A-Za-z0-9_]*!?\s*,?\s*")


def _without_unused_variables(source: str) -> str:
    """Remove the operation's variable definitions that nothing references any more."""
    match = re.search(r"\b(query|mutation)\s+[A-Za-z_][A-Za-z0-9_]*\s*\(([^)]*)\)", source)
    if match is None:
        return source
    header = match.group(2)
    rest = source[: match.start(2)] + source[match.end(2) :]
    kept = [
        m.group(0)
        for m in _VARIABLE_DEF.finditer(header)
        if re.search(r"\$" + m.group(1) + r"(?![A-Za-z0-9_])", rest)
    ]
    new_header = ", ".join(k.strip().rstrip(",").strip() for k in kept)
    if new_header == header:
        return source
    start, end = match.start(2) - 1, match.end(2) + 1  # the parentheses
    replacement = f"({new_header})" if new_header else ""
    return source[:start] + replacement + source[end:]


def names() -> list[str]:
    """Every packaged document's operation name."""
    folder = resources.files("kraken2mqtt.kraken").joinpath("graphql")
    return sorted(p.name.removesuffix(".graphql") for p in folder.iterdir() if p.name.endswith(".graphql"))
