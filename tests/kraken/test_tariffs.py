from __future__ import annotations

import csv
import dataclasses
import gzip
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from kraken2mqtt.kraken import deployments, tariffs
from kraken2mqtt.kraken.snapshot import Direction, TariffKind

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # winter: UK local == UTC
# Real Agile prices (region A, 8 weeks from 2021-01-04), the slice shipped in the package: the same rows as
# ../shared/data/agile/csv_agile_A_Eastern_England.csv, and present wherever the package is installed.
AGILE_SLICE = resources.files("kraken2mqtt.sandbox") / "data" / "agile_A_2021-01-04_56d.csv.gz"


def _account(*agreements: dict[str, Any], export: dict[str, Any] | None = None) -> dict[str, Any]:
    mps: list[dict[str, Any]] = [{"mpan": "1", "direction": "IMPORT", "agreements": list(agreements)}]
    if export is not None:
        mps.append({"mpan": "2", "direction": "EXPORT", "agreements": [export]})
    return {"number": "A-1", "properties": [{"id": "1", "electricityMeterPoints": mps}]}


def _agreement(
    tariff: dict[str, Any], start: str = "2025-01-01T00:00:00Z", end: str | None = None
) -> dict[str, Any]:
    return {"id": 1, "validFrom": start, "validTo": end, "tariff": tariff}


def test_standard_tariff_and_export() -> None:
    t = tariffs.gb_tariffs(
        _account(
            _agreement(
                {
                    "__typename": "StandardTariff",
                    "unitRate": 24.5,
                    "standingCharge": "48.1",
                    "productCode": "VAR",
                }
            ),
            export=_agreement({"__typename": "StandardTariff", "unitRate": "15", "isExport": True}),
        ),
        T0,
    )
    assert t.import_ is not None and t.import_.kind == TariffKind.STANDARD
    assert t.import_.price_at(T0) == Decimal("24.5")
    assert t.import_.standing_charge == Decimal("48.1")
    assert t.import_.unit == "p" and t.import_.currency == "GBP"
    assert t.export is not None and t.export.direction == Direction.EXPORT
    assert t.export.price_at(T0) == Decimal("15")
    assert t.import_.known_until is None
    assert len(t.import_.slots_between(T0, T0 + timedelta(hours=2))) == 4


def test_day_night_tariff_windows() -> None:
    t = tariffs.gb_tariffs(
        _account(_agreement({"__typename": "DayNightTariff", "dayRate": 30.0, "nightRate": 12.0})), T0
    ).import_
    assert t is not None and t.kind == TariffKind.DAY_NIGHT
    assert t.price_at(T0) == Decimal("30.0")
    assert t.price_at(T0.replace(hour=3)) == Decimal("12.0")
    assert t.off_peak_rate == Decimal("12.0")
    assert t.is_off_peak(T0.replace(hour=3)) and not t.is_off_peak(T0)
    assert not t.dispatch_discount


def test_intelligent_tariff_night_and_dispatch_discount() -> None:
    found = tariffs.gb_tariffs(
        _account(
            _agreement(
                {
                    "__typename": "DayNightTariff",
                    "productCode": "INTELLI-VAR-24-10-29",
                    "dayRate": 27,
                    "nightRate": 7,
                }
            )
        ),
        T0,
    )
    # The product code alone decides nothing: a dispatch-capable device on the account does.
    assert found.import_ is not None and not found.import_.dispatch_discount
    t = tariffs.intelligent(found, dispatch_capable=True).import_
    assert t is not None and t.dispatch_discount
    assert t.price_at(T0.replace(hour=23, minute=45)) == Decimal("7")
    assert t.price_at(T0.replace(hour=5, minute=45)) == Decimal("27")


