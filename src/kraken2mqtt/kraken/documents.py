"""GraphQL documents: ``.graphql`` files next to the client, loaded by operation name.

Variables always travel separately from the document (no string interpolation of user data). The daemon
does not import graphql-core: graphql-core read every packaged file at development time into
``graphql/index.json`` (:mod:`kraken2mqtt.kraken.document_index`: definitions, root selections, fragment
spreads and variables, with their offsets), so a document is assembled with its shared fragments, an
optional fragment left out and the variables nothing uses any more removed by slicing text, and the client
knows the root fields it must not send to a deployment that does not document them. Text that is not a
packaged file (tests, the fake server reading what it is sent) is read with graphql-core when asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from importlib import resources
from typing import TypedDict, cast

_NO_AUTH_FIELDS = frozenset({"obtainKrakenToken", "krakenVersion"})
_ROOT_TYPES = {"query": "Query", "mutation": "Mutation"}
_KEYWORDS = frozenset({"query", "mutation", "on", "fragment"})


class DocumentError(ValueError):
    """A packaged document is missing or malformed (a bug in the package, not in user input)."""


@dataclass(frozen=True, slots=True)
class OptionalPart:
    """A shared fragment marked ``# optional: <feature>``: a selection the daemon can do without."""

    name: str
    feature: str
    tokens: frozenset[str]


@dataclass(frozen=True, slots=True)
class Selection:
    """A root selection of a document, as :func:`kraken2mqtt.kraken.split.split` makes it an operation."""

    key: str  # the response key (alias or field name), the spread fragment's name, "..." (inline fragment)
    is_field: bool
    text: str
    spreads: frozenset[str]  # the fragments it spreads
    variables: frozenset[str]
    root_fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class Fragment:
    """A fragment definition of a document: its text, the fragments it spreads, the variables it uses."""

    text: str
    spreads: frozenset[str]
    variables: frozenset[str]


@dataclass(frozen=True, slots=True)
class Layout:
    """A document in the pieces a split needs: its variable definitions (name, text), root selections and
    fragment definitions."""

    variables: tuple[tuple[str, str], ...]
    selections: tuple[Selection, ...]
    fragments: Mapping[str, Fragment]


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
    layout: Layout | None = field(default=None, compare=False, repr=False)

    @property
    def requires_auth(self) -> bool:
        return not self.root_fields <= _NO_AUTH_FIELDS


class _Span(TypedDict):
    name: str
    start: int
    end: int


class _Selection(TypedDict):
    key: str
    field: str | None
    spread: str | None
    start: int
    end: int


class _Definition(TypedDict):
    kind: str  # query, mutation, fragment (or a type-system definition's kind)
    name: str | None
    on: str | None  # the type a fragment is on
    start: int
    end: int
    selections: list[_Selection]
    variables: list[_Span]  # an operation's variable definitions
    parens: list[int] | None  # the span of their parentheses


class _Piece(TypedDict):
    """One file's (or text's) entry in the index: see :mod:`kraken2mqtt.kraken.document_index`."""

    sha256: str
    optional: str | None
    definitions: list[_Definition]
    names: list[str]  # every name used, but those of fragment spreads
    spreads: list[_Span]  # every named fragment spread
    variables: list[_Span]  # every variable reference (not its definition)


