"""The document index, written at development time: graphql-core's reading of every packaged ``.graphql``
file, kept in ``graphql/index.json`` so the daemon never imports graphql-core.

For each file (by its path under ``graphql/``): its top-level definitions (kind, name, the type a fragment is
on, the text span of each, and of each root selection with its response key, field or spread), every named
fragment spread and every variable reference with its span, the names it uses (fragment spreads aside, the
names rejected fields and types are matched against), its ``# optional: <feature>`` marker, and the SHA-256
of its text (a stale entry is not used). At run time :mod:`kraken2mqtt.kraken.document_assembly` puts a
document together, leaves out an optional fragment and cuts it into its root selections by slicing the text
at these spans; :mod:`kraken2mqtt.kraken.documents` reads text that is not a packaged file (tests, the fake
server) with :func:`analyse` then and there.

After editing a document:  python -m kraken2mqtt.kraken.document_index   (a test fails while it is stale)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    NameNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionNode,
    Token,
    TokenKind,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    parse,
    visit,
)

COMMAND = "python -m kraken2mqtt.kraken.document_index"
FILE = "index.json"
_OPTIONAL = re.compile(r"^\s*#\s*optional:\s*(.+?)\s*$", re.MULTILINE)


class _Reader(Visitor):
    """Names (but those of fragment spreads), fragment spreads and variable references, in source order."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.spreads: list[dict[str, Any]] = []
        self.variables: list[dict[str, Any]] = []

    def enter_name(self, node: NameNode, _key: object, parent: object, *_: object) -> None:
        if not isinstance(parent, FragmentSpreadNode):
            self.names.add(node.value)

    def enter_enum_value(self, node: EnumValueNode, *_: object) -> None:
        self.names.add(node.value)

    def enter_boolean_value(self, node: BooleanValueNode, *_: object) -> None:
        self.names.add("true" if node.value else "false")

    def enter_null_value(self, _node: NullValueNode, *_: object) -> None:
        self.names.add("null")

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.spreads.append(_span(node, node.name.value))

    def enter_variable(self, node: VariableNode, _key: object, parent: object, *_: object) -> None:
        if not isinstance(parent, VariableDefinitionNode):
            self.variables.append(_span(node, node.name.value))


def _span(node: Any, name: str) -> dict[str, Any]:
    return {"name": name, "start": node.loc.start, "end": node.loc.end}


def _selection(node: SelectionNode) -> dict[str, Any]:
    assert node.loc is not None
    out = {"start": node.loc.start, "end": node.loc.end}
    if isinstance(node, FieldNode):
        return {**out, "key": (node.alias or node.name).value, "field": node.name.value, "spread": None}
    if isinstance(node, FragmentSpreadNode):
        return {**out, "key": node.name.value, "field": None, "spread": node.name.value}
    return {**out, "key": "...", "field": None, "spread": None}  # an inline fragment


def _token(token: Token | None, step: str) -> Token:
    """The nearest token that is not a comment, going ``step`` ("prev" or "next") from ``token``."""
    while token is not None and token.kind == TokenKind.COMMENT:
        token = getattr(token, step)
    assert token is not None
    return token


def _definition(node: Any) -> dict[str, Any]:
    name = getattr(node, "name", None)
    out: dict[str, Any] = {"kind": node.kind, "name": name.value if name else None, "on": None}
    out |= {"start": node.loc.start, "end": node.loc.end, "selections": [], "variables": [], "parens": None}
    if isinstance(node, OperationDefinitionNode | FragmentDefinitionNode):
        out["selections"] = [_selection(s) for s in node.selection_set.selections]
    if isinstance(node, FragmentDefinitionNode):
        out |= {"kind": "fragment", "on": node.type_condition.name.value}
    if isinstance(node, OperationDefinitionNode):
        out["kind"] = node.operation.value
        defs = node.variable_definitions
        out["variables"] = [_span(v, v.variable.name.value) for v in defs]
        if defs:
            assert defs[0].loc and defs[-1].loc
            opening = _token(defs[0].loc.start_token.prev, "prev")
            closing = _token(defs[-1].loc.end_token.next, "next")
            assert opening.kind == TokenKind.PAREN_L and closing.kind == TokenKind.PAREN_R
            out["parens"] = [opening.start, closing.end]
    return out


def _optional(text: str) -> str | None:
    """The feature on a ``# optional: <feature>`` line among the leading comment lines (None: none)."""
    head = "\n".join(itertools.takewhile(lambda x: x.lstrip().startswith("#"), text.splitlines()))
    match = _OPTIONAL.search(head)
    return match.group(1) if match else None


def analyse(text: str) -> dict[str, Any]:
    """graphql-core's reading of one file's text, as the index keeps it (ValueError: not GraphQL)."""
    try:
        ast = parse(text)
    except GraphQLError as exc:
        raise ValueError(exc.message) from exc
    reader = _Reader()
    visit(ast, reader)
    return {
        "sha256": digest(text),
        "optional": _optional(text),
        "definitions": [_definition(d) for d in ast.definitions],
        "names": sorted(reader.names),
        "spreads": sorted(reader.spreads, key=lambda s: s["start"]),
        "variables": sorted(reader.variables, key=lambda s: s["start"]),
    }


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build() -> dict[str, dict[str, Any]]:
    """The index of every packaged document and shared fragment, by its path under ``graphql/``."""
    folder = resources.files("kraken2mqtt.kraken").joinpath("graphql")
    out: dict[str, dict[str, Any]] = {}
    for prefix, directory in (("", folder), ("fragments/", folder.joinpath("fragments"))):
        for path in sorted(directory.iterdir(), key=lambda p: p.name):
            if path.name.endswith(".graphql"):
                out[prefix + path.name] = analyse(path.read_text(encoding="utf-8"))
    return out


def render(index: dict[str, dict[str, Any]]) -> str:
    """The index as ``index.json`` holds it: one line per file, so a diff shows the files that changed."""
    lines = [
        f"{json.dumps(k)}: {json.dumps(v, sort_keys=True, separators=(',', ':'))}" for k, v in index.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> int:
    target = Path(__file__).resolve().parent / "graphql" / FILE
    text = render(build())
    if target.exists() and target.read_text(encoding="utf-8") == text:
        print(f"{target}: up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"{target}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