def _iog_slots(cheap: float, peak: float) -> list[dict[str, Any]]:
    """A day of Intelligent Octopus Go as a HalfHourlyTariff: 23:30-05:30 cheap, the rest peak."""
    day = T0.replace(hour=0)
    out = []
    for i in range(48):
        start = day + timedelta(minutes=30 * i)
        minute = start.hour * 60 + start.minute
        value = cheap if minute >= 23 * 60 + 30 or minute < 5 * 60 + 30 else peak
        out.append(
            {
                "validFrom": start.isoformat(),
                "validTo": (start + timedelta(minutes=30)).isoformat(),
                "value": value,
            }
        )
    return out


def test_iog_smb_tou_is_intelligent_by_shape_not_by_name() -> None:
    # IOG-SMB-TOU (HAOE api_client/__init__.py @ 4c25c726, `intelligent_tariffs = ["IOG-SMB-TOU"]`):
    # no "INTELLI" in it.
    account = _account(
        _agreement(
            {"__typename": "HalfHourlyTariff", "productCode": "IOG-SMB-TOU", "unitRates": _iog_slots(7, 30)}
        )
    )
    plain = tariffs.gb_tariffs(account, T0)
    assert plain.import_ is not None and not plain.import_.dispatch_discount
    t = tariffs.intelligent(plain, dispatch_capable=True).import_
    assert t is not None and t.dispatch_discount and t.off_peak_rate == Decimal("7")
    # Agile (dozens of distinct prices) is never Intelligent, whatever devices the account has.
    agile = [{**s, "value": 10 + i * 0.5} for i, s in enumerate(_iog_slots(7, 30))]
    agile_set = tariffs.gb_tariffs(
        _account(_agreement({"__typename": "HalfHourlyTariff", "unitRates": agile})), T0
    )
    assert not tariffs.intelligent(agile_set, dispatch_capable=True).import_.dispatch_discount  # type: ignore[union-attr]


def test_four_rate_ev_tariff() -> None:
    # FourRateEvTariff: HAOE and batpred select it; its rate fields as a live client reads them
    # (dayRate, nightRate, evDevicePeakRate, evDeviceOffPeakRate, standingCharge).
    t = tariffs.gb_tariffs(
        _account(
            _agreement(
                {
                    "__typename": "FourRateEvTariff",
                    "productCode": "INTELLI-FOUR",
                    "standingCharge": 50,
                    "dayRate": 28,
                    "nightRate": 9,
                    "evDevicePeakRate": 30,
                    "evDeviceOffPeakRate": 7.5,
                }
            )
        ),
        T0,
    ).import_
    assert t is not None and t.kind == TariffKind.FOUR_RATE_EV and t.dispatch_discount
    assert t.rates == {"day": 28, "night": 9, "ev_peak": 30, "ev_off_peak": Decimal("7.5")}
    assert t.price_at(T0) == Decimal("28") and t.off_peak_rate == Decimal("7.5")


def test_three_rate_tariff() -> None:
    t = tariffs.gb_tariffs(
        _account(
            _agreement({"__typename": "ThreeRateTariff", "dayRate": 30, "nightRate": 10, "offPeakRate": 15})
        ),
        T0,
    ).import_
    assert t is not None and t.kind == TariffKind.THREE_RATE
    assert t.price_at(T0.replace(hour=2)) == Decimal("10")
    assert t.price_at(T0.replace(hour=14)) == Decimal("15")
    assert t.price_at(T0.replace(hour=18)) == Decimal("30")
    assert t.off_peak_rate == Decimal("10")


def test_prepay_tariff() -> None:
    t = tariffs.gb_tariffs(_account(_agreement({"__typename": "PrepayTariff", "unitRate": 26.0})), T0).import_
    assert t is not None and t.kind == TariffKind.PREPAY and t.price_at(T0) == Decimal("26.0")


def _agile_rows(day: str, days: int = 1) -> list[dict[str, Any]]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end = start + timedelta(days=days)
    out = []
    with io.TextIOWrapper(gzip.open(AGILE_SLICE.open("rb")), encoding="utf-8") as fh:
        for row in csv.reader(fh):
            t = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
            if t >= end:
                break
            if t >= start:
                out.append(
                    {
                        "validFrom": row[0],
                        "validTo": (t + timedelta(minutes=30)).isoformat(),
                        "value": float(row[4]),
                    }
                )
    return out


