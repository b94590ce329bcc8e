"""Agreements → the current import / export price timelines (pure).

GB: ``account.properties.electricityMeterPoints.agreements.tariff`` (a union of five tariff types, digest
§2.4-2.5). DE: ``agreement(id).unitRatePerKwh`` (001). AU: ``account.agreements`` → ``product(code)
.productRates`` (003). Prices are in the deployment's minor unit per kWh including VAT, as the API gives them.

The docs do not say *when* day/night or three-rate tariffs switch. The windows below are assumptions (UK local
time), overridable per call: Economy-7 style night 00:00-07:00; Intelligent Octopus (product code containing
``INTELLI``) night 23:30-05:30, plus the dispatch discount; three-rate off-peak 13:00-16:00 besides the night.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from kraken2mqtt.kraken.deployments import DEPLOYMENTS
from kraken2mqtt.kraken.parse import each, items, obj, sub
from kraken2mqtt.kraken.snapshot import (
    Direction,
    PriceSlot,
    PriceTimeline,
    TariffKind,
    Tariffs,
    TimeWindow,
    _to_decimal,
    _to_utc,
    log_unknown_once,
)

log = structlog.get_logger(__name__)

LOCAL_TZ = {
    "octopus-gb": "Europe/London",
    "octopus-de": "Europe/Berlin",
    "red-energy-au": "Australia/Sydney",
    "octopus-jp": "Asia/Tokyo",
}

#: (start minute, end minute) of local time.
NIGHT = (0, 7 * 60)
INTELLIGENT_NIGHT = (23 * 60 + 30, 5 * 60 + 30)
THREE_RATE_OFF_PEAK = (13 * 60, 16 * 60)
#: How far back half-hourly slots are kept: the planner forecasts prices not yet published from the same
#: slot a day and a week earlier.
KEEP_PAST = timedelta(days=8)

_KIND_BY_TYPENAME = {
    "StandardTariff": TariffKind.STANDARD,
    "DayNightTariff": TariffKind.DAY_NIGHT,
    "ThreeRateTariff": TariffKind.THREE_RATE,
    "HalfHourlyTariff": TariffKind.HALF_HOURLY,
    "PrepayTariff": TariffKind.PREPAY,
}


def _dec(value: Any) -> Decimal | None:
    out = _to_decimal(value)
    return out if isinstance(out, Decimal) else None


def _kind(tariff: Mapping[str, Any]) -> TariffKind:
    typename = tariff.get("__typename")
    if typename is not None:
        kind = _KIND_BY_TYPENAME.get(str(typename))
        if kind is None:
            log_unknown_once("tariff typename", typename)
            return TariffKind.UNKNOWN
        return kind
    if "unitRates" in tariff:
        return TariffKind.HALF_HOURLY
    if tariff.get("offPeakRate") is not None:
        return TariffKind.THREE_RATE
    if tariff.get("nightRate") is not None:
        return TariffKind.DAY_NIGHT
    if tariff.get("unitRate") is not None:
        return TariffKind.STANDARD
    return TariffKind.UNKNOWN


def _window(span: tuple[int, int], rate: str) -> TimeWindow:
    return TimeWindow(start_min=span[0], end_min=span[1], rate=rate)


def _slot(raw: dict[str, Any]) -> PriceSlot:
    return PriceSlot(start=raw["validFrom"], end=raw["validTo"], value=raw["value"])


def gb_timeline(
    agreement: Mapping[str, Any],
    direction: Direction,
    now: datetime,
    *,
    deployment: str = "octopus-gb",
    night: tuple[int, int] | None = None,
) -> PriceTimeline:
    """One GB agreement (with its ``tariff``) as a timeline."""
    tariff = obj(agreement.get("tariff"), "agreement.tariff")
    kind = _kind(tariff)
    product = str(tariff.get("productCode") or "")
    intelligent = "INTELLI" in product.upper()
    dep = DEPLOYMENTS.get(deployment)
    common: dict[str, Any] = {
        "kind": kind,
        "direction": direction,
        "tariff_code": tariff.get("tariffCode"),
        "product_code": tariff.get("productCode"),
        "display_name": tariff.get("displayName"),
        "unit": dep.minor_unit if dep else "p",
        "currency": dep.currency if dep else "GBP",
        "standing_charge": tariff.get("standingCharge"),
        "valid_from": agreement.get("validFrom"),
        "valid_to": agreement.get("validTo"),
        "timezone": LOCAL_TZ.get(deployment, "UTC"),
        "dispatch_discount": intelligent and direction == Direction.IMPORT,
    }
    night_span = night or (INTELLIGENT_NIGHT if intelligent else NIGHT)
    if kind in (TariffKind.STANDARD, TariffKind.PREPAY):
        rate = _dec(tariff.get("unitRate"))
        return PriceTimeline(**common, rates={"unit": rate} if rate is not None else {}, default_rate="unit")
    if kind == TariffKind.DAY_NIGHT:
        rates = {
            k: v for k, v in (("day", _dec(tariff.get("dayRate"))), ("night", _dec(tariff.get("nightRate"))))
        }
        return PriceTimeline(
            **common,
            rates={k: v for k, v in rates.items() if v is not None},
            windows=(_window(night_span, "night"),),
            default_rate="day",
        )
    if kind == TariffKind.THREE_RATE:
        rates = {
            "day": _dec(tariff.get("dayRate")),
            "night": _dec(tariff.get("nightRate")),
            "off_peak": _dec(tariff.get("offPeakRate")),
        }
        return PriceTimeline(
            **common,
            rates={k: v for k, v in rates.items() if v is not None},
            windows=(_window(night_span, "night"), _window(THREE_RATE_OFF_PEAK, "off_peak")),
            default_rate="day",
        )
    if kind == TariffKind.HALF_HOURLY:
        slots = each(items(tariff.get("unitRates"), "unitRates"), _slot, "unit rate")
        return PriceTimeline(**common, slots=_clean_slots(slots, now))
    return PriceTimeline(**common)


def _clean_slots(slots: Sequence[PriceSlot], now: datetime) -> tuple[PriceSlot, ...]:
    """Sorted by start, recent and future only, one per start (the later entry wins), no inverted slots."""
    by_start: dict[datetime, PriceSlot] = {}
    for s in slots:
        if s.end > s.start and s.end > now - KEEP_PAST:
            by_start[s.start] = s
    return tuple(by_start[k] for k in sorted(by_start))


def _active(agreement: Mapping[str, Any], now: datetime) -> bool:
    if agreement.get("isRevoked"):
        return False
    start = _to_utc(agreement.get("validFrom"))
    end = _to_utc(agreement.get("validTo"))
    return (start is None or start <= now) and (end is None or now < end)


def _starts_after(agreement: Mapping[str, Any], now: datetime) -> datetime | None:
    start = _to_utc(agreement.get("validFrom"))
    if agreement.get("isRevoked") or start is None or start <= now:
        return None
    return start  # type: ignore[no-any-return]


def gb_tariffs(account: Any, now: datetime, *, deployment: str = "octopus-gb") -> Tariffs:
    """The agreements active at ``now`` on the account's import and export meter points."""
    acc = obj(account, "account")
    found: dict[Direction, PriceTimeline] = {}
    upcoming: tuple[datetime, PriceTimeline] | None = None
    for prop in items(acc.get("properties"), "properties"):
        if not isinstance(prop, dict):
            continue
        for mp in items(prop.get("electricityMeterPoints"), "electricityMeterPoints"):
            if not isinstance(mp, dict):
                continue
            mp_direction = Direction(str(mp.get("direction") or "IMPORT"))
            for agreement in items(mp.get("agreements"), "agreements"):
                if not isinstance(agreement, dict) or not isinstance(agreement.get("tariff"), dict):
                    continue
                try:
                    export = agreement["tariff"].get("isExport") is True
                    direction = Direction.EXPORT if export else mp_direction
                    if _active(agreement, now) and direction not in found:
                        found[direction] = gb_timeline(agreement, direction, now, deployment=deployment)
                    elif (
                        direction == Direction.IMPORT
                        and (start := _starts_after(agreement, now))
                        and (upcoming is None or start < upcoming[0])
                    ):
                        upcoming = (start, gb_timeline(agreement, direction, now, deployment=deployment))
                except (ValueError, TypeError) as exc:
                    log.warning("kraken.item_skipped", what="agreement", error=str(exc)[:200])
    return Tariffs.model_validate(
        {
            "import": found.get(Direction.IMPORT),
            "export": found.get(Direction.EXPORT),
            "upcoming_import": upcoming[1] if upcoming else None,
        }
    )


