"""Which Query/Mutation root fields each Kraken deployment serves: a read-only view, by deployment name, of
the tables of :mod:`kraken2mqtt.kraken.deployments` (the one object per deployment holds them; the
evidence table :data:`ROOT_FIELD_SOURCES` lives there too).

Plain data, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kraken2mqtt.kraken.deployments import (
    DEPLOYMENTS as _REGISTRY,
)
from kraken2mqtt.kraken.deployments import (
    REMOVED_FIELDS,
    ROOT_FIELD_SOURCES,
    UNDOCUMENTED_FIELDS,
)

__all__ = [
    "DEPLOYMENTS",
    "ENDPOINT_ONLY",
    "REMOVED_FIELDS",
    "ROOT_FIELDS",
    "ROOT_FIELD_SOURCES",
    "UNDOCUMENTED_FIELDS",
    "endpoint_only",
    "has",
]

#: The registered deployments' names.
DEPLOYMENTS: tuple[str, ...] = tuple(_REGISTRY)

#: Deployment key -> root fields (Query and Mutation) available there.
ROOT_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType({n: d.root_fields for n, d in _REGISTRY.items()})

#: Deployment -> endpoint -> the root fields served only at that endpoint (not at ``main``).
ENDPOINT_ONLY: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType(
    {n: d.endpoint_only for n, d in _REGISTRY.items() if d.endpoint_only}
)


def has(deployment: str, field: str) -> bool:
    """Whether ``field`` is a root field ``deployment`` serves (False for unknown deployments)."""
    dep = _REGISTRY.get(deployment)
    return dep is not None and dep.has(field)


def endpoint_only(deployment: str, field: str) -> str | None:
    """The endpoint ``field`` is served at when that is not ``main`` (None: main, or unknown)."""
    dep = _REGISTRY.get(deployment)
    return dep.endpoint_of(field) if dep is not None else None
