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