def test_half_hourly_agile_from_real_prices_unordered_and_duplicated() -> None:
    rows = _agile_rows("2021-01-15", 2)
    assert len(rows) == 96
    now = datetime(2021, 1, 15, 12, 10, tzinfo=UTC)
    shuffled = [*reversed(rows), rows[30]]  # reverse order, one duplicate
    t = tariffs.gb_tariffs(
        _account(
            _agreement(
                {"__typename": "HalfHourlyTariff", "standingCharge": 20, "unitRates": shuffled},
                "2020-01-01T00:00:00Z",
            )
        ),
        now,
    ).import_
    assert t is not None and t.kind == TariffKind.HALF_HOURLY
    # kept from 12 h back onward, sorted, unique
    starts = [s.start for s in t.slots]
    assert starts == sorted(set(starts))
    assert starts[0] == datetime(2021, 1, 15, 0, 0, tzinfo=UTC)
    assert t.price_at(now) == Decimal(str(rows[24]["value"]))
    assert t.known_until == datetime(2021, 1, 17, tzinfo=UTC)
    assert t.price_at(datetime(2021, 1, 17, 0, 10, tzinfo=UTC)) is None  # beyond published prices
    assert not t.is_off_peak(now)  # Agile is not a dispatch-discount tariff
    assert len(t.slots_between(now, now + timedelta(hours=1))) == 3


def test_tomorrow_prices_due_until_published() -> None:
    today = _agile_rows("2021-01-15", 1)
    t = tariffs.gb_tariffs(
        _account(_agreement({"__typename": "HalfHourlyTariff", "unitRates": today}, "2020-01-01T00:00:00Z")),
        datetime(2021, 1, 15, 10, tzinfo=UTC),
    ).import_
    assert not tariffs.tomorrow_prices_due(t, datetime(2021, 1, 15, 10, tzinfo=UTC))
    assert tariffs.tomorrow_prices_due(t, datetime(2021, 1, 15, 16, 30, tzinfo=UTC))
    both = tariffs.gb_tariffs(
        _account(
            _agreement(
                {"__typename": "HalfHourlyTariff", "unitRates": _agile_rows("2021-01-15", 2)},
                "2020-01-01T00:00:00Z",
            )
        ),
        datetime(2021, 1, 15, 16, 30, tzinfo=UTC),
    ).import_
    assert not tariffs.tomorrow_prices_due(both, datetime(2021, 1, 15, 16, 30, tzinfo=UTC))
    assert tariffs.tomorrow_prices_due(t, datetime(2021, 1, 16, 0, 30, tzinfo=UTC))  # today's ran out


def test_agreement_selection_expired_revoked_upcoming_and_unknown_type() -> None:
    acc = _account(
        _agreement(
            {"__typename": "StandardTariff", "unitRate": 1}, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"
        ),
        {**_agreement({"__typename": "StandardTariff", "unitRate": 2}), "isRevoked": True},
        _agreement({"__typename": "StandardTariff", "unitRate": 3}, "2025-06-01T00:00:00Z"),
        _agreement({"__typename": "StandardTariff", "unitRate": 4}, "2026-02-01T00:00:00Z"),
    )
    t = tariffs.gb_tariffs(acc, T0)
    assert t.import_ is not None and t.import_.price_at(T0) == Decimal("3")
    assert t.upcoming_import is not None and t.upcoming_import.valid_from == datetime(2026, 2, 1, tzinfo=UTC)
    odd = tariffs.gb_tariffs(_account(_agreement({"__typename": "QuantumTariff", "rate": 1})), T0).import_
    assert odd is not None and odd.kind == TariffKind.UNKNOWN and odd.price_at(T0) is None


