"""The daemon reads its documents from the index graphql-core wrote at development time
(``kraken/document_index.py``; no graphql-core at run time), and text that is not a packaged file with the
same reading; graphql-core's own walk of the syntax tree checks that every packaged document, and every
variant without an optional part, is read the way GraphQL reads it."""

from __future__ import annotations

import contextlib

import pytest
from graphql import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    NameNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    parse,
    visit,
)

from kraken2mqtt.kraken import documents

_ROOT = {"query": "Query", "mutation": "Mutation"}


def _root_fields(ast: DocumentNode) -> set[str]:
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    out: set[str] = set()
    for op in (d for d in ast.definitions if isinstance(d, OperationDefinitionNode)):
        root = _ROOT[op.operation.value]

        def walk(selection_set: SelectionSetNode, seen: set[str], root: str = root) -> None:
            for sel in selection_set.selections:
                if isinstance(sel, FieldNode):
                    out.add(sel.name.value)
                elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                    fragment = fragments.get(sel.name.value)
                    if fragment is not None and fragment.type_condition.name.value == root:
                        walk(fragment.selection_set, seen | {sel.name.value})

        walk(op.selection_set, set())
    return out


class _Names(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_name(self, node: NameNode, *_: object) -> None:
        self.names.add(node.value)

    def enter_enum_value(self, node: EnumValueNode, *_: object) -> None:
        self.names.add(node.value)

    def enter_boolean_value(self, node: BooleanValueNode, *_: object) -> None:
        self.names.add("true" if node.value else "false")

    def enter_null_value(self, node: NullValueNode, *_: object) -> None:
        self.names.add("null")


def _names(ast: DocumentNode) -> set[str]:
    names = _Names()
    visit(ast, names)
    return names.names


def _sources() -> list[tuple[str, str]]:
    out = []
    for name in documents.names():
        doc = documents.load(name)
        out.append((name, doc.source))
        for part in doc.optional:
            with contextlib.suppress(documents.DocumentError):  # else nothing is left to send without it
                out.append(
                    (f"{name} without {part.name}", documents.load(name, frozenset({part.name})).source)
                )
    return out


@pytest.mark.parametrize(("label", "source"), _sources(), ids=[label for label, _ in _sources()])
def test_the_scanner_reads_a_document_as_graphql_core_does(label: str, source: str) -> None:
    ast = parse(source)
    ops = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    assert documents.operations(source) == [(o.operation.value, o.name.value) for o in ops if o.name]
    assert documents.root_fields(source) == _root_fields(ast)
    keywords = {"query", "mutation", "fragment", "on"}
    assert documents._tokens(source) - keywords == _names(ast) - keywords
    # the loader removes the variables only a left-out fragment used
    used = _Names()
    fragments = [d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)]
    for node in [*(o.selection_set for o in ops), *fragments]:
        visit(node, used)
    assert {v.variable.name.value for o in ops for v in o.variable_definitions} <= used.names