def de_tariffs(agreements: Sequence[Any], now: datetime) -> Tariffs:
    """DE ``agreement(id)`` results: a flat ``unitRatePerKwh`` (ct) and a monthly standing charge."""
    for raw in agreements:
        agreement = obj(raw, "agreement")
        if agreement.get("isActive") is False or not _active(agreement, now):
            continue
        rate = _dec(agreement.get("unitRatePerKwh"))
        monthly = _dec(agreement.get("monthlyStandingCharge"))
        product = sub(agreement, "product")
        return Tariffs.model_validate(
            {
                "import": PriceTimeline(
                    kind=TariffKind.STANDARD,
                    product_code=product.get("code"),
                    display_name=product.get("displayName"),
                    unit="ct",
                    currency="EUR",
                    standing_charge=(monthly * 12 / 365).quantize(Decimal("0.0001")) if monthly else None,
                    valid_from=agreement.get("validFrom"),
                    valid_to=agreement.get("validTo"),
                    rates={"unit": rate} if rate is not None else {},
                    default_rate="unit",
                    timezone=LOCAL_TZ["octopus-de"],
                )
            }
        )
    return Tariffs()


def au_tariffs(agreements: Sequence[Any], products: Mapping[str, Any], now: datetime) -> Tariffs:
    """AU ``account.agreements`` + ``product(code).productRates``.

    Rates come per band (e.g. PEAK, OFF_PEAK) with no documented time windows, so a multi-band tariff has
    ``rates`` but no ``price_at``; a single band is a standard tariff.
    """
    for raw in agreements:
        agreement = obj(raw, "agreement")
        if agreement.get("isActive") is False or not _active(agreement, now):
            continue
        product_ref = sub(agreement, "product")
        code = product_ref.get("code")
        product = products.get(str(code)) if code else None
        if product is None:
            continue
        prod = obj(product, "product")
        rates: dict[str, Decimal] = {}
        for rate in items(prod.get("productRates"), "productRates"):
            if not isinstance(rate, dict) or not _active(rate, now):
                continue
            value = _dec(rate.get("pricePerUnit"))
            if value is not None:
                rates[str(rate.get("bandCategory") or "unit")] = value
        single = len(rates) == 1
        return Tariffs.model_validate(
            {
                "import": PriceTimeline(
                    kind=TariffKind.STANDARD if single else TariffKind.BANDED,
                    product_code=str(code),
                    display_name=prod.get("displayName") or product_ref.get("displayName"),
                    unit="c",
                    currency="AUD",
                    valid_from=agreement.get("validFrom"),
                    valid_to=agreement.get("validTo"),
                    rates=rates,
                    default_rate=next(iter(rates)) if single else None,
                    timezone=LOCAL_TZ["red-energy-au"],
                )
            }
        )
    return Tariffs()


