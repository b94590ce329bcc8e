"""The account's Home Assistant device: prices, dispatches, prepay, the forecasts and the plan's cost."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from kraken2mqtt.controls import ACCOUNT, SPECS, Control
from kraken2mqtt.kraken.deployments import DEPLOYMENTS, Deployment
from kraken2mqtt.kraken.signals import STALE_AFTER, Signals
from kraken2mqtt.kraken.snapshot import Snapshot, Stream
from kraken2mqtt.mqtt.ha_discovery import CLOCK_TOPIC, Entity, HaDevice, iso, on_off
from kraken2mqtt.mqtt.ha_plan import plan_entity
from kraken2mqtt.mqtt.ha_tables import (
    CONFIG,
    DIAGNOSTIC,
    MEASUREMENT,
    TIMESTAMP,
    EntityDescription,
    EntityFamily,
    Table,
    from_table,
    to_float,
)
from kraken2mqtt.mqtt.ha_view import ForecastShown, View, money, shown


def _dep(view: View) -> Deployment:
    return DEPLOYMENTS[view.snapshot.deployment]


def _per_kwh(view: View) -> dict[str, Any]:
    return {
        "unit_of_measurement": f"{_dep(view).currency}/kWh",
        "state_class": MEASUREMENT,
        "icon": "mdi:cash",
    }


def _price(key: str, name: str, rate: Callable[[Signals], Decimal | None]) -> EntityDescription[View]:
    return EntityDescription(
        key,
        "sensor",
        name,
        lambda v: money(v, rate(v.signals)),
        more=lambda v: {**_per_kwh(v), "suggested_display_precision": 4},
    )


def _fetched_entities(view: View) -> Iterable[Entity]:
    snap, sig = view.snapshot, view.signals
    for stream in sorted(sig.ages, key=lambda s: s.value):
        if stream in STALE_AFTER:
            yield Entity(
                f"fetched_{stream.value}",
                "sensor",
                f"{stream.value.replace('_', ' ').capitalize()} fetched at",
                iso(snap.stream(stream).fetched_at),
                options={"device_class": TIMESTAMP, "entity_category": DIAGNOSTIC},
                enabled=False,  # changes on every poll of its stream
            )


def _current_topup(view: View) -> int | None:
    prepay = view.snapshot.prepay
    cfg = prepay.current_config(view.now) if prepay is not None else None
    return cfg.topup_amount if cfg else None


def _topup_shown(view: View) -> float | None:
    """In minor units, as a float like every number's state (HA shows ``2000.0`` whether it came from a
    poll or from the command's value)."""
    return to_float(shown(view, ACCOUNT, Control.TOP_UP_AMOUNT, _current_topup(view)))


def _topup_options(view: View) -> dict[str, Any]:
    """The amount in the command's own unit, the currency's minor unit (pence; whole yen), so what HA sends
    is what it shows. Where the minor unit is the currency (yen) it is a monetary amount."""
    dep, spec = _dep(view), SPECS[Control.TOP_UP_AMOUNT]
    out: dict[str, Any] = {}
    if dep.minor_per_major == 1:
        out["device_class"] = "monetary"
        out["unit_of_measurement"] = dep.currency
    else:
        out["unit_of_measurement"] = dep.minor_unit
        out["icon"] = "mdi:cash-plus"
    out["entity_category"] = CONFIG
    return {**out, "min": spec.minimum, "max": spec.maximum, "step": spec.step}


def _topup_attributes(view: View) -> dict[str, Any] | None:
    dep = _dep(view)
    if dep.minor_per_major == 1:
        return None
    value = _topup_shown(view)
    return {"amount": money(view, value), "currency": dep.currency}


def _dropped_attributes(view: View) -> dict[str, Any]:
    return {"selections": {name: why[:200] for name, why in sorted(view.snapshot.dropped.items())[:20]}}


def _has_prepay_balance(view: View) -> bool:
    prepay = view.snapshot.prepay
    return prepay is not None and prepay.balance is not None


def _plan_entities(view: View) -> Iterable[Entity]:
    if view.plan is not None:
        dep = _dep(view)
        yield plan_entity(view.plan, view.now, dep.currency, dep.minor_per_major)


def _forecast_family(view: View) -> Iterable[Entity]:
    return forecast_entities(view.forecast) if view.forecast is not None else ()


