"""Every action the planner emits for a device kind is accepted by each adapter that allows that kind."""

from __future__ import annotations

from typing import Any

import pytest

from kraken2mqtt.devices.base import LocalKind
from tests.devices.helpers import T0, act, make

# What planner/plan.py emits per device kind: (kind, power kW, setpoint °C)
PLANNER: dict[LocalKind, list[tuple[str, float, float | None]]] = {
    LocalKind.EV: [
        ("charge", 7.0, None),
        ("stop", 0, None),
        ("follow_kraken", 0, None),
        ("request_boost", 7, None),
    ],
    LocalKind.BATTERY: [("charge", 3.0, None), ("discharge", 3.0, None), ("hold", 0, None)],
    LocalKind.HEAT_PUMP: [("heat", 2.0, 21.4), ("hold", 0, 19.0)],
    LocalKind.HOT_WATER: [("hot_water_boost", 3.0, None), ("hot_water_off", 0, None)],
    LocalKind.RELAY: [("on", 2.0, None), ("off", 0, None)],
}

MINIMAL: list[dict[str, Any]] = [
    {"kind": "ev", "adapter": "openevse", "topic": "o"},
    {"kind": "ev", "adapter": "goe", "serial": "1"},
    {"kind": "ev", "adapter": "evcc", "loadpoint": 1},
    {"kind": "battery", "adapter": "evcc"},
    {"kind": "battery", "adapter": "givtcp", "serial": "S"},
    {"kind": "battery", "adapter": "givtcp", "serial": "S", "discharge": "eco"},
    *({"kind": k, "adapter": "tasmota", "topic": "t"} for k in ("relay", "hot_water", "heat_pump")),
    *({"kind": k, "adapter": "shelly", "topic": "s"} for k in ("relay", "hot_water", "heat_pump")),
    {"kind": "heat_pump", "adapter": "ebusd", "circuit": "c", "setpoint": "s"},
    {
        "kind": "hot_water",
        "adapter": "ebusd",
        "circuit": "c",
        "setpoint": "s",
        "boost_c": 55,
        "off_c": 40,
        "max_c": 60,
    },
    *({"kind": k, "adapter": "espaltherma"} for k in ("heat_pump", "hot_water")),
]


@pytest.mark.parametrize("cfg", MINIMAL, ids=lambda c: f"{c['adapter']}-{c['kind']}")
def test_planner_actions_are_accepted(cfg: dict[str, Any]) -> None:
    a = make(id="d", **cfg)
    for kind, kw, setpoint in PLANNER[LocalKind(cfg["kind"])]:
        a.commands(act(kind, kw, setpoint), None, T0)  # must not raise


def test_hot_water_ebusd_needs_boost_and_off() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="boost_c and off_c"):
        make(id="d", kind="hot_water", adapter="ebusd", circuit="c", setpoint="s", boost_c=55)
