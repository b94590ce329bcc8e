"""Split a GraphQL operation into one operation per root selection.

Kraken refuses a document whose complexity is above its limit (KT-CT-1188) or that would return more than
10,000 nodes (KT-CT-1189). A combined poll document (account, dispatches, devices in one request) can then
still be sent as its parts: each root selection (a field with its alias, arguments and sub-selection, or a
spread of a fragment on the root type) becomes its own operation, declaring only the variables it uses and
carrying only the fragments it spreads, so each part is valid on its own (GraphQL rejects unused variables
and fragments).

The parts are put together from the document's :class:`~kraken2mqtt.kraken.document_assembly.Layout`
(read from the index graphql-core wrote at development time; a test checks every part of every packaged
document against the SDL with graphql-core).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from kraken2mqtt.kraken import documents
from kraken2mqtt.kraken.document_assembly import Layout


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
    layout = doc.layout or documents.parse(doc.source, origin=doc.name).layout
    assert layout is not None
    if len(layout.selections) <= 1:
        only = layout.selections[0] if layout.selections else None
        if only is None or only.is_field:
            return [Part(only.key if only else doc.name, doc)]
        return [Part(doc.name, doc, is_field=False)]
    out: list[Part] = []
    for n, selection in enumerate(layout.selections):
        key = f"inline{n}" if selection.key == "..." else selection.key
        used: list[str] = []
        todo = sorted(selection.spreads)
        while todo:
            name = todo.pop(0)
            if name in used or name not in layout.fragments:
                continue
            used.append(name)
            todo += sorted(layout.fragments[name].spreads)
        fragments = {name: layout.fragments[name] for name in used}
        variables = selection.variables.union(*(f.variables for f in fragments.values()))
        defs = tuple((var, text) for var, text in layout.variables if var in variables)
        header = f"{doc.kind} {doc.name}_{key}" + (f"({', '.join(t for _, t in defs)})" if defs else "")
        text = f"{header} {{\n  {selection.text}\n}}\n"
        text += "".join(f"\n{f.text}\n" for f in fragments.values())
        if not selection.root_fields:
            raise documents.DocumentError(f"{doc.name} part {key}: no root field selected")
        part = documents.Document(
            name=f"{doc.name}_{key}",
            kind=doc.kind,
            source=text,
            root_fields=selection.root_fields,
            layout=Layout(defs, (selection,), fragments),
        )
        out.append(Part(key, part, is_field=selection.is_field))
    return out
