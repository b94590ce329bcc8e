"""The polling documents: valid against each declared deployment's schema, nothing undocumented sent."""

from __future__ import annotations

import pytest

from kraken2mqtt.kraken import capabilities, documents
from kraken2mqtt.kraken.client import declared_endpoint
from kraken2mqtt.sandbox.schema import declared_deployments, schema_name, validate_document

POLL_DOCS = [n for n in documents.names() if n.startswith("Poll")]


def test_there_is_a_document_set_per_polled_deployment() -> None:
    targets = {d for n in POLL_DOCS for d in declared_deployments(documents.load(n).source) or ()}
    assert targets == {"octopus-gb", "octopus-de", "red-energy-au"}  # JP documents no queries


@pytest.mark.parametrize("name", POLL_DOCS)
def test_poll_document_validates_for_its_deployments(name: str) -> None:
    doc = documents.load(name)
    deployments = declared_deployments(doc.source)
    assert deployments, f"{name} must declare its deployments"
    for deployment in deployments:
        # on the schema of the endpoint it names (``# endpoint: backend``), else the main one
        schema = schema_name(deployment, declared_endpoint(doc))
        assert validate_document(doc.source, schema) == [], schema
        assert all(capabilities.has(deployment, f) for f in doc.root_fields)
