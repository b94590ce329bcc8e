"""Money and prices as people read them, in the deployment's currency: the one place amounts are formatted.

The planner counts in the currency's minor unit (pence, cents, yen: what Kraken's prices arrive in); a
:class:`Currency` says how those read: ``£1.50`` and ``7.1p/kWh`` in GB, ``€1.50`` and ``25.3ct/kWh`` in
Germany, ``¥150`` and ``¥26.3/kWh`` in Japan (no minor unit), ``A$1.50`` and ``30.0c/kWh`` in Australia.
``kraken2mqtt.plan_inputs`` builds it from the Kraken deployment; scenario files plan in pounds.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Symbols of the deployments' currencies (any other code is written before the amount: "CHF 1.50").
SYMBOLS = {"GBP": "£", "EUR": "€", "JPY": "¥", "AUD": "A$"}


@dataclass(frozen=True, slots=True)
class Currency:
    code: str = "GBP"
    #: the minor unit's short name, written after a price ("p" in "7.1p/kWh")
    minor_unit: str = "p"
    #: minor units to one major (100 pence to the pound; 1 for the yen)
    minor_per_major: int = 100

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.code, f"{self.code} ")

    def money(self, minor: float) -> str:
        """An amount given in minor units, in major units with the symbol: ``£1.50``, ``-£0.20``, ``¥150``."""
        major = minor / self.minor_per_major
        digits = 2 if self.minor_per_major > 1 else 0
        sign = "-" if major < 0 else ""
        return f"{sign}{self.symbol}{abs(major):.{digits}f}"

    def minor(self, amount: float) -> str:
        """A small amount in minor units, as written: ``3p`` (``¥3`` where there is no minor unit)."""
        return f"{amount:g}{self.minor_unit}" if self.minor_per_major > 1 else f"{self.symbol}{amount:g}"

    def rate(self, minor_per_kwh: float) -> str:
        """A price per kWh: ``7.1p/kWh`` (``¥26.3/kWh`` where there is no minor unit)."""
        if self.minor_per_major > 1:
            return f"{minor_per_kwh:.1f}{self.minor_unit}/kWh"
        return f"{self.symbol}{minor_per_kwh:.1f}/kWh"


#: Pounds and pence: the planner's default (scenario files, tests).
GBP = Currency()