ACCOUNT_ENTITIES: Table[View] = (
    _price("import_price", "Import price", lambda s: s.import_rate),
    _price("billed_price", "Price billed now", lambda s: s.dispatch_adjusted_rate),
    _price("export_price", "Export price", lambda s: s.export_rate),
    EntityDescription(
        "off_peak",
        "binary_sensor",
        "Off-peak now",
        lambda v: on_off(v.signals.off_peak_now),
        icon="mdi:clock-check",
    ),
    EntityDescription(
        "dispatching",
        "binary_sensor",
        "Dispatching now",
        lambda v: on_off(v.signals.dispatching_now),
        device_class="running",
    ),
    EntityDescription(
        "next_dispatch", "sensor", "Next dispatch", lambda v: iso(v.signals.next_dispatch_start), TIMESTAMP
    ),
    EntityDescription(
        "dispatch_end",
        "sensor",
        "Current dispatch ends",
        lambda v: iso(v.signals.current_dispatch_end),
        TIMESTAMP,
    ),
    EntityDescription(
        "data_fetched_at",
        "sensor",
        "Data fetched at",
        lambda v: iso(_oldest_fetch(v.snapshot, v.signals)),
        TIMESTAMP,
        category=DIAGNOSTIC,
    ),
    EntityDescription(
        "stale",
        "binary_sensor",
        "Stale data",
        lambda v: on_off(bool(v.signals.stale)),
        "problem",
        category=DIAGNOSTIC,
        attributes=lambda v: {"streams": sorted(s.value for s in v.signals.stale)},
    ),
    EntityDescription("refresh", "button", "Refresh now", category=CONFIG, control=Control.REFRESH),
    EntityFamily(_fetched_entities),
    EntityDescription(
        "rate_limit_remaining",
        "sensor",
        "API points remaining",
        lambda v: v.snapshot.rate_limit.remaining if v.snapshot.rate_limit else None,
        state_class=MEASUREMENT,
        category=DIAGNOSTIC,
        enabled=False,  # changes on every request
        exists=lambda v: v.snapshot.rate_limit is not None and v.snapshot.rate_limit.remaining is not None,
    ),
    EntityDescription(
        "dropped_selections",
        "sensor",
        "Dropped API selections",
        lambda v: len(v.snapshot.dropped),
        category=DIAGNOSTIC,
        icon="mdi:api-off",
        attributes=_dropped_attributes,
    ),
    EntityDescription(
        "waiting_for_clock",
        "binary_sensor",
        "Waiting for the clock",
        device_class="problem",
        category=DIAGNOSTIC,
        topic=CLOCK_TOPIC,  # published by the clock gate while nothing else is (mqtt.ha_publisher)
        attributes=lambda v: {},
    ),
    EntityDescription(
        "prepay_credit",
        "sensor",
        "Prepay credit",
        lambda v: money(
            v, v.snapshot.prepay.balance.credit if v.snapshot.prepay and v.snapshot.prepay.balance else None
        ),
        "monetary",
        more=lambda v: {"unit_of_measurement": _dep(v).currency},
        exists=_has_prepay_balance,
    ),
    EntityDescription(
        "top_up_amount",
        "number",
        "Auto top-up amount",
        _topup_shown,
        control=Control.TOP_UP_AMOUNT,
        more=_topup_options,
        attributes=_topup_attributes,
        exists=_has_prepay_balance,
    ),
    EntityFamily(_forecast_family),
    EntityFamily(_plan_entities),
)


def account_device(view: View) -> HaDevice:
    snap, dep = view.snapshot, _dep(view)
    number = snap.account_number or "account"
    return HaDevice(
        key=ACCOUNT,
        name=f"Kraken account {number}",
        manufacturer=dep.label,
        model=snap.mode,
        entities=tuple(from_table(ACCOUNT_ENTITIES, view)),
        available=Stream.TARIFFS not in view.signals.stale,
    )


_SUN = {"suggested_display_precision": 1, "icon": "mdi:solar-power-variant"}

FORECAST_ENTITIES: Table[ForecastShown] = (
    EntityDescription(
        "solar_forecast_today",
        "sensor",
        "Solar forecast rest of today",
        lambda f: f.solar_rest_of_today_kwh,
        "energy",
        "kWh",
        more=_SUN,
        exists=lambda f: f.solar_rest_of_today_kwh is not None or f.solar_tomorrow_kwh is not None,
    ),
    EntityDescription(
        "solar_forecast_tomorrow",
        "sensor",
        "Solar forecast tomorrow",
        lambda f: f.solar_tomorrow_kwh,
        "energy",
        "kWh",
        more=_SUN,
        exists=lambda f: f.solar_rest_of_today_kwh is not None or f.solar_tomorrow_kwh is not None,
    ),
    EntityDescription(
        "solar_forecast_now",
        "sensor",
        "Solar forecast now",
        lambda f: f.solar_now_kw,
        "power",
        "kW",
        MEASUREMENT,
        exists=lambda f: f.solar_rest_of_today_kwh is not None or f.solar_tomorrow_kwh is not None,
    ),
    EntityDescription(
        "forecast_outdoor",
        "sensor",
        "Forecast outdoor temperature",
        lambda f: f.outdoor_c,
        "temperature",
        "°C",
        MEASUREMENT,
        exists=lambda f: f.outdoor_c is not None,
    ),
    EntityDescription(
        "forecast_fetched_at",
        "sensor",
        "Forecast fetched at",
        lambda f: iso(f.fetched_at),
        TIMESTAMP,
        category=DIAGNOSTIC,
        attributes=lambda f: {"stale": f.stale},
    ),
    EntityDescription(
        "house_base_load",
        "sensor",
        "House base load",
        lambda f: f.house_load_kw,
        "power",
        "kW",
        MEASUREMENT,
        attributes=lambda f: {"source": "learned" if f.house_load_learned else "configured"},
        exists=lambda f: f.house_load_kw is not None,
    ),
)


def forecast_entities(fc: ForecastShown) -> list[Entity]:
    """The sun and the weather the plan counts on, and the house's base load it plans around."""
    return from_table(FORECAST_ENTITIES, fc)


def _oldest_fetch(snap: Snapshot, sig: Signals) -> datetime | None:
    """When the oldest of the polled streams was fetched: everything shown is at least this recent."""
    times = [snap.stream(s).fetched_at for s in sig.ages if s in STALE_AFTER]
    known = [t for t in times if t is not None]
    return min(known) if known else None
