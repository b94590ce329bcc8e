"""Money and prices read in the deployment's currency, formatted in one place (planner/money.py)."""

from __future__ import annotations

from dataclasses import replace

from kraken2mqtt.planner import Prepay, make_plan
from kraken2mqtt.planner.money import GBP, Currency
from kraken2mqtt.planner.render import render_text

from .helpers import car, inputs

EUR = Currency("EUR", "ct", 100)
JPY = Currency("JPY", "JPY", 1)


def test_amounts_and_rates_per_currency() -> None:
    assert (GBP.money(150), GBP.money(-20), GBP.money(-0.0), GBP.rate(7.06), GBP.minor(3)) == (
        "£1.50",
        "-£0.20",
        "£0.00",
        "7.1p/kWh",
        "3p",
    )
    assert (EUR.money(1234.5), EUR.rate(25.25), EUR.minor(2.5)) == ("€12.35", "25.2ct/kWh", "2.5ct")
    assert (JPY.money(150), JPY.rate(26.3), JPY.minor(3)) == ("¥150", "¥26.3/kWh", "¥3")
    assert Currency("CHF", "Rp").money(150) == "CHF 1.50"


def test_the_plan_speaks_the_deployments_currency() -> None:
    base = inputs(
        [30, 10, 10, 30] * 4, [car(soc=40, target=60, cap=50)], prepay=Prepay(100, warn_below_p=500)
    )
    pounds, euros = make_plan(base), make_plan(replace(base, currency=EUR))
    texts = [dp.summary for dp in euros.devices] + [iv.action.reason for iv in euros.devices[0].intervals]
    assert any("ct/kWh" in t for t in texts) and not any("p/kWh" in t or "£" in t for t in texts)
    assert euros.topup is not None and "€" in euros.topup.message and "£" not in euros.topup.message
    assert "Total cost €" in render_text(euros, currency=EUR)
    assert "£" in pounds.devices[0].summary and "Total cost £" in render_text(pounds)