def test_de_and_au_tariffs() -> None:
    de = tariffs.de_tariffs(
        [
            {
                "id": 1,
                "validFrom": "2025-01-01T00:00:00Z",
                "isActive": True,
                "unitRatePerKwh": "29.5",
                "monthlyStandingCharge": 12.5,
            }
        ],
        T0,
    ).import_
    assert de is not None and de.unit == "ct" and de.currency == "EUR" and de.price_at(T0) == Decimal("29.5")
    assert de.standing_charge == Decimal("41.0959")  # 12.50 €/month as ct/day
    refs = [{"id": "3", "validFrom": "2025-01-01T00:00:00Z", "isActive": True, "product": {"code": "P"}}]
    banded = tariffs.au_tariffs(
        refs,
        {
            "P": {
                "productRates": [
                    {"bandCategory": "PEAK", "pricePerUnit": "28.6"},
                    {"bandCategory": "OFF_PEAK", "pricePerUnit": 19.8},
                ]
            }
        },
        T0,
    ).import_
    assert banded is not None and banded.kind == TariffKind.BANDED and banded.unit == "c"
    assert banded.rates == {"PEAK": Decimal("28.6"), "OFF_PEAK": Decimal("19.8")}
    assert banded.price_at(T0) is None  # no documented time windows
    single = tariffs.au_tariffs(
        refs, {"P": {"productRates": [{"bandCategory": "ANY", "pricePerUnit": 25}]}}, T0
    ).import_
    assert single is not None and single.kind == TariffKind.STANDARD and single.price_at(T0) == Decimal("25")


def test_time_zone_currency_and_unit_come_from_the_deployment_object() -> None:
    """One place per deployment (issue 10 point 7): tariffs keep no table of their own."""
    assert not hasattr(tariffs, "LOCAL_TZ")
    au, de, gb = (deployments.get(n) for n in ("red-energy-au", "octopus-de", "octopus-gb"))
    refs = [{"id": "3", "validFrom": "2025-01-01T00:00:00Z", "isActive": True, "product": {"code": "P"}}]
    product = {"P": {"productRates": [{"bandCategory": "ANY", "pricePerUnit": 25}]}}
    a = tariffs.au_tariffs(refs, product, T0, deployment=au).import_
    assert a is not None and (a.timezone, a.currency, a.unit) == (au.time_zone, au.currency, au.minor_unit)
    assert a.timezone == "Australia/Melbourne"
    raw = [{"id": 1, "validFrom": "2025-01-01T00:00:00Z", "unitRatePerKwh": "29.5"}]
    d = tariffs.de_tariffs(raw, T0, deployment=de).import_
    assert d is not None and (d.timezone, d.currency, d.unit) == (de.time_zone, de.currency, de.minor_unit)
    g = tariffs.gb_tariffs(_account(_agreement({"unitRate": 24.5})), T0, deployment=gb).import_
    assert g is not None and (g.timezone, g.currency, g.unit) == (gb.time_zone, gb.currency, gb.minor_unit)
    # A deployment registered with another zone and currency is followed, with nothing else to edit.
    other = dataclasses.replace(gb, time_zone="Europe/Dublin", currency="EUR", minor_unit="c")
    o = tariffs.gb_tariffs(_account(_agreement({"unitRate": 24.5})), T0, deployment=other).import_
    assert o is not None and (o.timezone, o.currency, o.unit) == ("Europe/Dublin", "EUR", "c")


@pytest.mark.parametrize("bad", [[1], {"properties": "x"}])
def test_bad_shapes(bad: Any) -> None:
    with pytest.raises(ValueError, match="expected"):
        tariffs.gb_tariffs(bad, T0)