@cache
def load(name: str, without: frozenset[str] = frozenset()) -> Document:
    """Load ``graphql/<name>.graphql`` from the package, with the shared fragments it spreads
    (``graphql/fragments/<Fragment>.graphql``) appended; ``without`` names optional fragments to leave out
    (their spreads are removed, and variables nothing uses any more)."""
    origin = f"{name}.graphql"
    pieces = [_piece(origin, f"no GraphQL document named {name!r}")]
    defined = {d["name"] for d in pieces[0][1]["definitions"] if d["kind"] == "fragment"}
    optional: list[OptionalPart] = []
    critical = set(_names(pieces[0][1], without))
    todo = _spreads(pieces[0][1], without)
    while todo:
        fragment = todo.pop(0)
        if fragment in defined:
            continue
        text, piece = _piece(
            f"fragments/{fragment}.graphql", f"{origin}: no shared fragment named {fragment!r}"
        )
        if [(d["kind"], d["name"]) for d in piece["definitions"]] != [("fragment", fragment)]:
            raise DocumentError(f"fragments/{fragment}.graphql must define exactly the fragment {fragment!r}")
        defined.add(fragment)
        pieces.append((text, piece))
        body = _names(piece, without) - {"fragment", "on", fragment}
        if piece["optional"]:
            optional.append(OptionalPart(fragment, piece["optional"], body))
        else:
            critical |= body
        todo += _spreads(piece, without)
    # Optional parts already dropped still count (so a later rejection is matched to them, not critical).
    for fragment in sorted(without):
        try:
            _, piece = _piece(f"fragments/{fragment}.graphql", "")
        except DocumentError:
            continue
        if piece["optional"]:
            body = _names(piece, frozenset()) - {"fragment", "on", fragment}
            optional.append(OptionalPart(fragment, piece["optional"], body))
    doc = _assemble(pieces, origin, without, joined=True)
    if doc.name != name:
        raise DocumentError(f"{name}.graphql declares operation {doc.name!r}; the names must match")
    critical_tokens = frozenset(critical - _KEYWORDS)
    until = _until(doc.source)
    return replace(
        doc, optional=tuple(optional), critical_tokens=critical_tokens, dropped=without, until=until
    )


def parse(source: str, *, origin: str = "<string>") -> Document:
    """The document in GraphQL text that is not a packaged file (read with graphql-core)."""
    return _assemble([(source, _analyse(source, origin))], origin, frozenset(), joined=False)


def operations(source: str) -> list[tuple[str, str]]:
    """(kind, name) of each named query or mutation in ``source`` (read with graphql-core)."""
    defs = _analyse(source, "<string>")["definitions"]
    return [(d["kind"], n) for d in defs if d["kind"] in _ROOT_TYPES and (n := d["name"])]


def root_fields(source: str) -> frozenset[str]:
    """The root field names selected by the operations in ``source``, including those of the fragments on
    the root type that they spread (``...Dispatches``; read with graphql-core)."""
    defs = _analyse(source, "<string>")["definitions"]
    fragments = {n: d for d in defs if d["kind"] == "fragment" and (n := d["name"])}
    ops = [d for d in defs if d["kind"] in _ROOT_TYPES and d["name"]]
    return frozenset().union(*(_walk(op["selections"], _ROOT_TYPES[op["kind"]], fragments) for op in ops))


def _tokens(source: str) -> frozenset[str]:
    """Every name in ``source`` (fields, types, arguments, variables, fragments; read with graphql-core)."""
    return _names(_analyse(source, "<string>"), frozenset())


def _assemble(
    pieces: list[tuple[str, _Piece]], origin: str, without: frozenset[str], *, joined: bool
) -> Document:
    """The document of ``pieces`` (an operation's text, then the fragments it spreads) without the spreads
    of the fragments ``without``; ``joined`` (a packaged document): the pieces joined, and the operation's
    variables nothing uses any more removed."""
    ops = [(t, p, d) for t, p in pieces for d in p["definitions"] if d["kind"] in _ROOT_TYPES and d["name"]]
    if len(ops) != 1:
        raise DocumentError(f"{origin}: expected exactly one named query or mutation, found {len(ops)}")
    op_text, op_piece, op = ops[0]
    fragments = {
        n: (t, p, d)
        for t, p in pieces
        for d in p["definitions"]
        if (n := d["name"]) and d["kind"] == "fragment"
    }
    definitions = {n: d for n, (_, _, d) in fragments.items()}
    root = _ROOT_TYPES[op["kind"]]
    selections = tuple(
        Selection(
            s["key"],
            s["field"] is not None,
            *_extract(op_text, op_piece, s, without),
            _walk([s], root, definitions, without),
        )
        for s in op["selections"]
        if s["spread"] not in without
    )
    fields = frozenset[str]().union(*(s.root_fields for s in selections))
    if not fields:
        raise DocumentError(f"{origin}: no root field selected")
    used = {v["name"] for _, p in pieces for v in p["variables"]}
    variables = [(v["name"], op_text[v["start"] : v["end"]]) for v in op["variables"]]
    kept = [(n, t) for n, t in variables if n in used or not joined]
    texts = []
    for text, piece in pieces:
        cuts = [(s["start"], s["end"], "") for s in piece["spreads"] if s["name"] in without]
        if piece is op_piece and len(kept) < len(variables) and op["parens"]:
            start, end = op["parens"]
            cuts.append((start, end, f"({', '.join(t for _, t in kept)})" if kept else ""))
        texts.append(_cut(text, 0, len(text), cuts))
    layout = Layout(
        tuple(kept),
        selections,
        {n: Fragment(*_extract(t, p, d, without)) for n, (t, p, d) in fragments.items()},
    )
    source = "\n".join(t.rstrip("\n") for t in texts) + "\n" if joined else texts[0]
    return Document(name=op["name"] or "", kind=op["kind"], source=source, root_fields=fields, layout=layout)


