"""One object per deployment, registered by name: endpoints, time zone, currency, minor unit."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from kraken2mqtt.daemon import KrakenTarget
from kraken2mqtt.kraken import capabilities, deployments
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.deployments import BACKEND, DEPLOYMENTS, MAIN


def test_every_deployment_is_registered_with_what_it_needs() -> None:
    assert set(DEPLOYMENTS) == set(capabilities.DEPLOYMENTS)
    for name, dep in DEPLOYMENTS.items():
        assert deployments.get(name) is dep
        assert ZoneInfo(dep.time_zone)
        assert dep.endpoints[MAIN] == dep.endpoint and dep.endpoint.startswith("https://")
        assert dep.root_fields == capabilities.ROOT_FIELDS[name]  # the table stays in capabilities
    gb = deployments.get("octopus-gb")
    # ../shared/kraken-live-api.md, "GB has a second endpoint"
    assert gb.endpoints == {
        MAIN: "https://api.octopus.energy/v1/graphql/",
        BACKEND: "https://api.backend.octopus.energy/v1/graphql/",
    }
    assert (gb.currency, gb.minor_unit, gb.minor_per_major, gb.time_zone) == (
        "GBP",
        "p",
        100,
        "Europe/London",
    )
    jp = deployments.get("octopus-jp")
    assert (jp.currency, jp.minor_per_major, jp.time_zone) == ("JPY", 1, "Asia/Tokyo")
    assert deployments.get("octopus-de").endpoints.keys() == {MAIN}
    with pytest.raises(KeyError, match="unknown Kraken deployment 'octopus-xx'"):
        deployments.get("octopus-xx")
    with pytest.raises(ValueError, match="already registered"):
        deployments.register(gb)


def test_a_configured_endpoint_replaces_only_the_main_one() -> None:
    creds = Credentials(api_key=SecretStr("sk_test_x"))
    target = KrakenTarget("https://proxy.example/graphql/", creds, "octopus-gb")
    assert target.all_endpoints() == {
        MAIN: "https://proxy.example/graphql/",
        BACKEND: "https://api.backend.octopus.energy/v1/graphql/",
    }
    sandbox = KrakenTarget("http://a/", creds, "octopus-gb", endpoints={BACKEND: "http://b/"})
    assert sandbox.all_endpoints() == {MAIN: "http://a/", BACKEND: "http://b/"}


def test_capabilities_and_polling_live_on_the_deployment_object() -> None:
    """Issue 10 point 7: the root fields (and where each is served), account discovery, document suffix and
    dispatch sources are attributes of the deployment; ``capabilities`` is a view of them."""
    gb, de, au, jp = (deployments.get(n) for n in ("octopus-gb", "octopus-de", "red-energy-au", "octopus-jp"))
    for dep in (gb, de, au, jp):
        assert capabilities.ROOT_FIELDS[dep.name] == dep.root_fields
        assert all(capabilities.has(dep.name, f) for f in dep.root_fields)
    assert gb.endpoint_only == {
        BACKEND: frozenset(
            {"heatPumpControllersAtLocation", "heatPumpLivePerformance", "greenerNightsForecast"}
        )
    }
    assert gb.endpoint_of("heatPumpLivePerformance") == BACKEND and gb.endpoint_of("devices") is None
    assert capabilities.endpoint_only("octopus-gb", "greenerNightsForecast") == BACKEND
    assert (gb.document_suffix, gb.account_discovery, gb.legacy_devices) == ("Gb", "meter_points", True)
    assert (de.document_suffix, de.account_discovery) == ("De", "market_supply_agreements")
    assert (au.account_discovery, jp.account_discovery) == ("product_agreements", None)
    assert gb.dispatch_sources == ("flex", "planned") and de.dispatch_sources == ("flex",)
    assert au.dispatch_sources == () and not de.endpoint_only


def test_the_poller_compares_no_deployment_names() -> None:
    from pathlib import Path

    from kraken2mqtt.kraken import poller

    source = Path(poller.__file__).read_text(encoding="utf-8")
    assert not [name for name in DEPLOYMENTS if f'"{name}"' in source]


def test_a_local_main_endpoint_serves_the_further_ones_beside_it() -> None:
    """A fake Kraken on this machine (sandbox, tests) serves GB's backend at /backend/v1/graphql/."""
    gb = deployments.get("octopus-gb")
    assert gb.endpoints_with("http://127.0.0.1:8080/v1/graphql/") == {
        MAIN: "http://127.0.0.1:8080/v1/graphql/",
        BACKEND: "http://127.0.0.1:8080/backend/v1/graphql/",
    }
    assert gb.endpoints_with(None) == gb.endpoints


def test_what_a_live_schema_lacks_is_never_a_capability() -> None:
    """DE's live schema has no legacy KrakenFlex device API (DE introspection dump): those root fields are
    not DE capabilities, so no command or poll sends them there; GB keeps them."""
    de, gb = deployments.get("octopus-de"), deployments.get("octopus-gb")
    for name in ("triggerBoostCharge", "suspendControl", "setClimateControlState", "batteryDevice"):
        assert name in de.live_absent and not de.has(name) and not capabilities.has("octopus-de", name)
        assert gb.has(name)
    assert (
        de.has("updateBoostCharge") and de.has("setDevicePreferences") and de.has("updateDeviceSmartControl")
    )
