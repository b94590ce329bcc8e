"""The fake server and the daemon agree on the result shapes: what the fake answers to every polling
document validates into the snapshot models (``kraken/snapshot.py``: the shapes written once) with nothing
skipped and no unknown value, and reads back from the store's JSON unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from kraken2mqtt.kraken import documents, parse, snapshot
from kraken2mqtt.kraken.client import declared_endpoint
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.schema import declared_deployments
from tests.sandbox.conftest import Gql

DEPLOYMENTS = ("octopus-gb", "octopus-de", "red-energy-au")
PARSERS: dict[str, Any] = {
    "account": parse.account_info,
    "devices": parse.devices,
    "plannedDispatches": lambda v: parse.dispatches(v, "plannedDispatches"),
    "completedDispatches": lambda v: parse.dispatches(v, "completedDispatches"),
    "flexPlannedDispatches": lambda v: parse.flex_dispatches(v, "ev"),
    "batteryDevice": parse.legacy_battery,
    "registeredKrakenflexDevice": parse.legacy_vehicle,
    "heatPumpStatus": parse.legacy_heat_pump,
    "heatPumpControllerStatus": lambda v: parse.controller("euid", v, None),
    "heatPumpLivePerformance": lambda v: parse.controller("euid", None, v),
    "prepayBalanceSnapshot": lambda v: parse.prepay(v, None),
    "autoTopupConfigs": lambda v: parse.prepay(None, v),
    "savingSessions": lambda v: parse.events(v, None),
    "greennessForecast": lambda v: parse.events(None, v),
    "greenerNightsForecast": parse.greener_nights,
}


def _documents(deployment: str) -> list[str]:
    return [
        n
        for n in documents.names()
        if n.startswith("Poll")
        and deployment in (declared_deployments(documents.load(n).source) or ())
        and declared_endpoint(documents.load(n)) is None
    ]


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_the_fake_answers_every_polling_document_in_the_models_shapes(clock: Any, deployment: str) -> None:
    with FakeKraken(clock=clock, deployment=deployment) as fk, httpx.Client(timeout=5.0) as c:
        g = Gql(fk, c)
        g.login()
        acc = fk.account
        ev = next((d.id for d in acc.devices if d.kind in ("vehicle", "charge_point")), "none")
        variables = {
            "accountNumber": acc.number,
            "deviceId": ev,
            "propertyId": int(acc.properties[0].id) if acc.properties else 1,
            "euid": acc.heat_pump_controllers[0].euid if acc.heat_pump_controllers else "none",
            "esme": next(iter(acc.prepay_balances), "none"),
            "topupDevice": next(iter(acc.prepay_balances), "none"),
            "configId": "1",
            "id": str(acc.market_agreements[0].id) if acc.market_agreements else "none",
            "code": next(iter(acc.products), "none"),
        }
        parsed = 0
        snapshot._LOGGED_UNKNOWN.clear()
        with capture_logs() as logs:
            for name in _documents(deployment):
                out = g(documents.load(name).source, variables)
                assert "errors" not in out, (name, out["errors"])
                for key, value in out["data"].items():
                    if key in PARSERS and value is not None:
                        got = PARSERS[key](value)
                        for model in got if isinstance(got, tuple) else (got,):
                            # what the store writes (field names, JSON) reads back the same
                            assert type(model).model_validate_json(model.model_dump_json()) == model
                        parsed += 1
                assert parse.rate_limit(out["data"]) is not None or "rateLimitInfo" not in out["data"]
        assert parsed > 0
        bad = [e for e in logs if e["event"] in {"kraken.item_skipped", "kraken.unknown_value"}]
        assert bad == []
