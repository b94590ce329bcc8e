"""Kraken deployments the daemon knows by name. Endpoints come from the API docs (see
``../shared/kraken-docs/README.md``); which fields each one documents is in :mod:`capabilities`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeploymentName = Literal["octopus-gb", "octopus-de", "octopus-jp", "red-energy-au"]


@dataclass(frozen=True, slots=True)
class Deployment:
    name: DeploymentName
    label: str
    endpoint: str
    currency: str
    minor_unit: str  # prices and balances arrive in the currency's smallest unit
    minor_per_major: int = 100  # 100 pence to the pound; 1 for the yen


DEPLOYMENTS: dict[str, Deployment] = {
    d.name: d
    for d in (
        Deployment("octopus-gb", "Octopus Energy GB", "https://api.octopus.energy/v1/graphql/", "GBP", "p"),
        Deployment(
            "octopus-de", "Octopus Energy Germany", "https://api.oeg-kraken.energy/v1/graphql/", "EUR", "ct"
        ),
        Deployment(
            "octopus-jp",
            "Octopus Energy Japan",
            "https://api.oejp-kraken.energy/v1/graphql/",
            "JPY",
            "JPY",
            1,
        ),
        Deployment(
            "red-energy-au",
            "Red Energy Australia",
            "https://api.redenergy-kraken.energy/v1/graphql/",
            "AUD",
            "c",
        ),
    )
}
