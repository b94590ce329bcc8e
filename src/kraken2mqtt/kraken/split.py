"""Split a GraphQL operation into one operation per root selection.

Kraken refuses a document whose complexity is above its limit (KT-CT-1188) or that would return more than
10,000 nodes (KT-CT-1189). A combined poll document (account, dispatches, devices in one request) can then
still be sent as its parts: each root selection (a field with its alias, arguments and sub-selection, or a
spread of a fragment on the root type) becomes its own operation, declaring only the variables it uses and
carrying only the fragments it spreads, so each part is valid on its own (GraphQL rejects unused variables
and fragments).

The daemon does not import graphql-core: a small tokenizer is enough for the documents we write (and a
test checks every part of every packaged document against the SDL with graphql-core).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

from kraken2mqtt.kraken import documents

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\.\.\.|[{}():@$!=\[\],|&]|-?\d[\d.eE+-]*')


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    start: int
    end: int


def _tokens(source: str) -> list[_Tok]:
    return [_Tok(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(source)]


def _strip_comments(source: str) -> str:
    out: list[str] = []
    for line in source.splitlines():
        in_string = False
        cut = len(line)
        for i, ch in enumerate(line):
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                in_string = not in_string
            elif ch == "#" and not in_string:
                cut = i
                break
        out.append(line[:cut])
    return "\n".join(out)


def _match(tokens: list[_Tok], i: int, open_: str, close: str) -> int:
    """Index of the token closing the bracket opened at ``tokens[i]``."""
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text == open_:
            depth += 1
        elif tokens[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise documents.DocumentError("unbalanced brackets")


@dataclass(frozen=True, slots=True)
class _Fragment:
    name: str
    text: str
    spreads: frozenset[str]
    variables: frozenset[str]


def _spreads(tokens: list[_Tok]) -> frozenset[str]:
    return frozenset(
        b.text
        for a, b in itertools.pairwise(tokens)
        if a.text == "..." and b.text != "on" and (b.text[0].isalpha() or b.text[0] == "_")
    )


def _variables(tokens: list[_Tok]) -> frozenset[str]:
    return frozenset(b.text for a, b in itertools.pairwise(tokens) if a.text == "$")


@dataclass(frozen=True, slots=True)
class Part:
    """One root selection of an operation, as a document of its own."""

    key: str  # the response key (alias or field name) or the spread fragment's name
    document: documents.Document
    is_field: bool = True  # False: a fragment spread (its root fields are ``document.root_fields``)


@functools.lru_cache(maxsize=256)
def _keys(doc: documents.Document) -> frozenset[str]:
    keys: set[str] = set()
    for part in split(doc):
        keys |= {part.key} if part.is_field else part.document.root_fields
    return frozenset(keys)


def response_keys(doc: documents.Document) -> frozenset[str]:
    """The keys a full answer to ``doc`` has in its ``data`` (aliases where the document uses them)."""
    try:
        return _keys(doc)
    except (documents.DocumentError, StopIteration, IndexError):
        return doc.root_fields


def split(doc: documents.Document) -> list[Part]:
    """The root selections of ``doc`` as separate operations (``<Name>_<key>``); a document with a single
    root selection comes back as one part, unchanged."""
    source = _strip_comments(doc.source)
    toks = _tokens(source)
    fragments: dict[str, _Fragment] = {}
    op_at: int | None = None
    i = 0
    while i < len(toks):
        t = toks[i].text
        if t == "fragment" and i + 1 < len(toks):
            brace = next(j for j in range(i, len(toks)) if toks[j].text == "{")
            end = _match(toks, brace, "{", "}")
            body = toks[brace : end + 1]
            fragments[toks[i + 1].text] = _Fragment(
                toks[i + 1].text,
                source[toks[i].start : toks[end].end],
                _spreads(body),
                _variables(body),
            )
            i = end + 1
        elif t in ("query", "mutation") and op_at is None:
            op_at = i
            brace = next(j for j in range(i, len(toks)) if toks[j].text in "{(")
            if toks[brace].text == "(":
                brace = _match(toks, brace, "(", ")") + 1
            i = _match(toks, brace, "{", "}") + 1
        elif t == "{":
            i = _match(toks, i, "{", "}") + 1
        else:
            i += 1
    if op_at is None:
        raise documents.DocumentError(f"{doc.name}: no operation to split")
    kind, name = toks[op_at].text, toks[op_at + 1].text
    j = op_at + 2
    var_defs: dict[str, str] = {}
    if toks[j].text == "(":
        close = _match(toks, j, "(", ")")
        starts = [k for k in range(j + 1, close) if toks[k].text == "$" and _depth(toks, j, k) == 1]
        for n, k in enumerate(starts):
            stop = starts[n + 1] if n + 1 < len(starts) else close
            text = source[toks[k].start : toks[stop - 1].end].rstrip(", \n\t")
            var_defs[toks[k + 1].text] = text
        j = close + 1
    open_at = j
    close_at = _match(toks, open_at, "{", "}")
    parts = _root_selections(toks, open_at, close_at)
    if len(parts) <= 1:
        key, (a, _b) = parts[0] if parts else (doc.name, (open_at, open_at))
        spread = toks[a].text == "..."
        return [Part(key if not spread else doc.name, doc, is_field=not spread)]
    out: list[Part] = []
    for n, (key, (a, b)) in enumerate(parts):
        if key == "...":
            key = f"inline{n}"
        body = toks[a : b + 1]
        used_fragments: list[str] = []
        todo = sorted(_spreads(body))
        while todo:
            frag = todo.pop(0)
            if frag in used_fragments or frag not in fragments:
                continue
            used_fragments.append(frag)
            todo += sorted(fragments[frag].spreads)
        used_vars = set(_variables(body))
        for frag in used_fragments:
            used_vars |= fragments[frag].variables
        defs = [text for var, text in var_defs.items() if var in used_vars]
        header = f"{kind} {name}_{key}" + (f"({', '.join(defs)})" if defs else "")
        text = f"{header} {{\n  {source[toks[a].start : toks[b].end]}\n}}\n"
        text += "".join(f"\n{fragments[f].text}\n" for f in used_fragments)
        part_doc = documents.parse(text, origin=f"{doc.name} part {key}")
        out.append(Part(key, part_doc, is_field=toks[a].text != "..."))
    return out


def _depth(toks: list[_Tok], open_at: int, k: int) -> int:
    depth = 0
    for t in toks[open_at:k]:
        if t.text in "([{":
            depth += 1
        elif t.text in ")]}":
            depth -= 1
    return depth


def _root_selections(toks: list[_Tok], open_at: int, close_at: int) -> list[tuple[str, tuple[int, int]]]:
    """(response key, (first, last token)) of each selection directly in the set ``open_at..close_at``."""
    found: list[tuple[str, tuple[int, int]]] = []
    depth = 0
    start: int | None = None
    key = ""
    prev = ""
    last = open_at
    for k in range(open_at + 1, close_at):
        t = toks[k].text
        if t in "({[":
            depth += 1
        elif t in ")}]":
            depth -= 1
        elif depth == 0:
            name_like = t == "..." or t[0].isalpha() or t[0] == "_"
            continues = prev in {":", "@", "...", "on"}
            if name_like and not continues:
                if start is not None:
                    found.append((key, (start, last)))
                start, key = k, t
            elif prev == ":" and start is not None and key == toks[k - 2].text:
                pass  # `alias: field`: the alias stays the key
            elif prev == "..." and t != "on" and start == k - 1:
                key = t  # a named fragment spread
        prev = t
        last = k
    if start is not None:
        found.append((key, (start, last)))
    return found
