"""The document index (``kraken/graphql/index.json``): graphql-core's reading of every packaged file,
written at development time, is what the daemon uses in place of graphql-core at run time."""

from __future__ import annotations

import itertools
import subprocess
import sys
from importlib import resources

import pytest

from kraken2mqtt.kraken import document_index, documents, split


def test_the_index_is_up_to_date() -> None:
    written = resources.files("kraken2mqtt.kraken").joinpath("graphql", document_index.FILE)
    fresh = document_index.render(document_index.build())
    assert written.read_text(encoding="utf-8") == fresh, (
        f"graphql/{document_index.FILE} is stale: regenerate it with `{document_index.COMMAND}`"
    )


def _every_variant() -> list[tuple[str, frozenset[str]]]:
    out = []
    for name in documents.names():
        parts = [p.name for p in documents.load(name).optional]
        for n in range(len(parts) + 1):
            out += [(name, frozenset(c)) for c in itertools.combinations(parts, n)]
    return out


def test_packaged_documents_are_read_from_the_index_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading, leaving out optional parts, splitting: nothing asks graphql-core."""

    def no_graphql_core(text: str, origin: str) -> None:
        raise AssertionError(f"{origin} read with graphql-core")

    monkeypatch.setattr(documents, "_analyse", no_graphql_core)
    for name, without in _every_variant():
        try:
            doc = documents.load.__wrapped__(name, without)
        except documents.DocumentError:  # every optional part of it is left out: nothing left to ask
            assert without
            continue
        for part in split.split(doc):
            split.split(part.document)
            split.response_keys(part.document)


def test_a_changed_file_is_not_read_from_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    read = documents._read
    monkeypatch.setattr(documents, "_read", lambda r, m: read(r, m).replace("viewer {", "me: viewer {"))
    doc = documents.load.__wrapped__("Viewer")
    assert "me: viewer {" in doc.source and doc.root_fields == {"viewer"}
    assert split.response_keys(doc) == {"me"}


def test_the_daemon_reads_its_documents_without_graphql_core() -> None:
    code = (
        "import sys\n"
        "sys.modules['graphql'] = None\n"
        "from kraken2mqtt.kraken import documents, split\n"
        "for name in documents.names():\n"
        "    for part in split.split(documents.load(name)):\n"
        "        split.response_keys(part.document)\n"
        "print(sorted(m for m in sys.modules if m.startswith('graphql.') or m.endswith('document_index')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