def _walk(
    selections: Iterable[_Selection],
    root: str,
    fragments: Mapping[str, _Definition],
    without: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """The root fields of ``selections``, following the spreads of fragments on the root type."""
    fields: set[str] = set()
    seen: set[str] = set()
    todo = list(selections)
    while todo:
        selection = todo.pop()
        name = selection["spread"]
        if selection["field"] is not None:
            fields.add(selection["field"])
        elif name is not None and name not in seen and name not in without:
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is not None and fragment["on"] == root:
                todo += fragment["selections"]
    return frozenset(fields)


def _extract(
    text: str, piece: _Piece, span: _Selection | _Definition, without: frozenset[str]
) -> tuple[str, frozenset[str], frozenset[str]]:
    """The text of ``span`` in ``text`` without the spreads of ``without``, the fragments it spreads and the
    variables it uses."""
    start, end = span["start"], span["end"]
    inside = [s for s in piece["spreads"] if start <= s["start"] and s["end"] <= end]
    return (
        _cut(text, start, end, [(s["start"], s["end"], "") for s in inside if s["name"] in without]),
        frozenset(s["name"] for s in inside if s["name"] not in without),
        frozenset(v["name"] for v in piece["variables"] if start <= v["start"] and v["end"] <= end),
    )


def _cut(text: str, start: int, end: int, cuts: Iterable[tuple[int, int, str]]) -> str:
    """``text[start:end]`` with each span ``(a, b)`` in it replaced by its text."""
    out: list[str] = []
    at = start
    for a, b, replacement in sorted(cuts):
        out += [text[at:a], replacement]
        at = b
    return "".join(out) + text[at:end]


def _names(piece: _Piece, without: frozenset[str]) -> frozenset[str]:
    """The names ``piece`` uses, with the spreads of the fragments ``without`` removed."""
    return frozenset(piece["names"]) | {s["name"] for s in piece["spreads"] if s["name"] not in without}


def _spreads(piece: _Piece, without: frozenset[str]) -> list[str]:
    """The fragments ``piece`` spreads (at any depth, in order of appearance), but those of ``without``."""
    return list(dict.fromkeys(s["name"] for s in piece["spreads"] if s["name"] not in without))


def _piece(relative: str, missing: str) -> tuple[str, _Piece]:
    """The text of ``graphql/<relative>`` and its reading: from the index, or (not in it, or changed since
    the index was written) from graphql-core."""
    text = _read(relative, missing)
    known = _index().get(relative)
    if known is not None and known["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest():
        return text, known
    return text, _analyse(text, relative)


@cache
def _index() -> dict[str, _Piece]:
    path = resources.files("kraken2mqtt.kraken").joinpath("graphql", "index.json")
    try:
        return cast("dict[str, _Piece]", json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def _analyse(text: str, origin: str) -> _Piece:
    """graphql-core's reading of text the index does not have (development time, tests, the sandbox)."""
    try:
        from kraken2mqtt.kraken import document_index  # graphql-core: the [sandbox] extra
    except ImportError as exc:
        raise DocumentError(
            f"{origin}: not in graphql/index.json, and graphql-core is not installed to read it "
            "(regenerate the index: python -m kraken2mqtt.kraken.document_index)"
        ) from exc
    try:
        return cast("_Piece", document_index.analyse(text))
    except ValueError as exc:
        raise DocumentError(f"{origin}: {exc}") from exc


def _read(relative: str, missing: str) -> str:
    path = resources.files("kraken2mqtt.kraken").joinpath("graphql", *relative.split("/"))
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DocumentError(missing) from exc


def names() -> list[str]:
    """Every packaged document's operation name."""
    folder = resources.files("kraken2mqtt.kraken").joinpath("graphql")
    return sorted(p.name.removesuffix(".graphql") for p in folder.iterdir() if p.name.endswith(".graphql"))


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
