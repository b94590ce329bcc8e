"""Kraken deployments the daemon knows, one object each, registered by name.

Each :class:`Deployment` says where its API is (one or more named endpoints: GB has a second one), its
time zone, its currency and minor unit. Endpoints come from the API docs (``../shared/kraken-docs/
README.md``) and, for GB's backend, from the live clients (``../shared/kraken-live-api.md``, "GB has a
second endpoint"). Which fields each deployment documents stays in :mod:`capabilities` (its table is
reached from here as :attr:`Deployment.root_fields` / :meth:`Deployment.has`).

A new deployment is one :func:`register` call; nothing else compares deployment names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

DeploymentName = Literal["octopus-gb", "octopus-de", "octopus-jp", "red-energy-au"]

MAIN = "main"
"""The endpoint tokens are minted at, and every document goes to unless told otherwise."""

BACKEND = "backend"
"""GB's ``api.backend.octopus.energy``: heat pumps (``heatPumpControllersAtLocation``...), saving sessions
in the live shape, greener nights. It wants the bare token and a User-Agent of our own (it refuses the
HTTP libraries' defaults with 403); it shares the main endpoint's token and request budget."""


@dataclass(frozen=True, slots=True)
class Deployment:
    name: DeploymentName
    label: str
    endpoint: str  # the main endpoint (``endpoints["main"]``)
    currency: str
    minor_unit: str  # prices and balances arrive in the currency's smallest unit
    minor_per_major: int = 100  # 100 pence to the pound; 1 for the yen
    time_zone: str = "UTC"
    #: Further endpoints by name (``backend``); the main one is added by :attr:`endpoints`.
    extra_endpoints: Mapping[str, str] = field(default_factory=dict)

    @property
    def endpoints(self) -> dict[str, str]:
        """Every endpoint by name, ``main`` first."""
        return {MAIN: self.endpoint, **self.extra_endpoints}

    @property
    def root_fields(self) -> frozenset[str]:
        """The root fields this deployment documents (the table in :mod:`capabilities`)."""
        from kraken2mqtt.kraken import capabilities

        return capabilities.ROOT_FIELDS.get(self.name, frozenset())

    def has(self, root_field: str) -> bool:
        from kraken2mqtt.kraken import capabilities

        return capabilities.has(self.name, root_field)

    def endpoints_with(self, main: str | None) -> dict[str, str]:
        """The endpoints with ``main`` (a configured ``kraken.endpoint``) in place of the default one."""
        return {**self.endpoints, MAIN: main} if main else self.endpoints


_REGISTRY: dict[str, Deployment] = {}

#: Read-only view of the registry, by name.
DEPLOYMENTS: Mapping[str, Deployment] = MappingProxyType(_REGISTRY)


def register(deployment: Deployment) -> Deployment:
    if deployment.name in _REGISTRY:
        raise ValueError(f"deployment {deployment.name!r} is already registered")
    _REGISTRY[deployment.name] = deployment
    return deployment


def get(name: str) -> Deployment:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown Kraken deployment {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


register(
    Deployment(
        "octopus-gb",
        "Octopus Energy GB",
        "https://api.octopus.energy/v1/graphql/",
        "GBP",
        "p",
        time_zone="Europe/London",
        extra_endpoints={BACKEND: "https://api.backend.octopus.energy/v1/graphql/"},
    )
)
register(
    Deployment(
        "octopus-de",
        "Octopus Energy Germany",
        "https://api.oeg-kraken.energy/v1/graphql/",
        "EUR",
        "ct",
        time_zone="Europe/Berlin",
    )
)
register(
    Deployment(
        "octopus-jp",
        "Octopus Energy Japan",
        "https://api.oejp-kraken.energy/v1/graphql/",
        "JPY",
        "JPY",
        1,
        time_zone="Asia/Tokyo",
    )
)
register(
    Deployment(
        "red-energy-au",
        "Red Energy Australia",
        "https://api.redenergy-kraken.energy/v1/graphql/",
        "AUD",
        "c",
        time_zone="Australia/Melbourne",
    )
)
