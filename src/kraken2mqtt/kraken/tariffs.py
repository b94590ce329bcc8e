"""Agreements → the current import / export price timelines (pure).

GB: ``account.properties.electricityMeterPoints.agreements.tariff`` (a union of six tariff types incl.
``FourRateEvTariff``, digest §2.4-2.5). DE: ``agreement(id).unitRateInformation`` (live). AU:
``account.agreements`` → ``product(code).productRates`` (003). Prices are in the deployment's minor unit
per kWh including VAT, as the API gives them.

The docs do not say *when* day/night or three-rate tariffs switch. The windows below are assumptions (UK local
time), overridable per call: Economy-7 style night 00:00-07:00; Intelligent Octopus (see :func:`intelligent`)
night 23:30-05:30, plus the dispatch discount; three-rate off-peak 13:00-16:00 besides the night.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from kraken2mqtt.kraken import deployments
from kraken2mqtt.kraken.deployments import Deployment
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


def _deployment(deployment: Deployment | str) -> Deployment:
    """The one object of a deployment: its time zone, currency and minor unit come from there only."""
    return deployments.get(deployment) if isinstance(deployment, str) else deployment


def _money(dep: Deployment) -> dict[str, Any]:
    """A timeline's unit, currency and time zone: the deployment's (``kraken/deployments.py``)."""
    return {"unit": dep.minor_unit, "currency": dep.currency, "timezone": dep.time_zone}


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
    "FourRateEvTariff": TariffKind.FOUR_RATE_EV,
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
    if tariff.get("evDeviceOffPeakRate") is not None:
        return TariffKind.FOUR_RATE_EV
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
    deployment: Deployment | str = "octopus-gb",
    night: tuple[int, int] | None = None,
) -> PriceTimeline:
    """One GB agreement (with its ``tariff``) as a timeline."""
    tariff = obj(agreement.get("tariff"), "agreement.tariff")
    kind = _kind(tariff)
    intelligent = kind == TariffKind.FOUR_RATE_EV  # decided for the others by intelligent() below
    common: dict[str, Any] = {
        **_money(_deployment(deployment)),
        "kind": kind,
        "direction": direction,
        "tariff_code": tariff.get("tariffCode"),
        "product_code": tariff.get("productCode"),
        "display_name": tariff.get("displayName"),
        "standing_charge": tariff.get("standingCharge"),
        "valid_from": agreement.get("validFrom"),
        "valid_to": agreement.get("validTo"),
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
    if kind == TariffKind.FOUR_RATE_EV:
        named = (
            ("day", "dayRate"),
            ("night", "nightRate"),
            ("ev_peak", "evDevicePeakRate"),
            ("ev_off_peak", "evDeviceOffPeakRate"),
        )
        four = {k: _dec(tariff.get(field)) for k, field in named}
        return PriceTimeline(
            **common,
            rates={k: v for k, v in four.items() if v is not None},
            windows=(_window(night_span, "night"),),
            default_rate="day",
        )
    if kind == TariffKind.HALF_HOURLY:
        slots = each(items(tariff.get("unitRates"), "unitRates"), _slot, "unit rate")
        return PriceTimeline(**common, slots=_clean_slots(slots, now))
    return PriceTimeline(**common)


#: At most this many distinct half-hourly prices in a day make a time-of-use shape (Intelligent Octopus Go
#: is a HalfHourlyTariff whose unitRates carry its change windows); Agile has dozens.
TOU_MAX_DISTINCT = 3


def time_of_use_shape(timeline: PriceTimeline) -> bool:
    """Whether the tariff has a cheap period a dispatch can be billed at (a two- or three-level shape)."""
    if timeline.kind in (TariffKind.DAY_NIGHT, TariffKind.THREE_RATE, TariffKind.FOUR_RATE_EV):
        return timeline.off_peak_rate is not None
    if timeline.kind == TariffKind.HALF_HOURLY:
        values = {s.value for s in timeline.slots[-48:]}
        return 2 <= len(values) <= TOU_MAX_DISTINCT
    return False


def intelligent(tariff_set: Tariffs, dispatch_capable: bool) -> Tariffs:
    """Mark the import tariff as Intelligent (dispatches billed at its off-peak rate) from what the account
    is, not from its product code (``IOG-SMB-TOU`` has no "INTELLI"): a four-rate EV tariff, or a
    time-of-use shape on an account with a dispatch-capable (smart-charging, live) device."""
    out: dict[str, Any] = {}
    for key in ("import_", "upcoming_import"):
        timeline: PriceTimeline | None = getattr(tariff_set, key)
        if timeline is None or timeline.direction != Direction.IMPORT:
            continue
        wanted = timeline.kind == TariffKind.FOUR_RATE_EV or (
            dispatch_capable and time_of_use_shape(timeline)
        )
        if wanted != timeline.dispatch_discount:
            update: dict[str, Any] = {"dispatch_discount": wanted}
            if timeline.kind == TariffKind.DAY_NIGHT and timeline.windows:
                span = INTELLIGENT_NIGHT if wanted else NIGHT
                update["windows"] = (_window(span, "night"),)
            out[key] = timeline.model_copy(update=update)
    return tariff_set.model_copy(update=out) if out else tariff_set


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


def gb_tariffs(account: Any, now: datetime, *, deployment: Deployment | str = "octopus-gb") -> Tariffs:
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


def _de_rate(info: Mapping[str, Any]) -> Decimal | None:
    return _dec(info.get("latestGrossUnitRateCentsPerKwh"))


def _hhmm(value: Any) -> int | None:
    try:
        h, m = str(value).split(":")[:2]
        return int(h) * 60 + int(m)
    except (ValueError, TypeError):
        return None


def de_tariffs(
    agreements: Sequence[Any], now: datetime, *, deployment: Deployment | str = "octopus-de"
) -> Tariffs:
    """DE ``agreement(id)`` results: ``unitRateInformation`` (simple: one gross rate; time-of-use: named
    timeslots with their activation times) in ct/kWh and ``standingChargeGrossRateInformation`` (€/month,
    gross), as OEG reads them. The old ``unitRatePerKwh`` / ``monthlyStandingCharge`` are still understood
    when a (lagging) server sends them."""
    dep = _deployment(deployment)
    for raw in agreements:
        agreement = obj(raw, "agreement")
        if agreement.get("isActive") is False or not _active(agreement, now):
            continue
        product = sub(agreement, "product")
        info = agreement.get("unitRateInformation")
        info = info if isinstance(info, dict) else {}
        kind = TariffKind.STANDARD
        rates: dict[str, Decimal] = {}
        windows: list[TimeWindow] = []
        default: str | None = "unit"
        if info.get("__typename") == "TimeOfUseProductUnitRateInformation" or "rates" in info:
            kind, default = TariffKind.TIME_OF_USE, None
            for slot in items(info.get("rates"), "unitRateInformation.rates"):
                if not isinstance(slot, dict):
                    continue
                name = str(slot.get("timeslotName") or f"slot{len(rates) + 1}")
                rate = _de_rate(slot)
                if rate is None:
                    continue
                rates[name] = rate
                for rule in items(slot.get("timeslotActivationRules"), "timeslotActivationRules"):
                    start = _hhmm(rule.get("activeFromTime")) if isinstance(rule, dict) else None
                    end = _hhmm(rule.get("activeToTime")) if isinstance(rule, dict) else None
                    if start is not None and end is not None:
                        windows.append(TimeWindow(start_min=start, end_min=end or 24 * 60, rate=name))
                        if default is None and end - start >= 12 * 60:
                            default = name
            if default is None and rates:
                default = max(rates, key=lambda k: rates[k])  # outside every window: the dearest
        else:
            rate = _de_rate(info) if info else _dec(agreement.get("unitRatePerKwh"))
            if rate is not None:
                rates["unit"] = rate
        monthly = None
        for gross in items(agreement.get("standingChargeGrossRateInformation"), "standingCharge"):
            if isinstance(gross, dict) and gross.get("grossRate") is not None:
                monthly = _dec(gross["grossRate"])
                break
        if monthly is None:
            monthly = _dec(agreement.get("monthlyStandingCharge"))
        return Tariffs.model_validate(
            {
                "import": PriceTimeline(
                    kind=kind,
                    product_code=product.get("code"),
                    display_name=product.get("displayName"),
                    **_money(dep),
                    # €/month gross -> ct/day
                    standing_charge=(monthly * dep.minor_per_major * 12 / 365).quantize(Decimal("0.0001"))
                    if monthly
                    else None,
                    valid_from=agreement.get("validFrom"),
                    valid_to=agreement.get("validTo"),
                    rates=rates,
                    windows=tuple(windows),
                    default_rate=default,
                )
            }
        )
    return Tariffs()


def au_tariffs(
    agreements: Sequence[Any],
    products: Mapping[str, Any],
    now: datetime,
    *,
    deployment: Deployment | str = "red-energy-au",
) -> Tariffs:
    """AU ``account.agreements`` + ``product(code).productRates``.

    Rates come per band (e.g. PEAK, OFF_PEAK) with no documented time windows, so a multi-band tariff has
    ``rates`` but no ``price_at``; a single band is a standard tariff.
    """
    dep = _deployment(deployment)
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
                    **_money(dep),
                    valid_from=agreement.get("validFrom"),
                    valid_to=agreement.get("validTo"),
                    rates=rates,
                    default_rate=next(iter(rates)) if single else None,
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