def test_history_builds_up_across_polls_for_the_planners_forecast() -> None:
    from kraken2mqtt.kraken.snapshot import PriceSlot, PriceTimeline, Tariffs

    t0 = datetime(2026, 1, 10, tzinfo=UTC)
    half = timedelta(minutes=30)

    def timeline(first: int, count: int, code: str = "E-1R-AGILE-A") -> Tariffs:
        slots = tuple(
            PriceSlot(start=t0 + i * half, end=t0 + (i + 1) * half, value=Decimal(i))
            for i in range(first, first + count)
        )
        return Tariffs(import_=PriceTimeline(kind=TariffKind.HALF_HOURLY, tariff_code=code, slots=slots))

    now = t0 + 100 * half
    merged = tariffs.with_history(timeline(96, 48), timeline(0, 100), now)
    assert merged.import_ is not None
    starts = [s.start for s in merged.import_.slots]
    assert starts[0] == t0 and starts[-1] == t0 + 143 * half and len(starts) == 144
    # Older than eight days: dropped. Another tariff: no history carried over.
    later = now + timedelta(days=9)
    pruned = tariffs.with_history(timeline(500, 10), timeline(0, 100), later).import_
    assert pruned is not None and pruned.slots[0].start == t0 + 500 * half
    other = tariffs.with_history(timeline(96, 48, "E-1R-GO-A"), timeline(0, 100), now)
    assert other.import_ is not None and len(other.import_.slots) == 48


# OEG's agreement shape (thecem/octopus_germany custom_components/octopus_germany/octopus_germany.py
# @ 213bdb0d, COMPREHENSIVE_QUERY: unitRateInformation { ... on SimpleProductUnitRateInformation {
# latestGrossUnitRateCentsPerKwh netUnitRateCentsPerKwh } ... on TimeOfUseProductUnitRateInformation {
# rates { timeslotName latestGrossUnitRateCentsPerKwh timeslotActivationRules { activeFromTime
# activeToTime } } } }); standingChargeGrossRateInformation (€/month) from the DE introspection dump
# (graphql_schema.json @ 213bdb0d).
DE_SIMPLE = {
    "id": 7,
    "validFrom": "2025-01-01T00:00:00Z",
    "isActive": True,
    "product": {"code": "OEG-DYN", "displayName": "Octopus Dynamic"},
    "unitRateInformation": {
        "__typename": "SimpleProductUnitRateInformation",
        "latestGrossUnitRateCentsPerKwh": "31.2",
        "netUnitRateCentsPerKwh": "26.22",
    },
    "standingChargeGrossRateInformation": [
        {"date": "2025-01-01", "grossRate": "13.90", "rateValidToDate": None, "vatRate": "0.19"}
    ],
}
DE_TOU = {
    **DE_SIMPLE,
    "unitRateInformation": {
        "__typename": "TimeOfUseProductUnitRateInformation",
        "rates": [
            {
                "timeslotName": "HEAT_PUMP_LOW",
                "latestGrossUnitRateCentsPerKwh": "22.0",
                "netUnitRateCentsPerKwh": "18.49",
                "timeslotActivationRules": [{"activeFromTime": "00:00:00", "activeToTime": "06:00:00"}],
            },
            {
                "timeslotName": "STANDARD",
                "latestGrossUnitRateCentsPerKwh": "32.0",
                "netUnitRateCentsPerKwh": "26.89",
                "timeslotActivationRules": [{"activeFromTime": "06:00:00", "activeToTime": "00:00:00"}],
            },
        ],
    },
}


def test_de_unit_rate_information_simple_and_time_of_use() -> None:
    simple = tariffs.de_tariffs([DE_SIMPLE], T0).import_
    assert (
        simple is not None and simple.kind == TariffKind.STANDARD and simple.price_at(T0) == Decimal("31.2")
    )
    assert simple.product_code == "OEG-DYN" and simple.standing_charge == Decimal("45.6986")
    tou = tariffs.de_tariffs([DE_TOU], T0).import_
    assert tou is not None and tou.kind == TariffKind.TIME_OF_USE
    assert tou.price_at(T0.replace(hour=3)) == Decimal("22.0")  # 03:00 Berlin is 02:00 UTC in winter
    assert tou.price_at(T0) == Decimal("32.0")
    assert tou.off_peak_rate == Decimal("22.0")
