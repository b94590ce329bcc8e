"""Which Query/Mutation root fields of our SDL each Kraken deployment documents.

Plain data, no I/O. Sources are the scraped reference pages in ``../shared/kraken-docs`` (beside the repo):

* ``000`` — GB (Octopus Energy GB) queries
* ``001`` — DE (Octopus Energy Germany) queries
* ``003`` — AU (Red Energy) queries
* ``004`` — JP (Octopus Energy Japan) mutations

004 is the only mutation reference in the seeds. The device, heat-pump and payment mutations it lists are
Kraken-wide (the GB objects page 002 carries their payload types), so they are treated as available on GB
and DE as well. They are *not* given to AU: 003 has no device queries at all and AU is tariff-only for us.
``obtainKrakenToken`` is on every deployment.

Fields seen only in public client code (digest Appendix B) are in :data:`UNDOCUMENTED_FIELDS` and in no
deployment by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEPLOYMENTS: tuple[str, ...] = ("octopus-gb", "octopus-de", "red-energy-au", "octopus-jp")

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

#: Where the "004*" (Kraken-wide) mutations count as available: JP, where 004 documents them, plus GB and DE.
_KRAKEN_WIDE_MUTATIONS_ON = ("octopus-gb", "octopus-de", "octopus-jp")

_FILE_OF: Mapping[str, str] = MappingProxyType(
    {"octopus-gb": "000", "octopus-de": "001", "red-energy-au": "003", "octopus-jp": "004"}
)


#: Root fields a deployment serves only at one of its further endpoints (not at ``main``): deployment ->
#: endpoint -> fields. A document selecting one must be sent there (the client refuses otherwise).
ENDPOINT_ONLY: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "octopus-gb": {
            "backend": frozenset(
                f for f, sources in ROOT_FIELD_SOURCES.items() if sources == ("live-gb-backend",)
            )
        }
    }
)


def endpoint_only(deployment: str, field: str) -> str | None:
    """The endpoint ``field`` is served at when that is not ``main`` (None: main, or unknown)."""
    for endpoint, fields in ENDPOINT_ONLY.get(deployment, {}).items():
        if field in fields:
            return endpoint
    return None


#: "live-gb" / "live-de": root fields the live clients send (``../shared/kraken-live-api.md``; HAOE, batpred,
#: OEG and the DE introspection dump), not (or no longer) in the scraped docs.
_LIVE_OF: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"octopus-gb": ("live-gb", "live-gb-backend"), "octopus-de": ("live-de",)}
)


def _fields_for(deployment: str) -> frozenset[str]:
    prefix = _FILE_OF[deployment]
    live = _LIVE_OF.get(deployment, ())
    out: set[str] = set()
    for field, sources in ROOT_FIELD_SOURCES.items():
        kraken_wide = "004*" in sources and deployment in _KRAKEN_WIDE_MUTATIONS_ON
        if prefix in sources or "all" in sources or kraken_wide or any(s in sources for s in live):
            out.add(field)
    return frozenset(out)


#: Deployment key -> root fields (Query and Mutation) available there.
ROOT_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType({d: _fields_for(d) for d in DEPLOYMENTS})


def has(deployment: str, field: str) -> bool:
    """Whether ``field`` is a documented root field on ``deployment`` (False for unknown deployments)."""
    return field in ROOT_FIELDS.get(deployment, frozenset())
