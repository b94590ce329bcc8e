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
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import cast

from kraken2mqtt.kraken import document_assembly as assembly
from kraken2mqtt.kraken.document_assembly import DocumentError as DocumentError
from kraken2mqtt.kraken.document_assembly import Layout, Piece
from kraken2mqtt.kraken.rejections import Rejection as Rejection
from kraken2mqtt.kraken.rejections import rejection as rejection

_NO_AUTH_FIELDS = frozenset({"obtainKrakenToken", "krakenVersion"})
_KEYWORDS = frozenset({"query", "mutation", "on", "fragment"})


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
    layout: Layout | None = field(default=None, compare=False, repr=False)

    @property
    def requires_auth(self) -> bool:
        return not self.root_fields <= _NO_AUTH_FIELDS


@cache
def load(name: str, without: frozenset[str] = frozenset()) -> Document:
    """Load ``graphql/<name>.graphql`` from the package, with the shared fragments it spreads
    (``graphql/fragments/<Fragment>.graphql``) appended; ``without`` names optional fragments to leave out
    (their spreads are removed, and variables nothing uses any more)."""
    origin = f"{name}.graphql"
    pieces = [_piece(origin, f"no GraphQL document named {name!r}")]
    defined = {d["name"] for d in pieces[0][1]["definitions"] if d["kind"] == "fragment"}
    optional: list[OptionalPart] = []
    critical = set(assembly.names(pieces[0][1], without))
    todo = assembly.spreads(pieces[0][1], without)
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
        body = assembly.names(piece, without) - {"fragment", "on", fragment}
        if piece["optional"]:
            optional.append(OptionalPart(fragment, piece["optional"], body))
        else:
            critical |= body
        todo += assembly.spreads(piece, without)
    # Optional parts already dropped still count (so a later rejection is matched to them, not critical).
    for fragment in sorted(without):
        try:
            _, piece = _piece(f"fragments/{fragment}.graphql", "")
        except DocumentError:
            continue
        if piece["optional"]:
            body = assembly.names(piece, frozenset()) - {"fragment", "on", fragment}
            optional.append(OptionalPart(fragment, piece["optional"], body))
    doc = assembly.assemble(pieces, origin, without, joined=True)
    if doc.name != name:
        raise DocumentError(f"{name}.graphql declares operation {doc.name!r}; the names must match")
    return Document(
        *doc[:4], tuple(optional), frozenset(critical - _KEYWORDS), without, _until(doc.source), doc.layout
    )


def parse(source: str, *, origin: str = "<string>") -> Document:
    """The document in GraphQL text that is not a packaged file (read with graphql-core)."""
    doc = assembly.assemble([(source, _analyse(source, origin))], origin, frozenset(), joined=False)
    return Document(*doc[:4], layout=doc.layout)


def operations(source: str) -> list[tuple[str, str]]:
    """(kind, name) of each named query or mutation in ``source`` (read with graphql-core)."""
    defs = _analyse(source, "<string>")["definitions"]
    return [(d["kind"], n) for d in defs if d["kind"] in assembly.ROOT_TYPES and (n := d["name"])]


def root_fields(source: str) -> frozenset[str]:
    """The root field names selected by the operations in ``source``, including those of the fragments on
    the root type that they spread (``...Dispatches``; read with graphql-core)."""
    defs = _analyse(source, "<string>")["definitions"]
    fragments = {n: d for d in defs if d["kind"] == "fragment" and (n := d["name"])}
    ops = [d for d in defs if d["kind"] in assembly.ROOT_TYPES and d["name"]]
    return frozenset().union(
        *(assembly.walk(op["selections"], assembly.ROOT_TYPES[op["kind"]], fragments) for op in ops)
    )


def _tokens(source: str) -> frozenset[str]:
    """Every name in ``source`` (fields, types, arguments, variables, fragments; read with graphql-core)."""
    return assembly.names(_analyse(source, "<string>"), frozenset())


def _piece(relative: str, missing: str) -> tuple[str, Piece]:
    """The text of ``graphql/<relative>`` and its reading: from the index, or (not in it, or changed since
    the index was written) from graphql-core."""
    text = _read(relative, missing)
    known = _index().get(relative)
    if known is not None and known["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest():
        return text, known
    return text, _analyse(text, relative)


@cache
def _index() -> dict[str, Piece]:
    path = resources.files("kraken2mqtt.kraken").joinpath("graphql", "index.json")
    try:
        return cast("dict[str, Piece]", json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def _analyse(text: str, origin: str) -> Piece:
    """graphql-core's reading of text the index does not have (development time, tests, the sandbox)."""
    try:
        from kraken2mqtt.kraken import document_index  # graphql-core: the [sandbox] extra
    except ImportError as exc:
        raise DocumentError(
            f"{origin}: not in graphql/index.json, and graphql-core is not installed to read it "
            "(regenerate the index: python -m kraken2mqtt.kraken.document_index)"
        ) from exc
    try:
        return cast("Piece", document_index.analyse(text))
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
