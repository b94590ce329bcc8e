"""Kraken deployments the daemon knows, one object each, registered by name (the way evcc registers its
tariffs): nothing else compares deployment names.

Each :class:`Deployment` says where its API is (one or more named endpoints: GB has a second one), its
time zone, its currency and minor unit, which root fields it serves and at which endpoint, how its account
is discovered, the suffix of its polling documents and where its planned dispatches come from. Endpoints
come from the API docs (``../shared/kraken-docs/README.md``) and, for GB's backend, from the live clients
(``../shared/kraken-live-api.md``, "GB has a second endpoint").

Root fields: :data:`ROOT_FIELD_SOURCES` is the evidence (field -> where it was seen); a deployment's
fields are those of its doc file (``docs``), of its live sources (``live``) and, where
``kraken_wide_mutations``, the Kraken-wide mutations. Doc files are the scraped reference pages in
``../shared/kraken-docs`` (beside the repo):

* ``000`` — GB (Octopus Energy GB) queries
* ``001`` — DE (Octopus Energy Germany) queries
* ``003`` — AU (Red Energy) queries
* ``004`` — JP (Octopus Energy Japan) mutations

004 is the only mutation reference in the seeds. The device, heat-pump and payment mutations it lists are
Kraken-wide (the GB objects page 002 carries their payload types), so they are treated as available on GB
and DE as well. They are *not* given to AU: 003 has no device queries at all and AU is tariff-only for us.
``obtainKrakenToken`` is on every deployment. Live sources: ``live-gb`` / ``live-de`` are root fields the
live clients send (HAOE, batpred, OEG and the DE introspection dump), not (or no longer) in the scraped
docs; ``live-gb-backend`` those GB serves only at its backend endpoint.

A new deployment is one :func:`register` call. :mod:`capabilities` is a read-only view of these tables
for the modules that ask by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

DeploymentName = Literal["octopus-gb", "octopus-de", "octopus-jp", "red-energy-au"]

MAIN = "main"
"""The endpoint tokens are minted at, and every document goes to unless told otherwise."""

BACKEND = "backend"
"""GB's ``api.backend.octopus.energy``: heat pumps (``heatPumpControllersAtLocation``...), saving sessions
in the live shape, greener nights. It wants the bare token and a User-Agent of our own (it refuses the
HTTP libraries' defaults with 403); it shares the main endpoint's token and request budget."""

#: Root field -> the doc files that show it (prefixes above). ``obtainKrakenToken`` and the mutations
#: come from 004; "004*" marks the Kraken-wide mutations extended to GB and DE (see module docstring).
ROOT_FIELD_SOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # --- queries ---
        "rateLimit": ("000",),
        "rateLimitInfo": ("001", "003", "live-gb"),
        "krakenVersion": ("000", "001", "003"),
        "viewer": ("000", "001", "003"),
        "account": ("000", "001", "003"),
        "properties": ("000", "003"),
        "property": ("000", "001", "003"),
        "applicableRates": ("000",),  # heading lost in 000; its query document survives
        "agreement": ("001", "003"),  # different return types: DE agreement vs AU CommonAgreementType
        "product": ("003",),
        "devices": ("000", "001"),
        # Past their removal date (2024-11-01): documented, so the fake knows them and rejects them by date
        # (sandbox/live_rules.py); no document sends them (REMOVED_FIELDS).
        "registeredKrakenflexDevice": ("000", "001"),
        "vehicleChargingPreferences": ("000", "001"),
        "batteryDevice": ("000", "001"),
        "heatPumpDevice": ("000",),
        "heatPumpStatus": ("000",),
        "octoHeatPumpControllerEuids": ("000",),
        "controllerEuids": ("000",),
        "octoHeatPumpControllerStatus": ("000",),
        "heatPumpControllerStatus": ("000",),
        "octoHeatPumpControllerConfiguration": ("000",),
        "heatPumpControllerConfiguration": ("000",),
        "octoHeatPumpLivePerformance": ("000",),
        # GB backend endpoint only (ENDPOINT_ONLY): the live clients' replacements of octoHeatPump* and of
        # greennessForecast (HAOE api_client/__init__.py @ 4c25c726 heat_pump_ids_query,
        # heat_pump_status_and_config_query, greener_night_forecast_query).
        "heatPumpControllersAtLocation": ("live-gb-backend",),
        "heatPumpLivePerformance": ("live-gb-backend",),
        "greenerNightsForecast": ("live-gb-backend",),
        # Deprecated 2025-05-27, removal on or after 2026-01-16; absent from the DE live schema. Kept for GB
        # only as the fallback of a lagging deployment (PollLivePlannedGb).
        "plannedDispatches": ("000",),
        "flexPlannedDispatches": ("live-gb", "live-de"),
        "completedDispatches": ("000", "001"),
        "savingSessions": ("000",),
        "autoTopupConfigs": ("000",),
        "autoTopupTriggers": ("000",),
        "prepayBalanceSnapshot": ("000",),
        "greennessForecast": ("000",),
        "energyMixData": ("000", "001", "003"),  # removal on or after 2026-06-01 (REMOVED_FIELDS)
        "smartMeterTelemetry": ("000",),
        # --- mutations ---
        "obtainKrakenToken": ("004", "all"),
        "updateBoostCharge": ("004*",),
        "setDevicePreferences": ("004*",),
        "updateDeviceSmartControl": ("004*",),
        "updateDeviceGridExport": ("004*",),
        "triggerBoostCharge": ("004*",),
        "deleteBoostCharge": ("004*",),
        "suspendControl": ("004*",),
        "resumeControl": ("004*",),
        "setVehicleChargePreferences": ("004*",),
        "setClimateControlState": ("004*",),
        "setHotWaterState": ("004*",),
        "setRoomTemperature": ("004*",),
        "updateAutoTopUpAmount": ("004*",),
    }
)

#: In our SDL but in no seed file (digest Appendix B). Enable per deployment only after live verification.
UNDOCUMENTED_FIELDS: frozenset[str] = frozenset()

#: Fields the docs list but whose removal date has passed: in no deployment, whatever the docs say.
#: (registeredKrakenflexDevice / vehicleChargingPreferences: removal on or after 2024-11-01; energyMixData:
#: 2026-06-01.)
REMOVED_FIELDS: frozenset[str] = frozenset(
    {"registeredKrakenflexDevice", "vehicleChargingPreferences", "energyMixData"}
)

#: How a deployment's account and tariffs are read (the poller has one routine per kind):
#: ``meter_points`` (GB: the account's electricity meter points and their agreements' tariffs),
#: ``market_supply_agreements`` (DE: agreements looked up one by one), ``product_agreements`` (AU: the
#: agreements' products looked up one by one); None: no account queries (JP).
AccountDiscovery = Literal["meter_points", "market_supply_agreements", "product_agreements"]
#: Where planned dispatches come from: ``flex`` = flexPlannedDispatches(deviceId) per smart-charging device,
#: ``planned`` = the account-wide plannedDispatches (``PollLivePlanned<suffix>``).
DispatchSource = Literal["flex", "planned"]


def _fields(docs: str, live: tuple[str, ...], kraken_wide_mutations: bool) -> frozenset[str]:
    out: set[str] = set()
    for name, sources in ROOT_FIELD_SOURCES.items():
        kraken_wide = "004*" in sources and kraken_wide_mutations
        if docs in sources or "all" in sources or kraken_wide or any(s in sources for s in live):
            out.add(name)
    return frozenset(out)


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
    #: The doc file that documents its queries (``000``...), and its live sources (``live-gb``...).
    docs: str = ""
    live: tuple[str, ...] = ()
    #: Whether the Kraken-wide mutations of 004 ("004*") are available.
    kraken_wide_mutations: bool = False
    #: Endpoint -> the live sources whose fields are served only there (not at ``main``).
    endpoint_sources: Mapping[str, str] = field(default_factory=dict)
    #: The suffix of its polling documents (``PollAccountGb``, ``PollLiveDe``...).
    document_suffix: str = ""
    account_discovery: AccountDiscovery | None = None
    #: Planned-dispatch sources, best first (the poller demotes one the server rejects).
    dispatch_sources: tuple[DispatchSource, ...] = ()
    #: Whether an account whose ``devices`` lists nothing may have a battery on the legacy KrakenFlex API.
    legacy_devices: bool = False
    #: Root fields its docs (or the Kraken-wide mutations) give it but its live schema lacks -> the
    #: evidence. Not in :attr:`root_fields`: never sent there (a command needing one is refused).
    live_absent: Mapping[str, str] = field(default_factory=dict)

    @property
    def endpoints(self) -> dict[str, str]:
        """Every endpoint by name, ``main`` first."""
        return {MAIN: self.endpoint, **self.extra_endpoints}

    @property
    def root_fields(self) -> frozenset[str]:
        """The root fields this deployment serves (at any of its endpoints)."""
        return _fields(self.docs, self.live, self.kraken_wide_mutations) - frozenset(self.live_absent)

    @property
    def endpoint_only(self) -> Mapping[str, frozenset[str]]:
        """Endpoint -> the root fields served only there (a document selecting one must go there)."""
        return {
            endpoint: frozenset(f for f, sources in ROOT_FIELD_SOURCES.items() if sources == (source,))
            for endpoint, source in self.endpoint_sources.items()
        }

    def has(self, root_field: str) -> bool:
        return root_field in self.root_fields

    def endpoint_of(self, root_field: str) -> str | None:
        """The endpoint ``root_field`` is served at when that is not ``main`` (None: main, or unknown)."""
        for endpoint, fields in self.endpoint_only.items():
            if root_field in fields:
                return endpoint
        return None

    def endpoints_with(self, main: str | None) -> dict[str, str]:
        """The endpoints with ``main`` (a configured ``kraken.endpoint``) in place of the default one. A
        main endpoint on this machine (``127.0.0.1`` / ``localhost``: the fake Kraken server of the sandbox
        and the tests) serves the further ones beside it, at ``/<name>/v1/graphql/`` of the same server;
        any other (a proxy of the main API) leaves them at their default."""
        if not main:
            return self.endpoints
        parts = urlsplit(main)
        if parts.hostname in ("127.0.0.1", "localhost", "::1"):
            origin = f"{parts.scheme}://{parts.netloc}"
            return {MAIN: main, **{name: f"{origin}/{name}/v1/graphql/" for name in self.extra_endpoints}}
        return {**self.endpoints, MAIN: main}


#: The DE introspection dump lists no deprecated field (introspection leaves them out unless asked): a field
#: missing from it is deprecated or removed on the live DE API.
_DE_DUMP = "not in the DE introspection (thecem/octopus_germany@213bdb0d graphql_schema.json)"

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


def find(name: str) -> Deployment | None:
    """The deployment registered as ``name``, or None."""
    return _REGISTRY.get(name)


register(
    Deployment(
        "octopus-gb",
        "Octopus Energy GB",
        "https://api.octopus.energy/v1/graphql/",
        "GBP",
        "p",
        time_zone="Europe/London",
        extra_endpoints={BACKEND: "https://api.backend.octopus.energy/v1/graphql/"},
        docs="000",
        live=("live-gb", "live-gb-backend"),
        kraken_wide_mutations=True,
        endpoint_sources={BACKEND: "live-gb-backend"},
        document_suffix="Gb",
        account_discovery="meter_points",
        # planned: only until plannedDispatches' removal date (PollLivePlannedGb is `# until: 2026-01-16`)
        dispatch_sources=("flex", "planned"),
        legacy_devices=True,
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
        docs="001",
        live=("live-de",),
        kraken_wide_mutations=True,
        document_suffix="De",
        account_discovery="market_supply_agreements",
        dispatch_sources=("flex",),  # the DE schema has no plannedDispatches
        # The legacy KrakenFlex device API: the dump has none of it (its SmartFlex replacements,
        # updateBoostCharge / updateDeviceSmartControl / setDevicePreferences, are there, and OEG uses them).
        live_absent={
            name: _DE_DUMP
            for name in (
                "batteryDevice",
                "triggerBoostCharge",
                "deleteBoostCharge",
                "suspendControl",
                "resumeControl",
                "setVehicleChargePreferences",
                "setClimateControlState",
                "setHotWaterState",
                "setRoomTemperature",
            )
        },
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
        docs="003",
        document_suffix="Au",
        account_discovery="product_agreements",
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
        docs="004",
        kraken_wide_mutations=True,
        document_suffix="Jp",
    )
)