def tomorrow_prices_due(timeline: PriceTimeline | None, now: datetime) -> bool:
    """Half-hourly tariffs publish the next day in the afternoon: True while the prices to the end of
    tomorrow (local) are missing and it is past 16:00 local (or today's end is missing already)."""
    if timeline is None or timeline.kind != TariffKind.HALF_HOURLY:
        return False
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timeline.timezone)
    local = now.astimezone(tz)
    today_end = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    tomorrow_end = datetime.combine(local.date() + timedelta(days=2), datetime.min.time(), tzinfo=tz)
    known = timeline.known_until
    if known is None or known < today_end:
        return True
    return local.hour >= 16 and known < tomorrow_end


def with_history(new: Tariffs, old: Tariffs | None, now: datetime) -> Tariffs:
    """``new`` with the half-hourly import slots ``old`` had from before ``new``'s first one (same tariff),
    so history builds up across polls even when the API returns only recent rates."""
    fresh, kept = new.import_, old.import_ if old is not None else None
    if (
        fresh is None
        or kept is None
        or fresh.kind != TariffKind.HALF_HOURLY
        or kept.tariff_code != fresh.tariff_code
        or not kept.slots
    ):
        return new
    first = fresh.slots[0].start if fresh.slots else now
    older = [s for s in kept.slots if s.start < first]
    if not older:
        return new
    merged = fresh.model_copy(update={"slots": _clean_slots([*older, *fresh.slots], now)})
    return new.model_copy(update={"import_": merged})
