"""Putting a GraphQL document together from the reading of its files, without graphql-core: the
operation's file and the shared fragments it spreads joined, the spreads of the fragments left out cut from
the text, the variables nothing uses any more removed, and the :class:`Layout` a split is made from.

A file's reading (:class:`Piece`: its definitions, root selections, fragment spreads and variables, with
their offsets) comes from ``graphql/index.json`` or, for text that is not a packaged file, from graphql-core
then and there (:mod:`kraken2mqtt.kraken.document_index` writes the one and does the other).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypedDict

ROOT_TYPES = {"query": "Query", "mutation": "Mutation"}


class DocumentError(ValueError):
    """A packaged document is missing or malformed (a bug in the package, not in user input)."""


class Span(TypedDict):
    name: str
    start: int
    end: int


class SelectionEntry(TypedDict):
    key: str
    field: str | None
    spread: str | None
    start: int
    end: int


class Definition(TypedDict):
    kind: str  # query, mutation, fragment (or a type-system definition's kind)
    name: str | None
    on: str | None  # the type a fragment is on
    start: int
    end: int
    selections: list[SelectionEntry]
    variables: list[Span]  # an operation's variable definitions
    parens: list[int] | None  # the span of their parentheses


class Piece(TypedDict):
    """One file's (or text's) entry in the index: written by :mod:`kraken2mqtt.kraken.document_index`."""

    sha256: str
    optional: str | None
    definitions: list[Definition]
    names: list[str]  # every name used, but those of fragment spreads
    spreads: list[Span]  # every named fragment spread
    variables: list[Span]  # every variable reference (not its definition)


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


class Assembled(NamedTuple):
    """A document's operation name and kind, text, root fields and layout."""

    name: str
    kind: str
    source: str
    root_fields: frozenset[str]
    layout: Layout


def assemble(
    pieces: list[tuple[str, Piece]], origin: str, without: frozenset[str], *, joined: bool
) -> Assembled:
    """The document of ``pieces`` (an operation's text, then the fragments it spreads) without the spreads
    of the fragments ``without``; ``joined`` (a packaged document): the pieces joined, and the operation's
    variables nothing uses any more removed."""
    ops = [(t, p, d) for t, p in pieces for d in p["definitions"] if d["kind"] in ROOT_TYPES and d["name"]]
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
    root = ROOT_TYPES[op["kind"]]
    selections = tuple(
        Selection(
            s["key"],
            s["field"] is not None,
            *_extract(op_text, op_piece, s, without),
            walk([s], root, definitions, without),
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
    return Assembled(op["name"] or "", op["kind"], source, fields, layout)


def walk(
    selections: Iterable[SelectionEntry],
    root: str,
    fragments: Mapping[str, Definition],
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
    text: str, piece: Piece, span: SelectionEntry | Definition, without: frozenset[str]
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


def names(piece: Piece, without: frozenset[str]) -> frozenset[str]:
    """The names ``piece`` uses, with the spreads of the fragments ``without`` removed."""
    return frozenset(piece["names"]) | {s["name"] for s in piece["spreads"] if s["name"] not in without}


def spreads(piece: Piece, without: frozenset[str]) -> list[str]:
    """The fragments ``piece`` spreads (at any depth, in order of appearance), but those of ``without``."""
    return list(dict.fromkeys(s["name"] for s in piece["spreads"] if s["name"] not in without))
