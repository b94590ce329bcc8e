from __future__ import annotations

import pytest

from kraken2mqtt.devices.base import UnsupportedAction
from tests.devices.helpers import T0, act, at, feed, make, send

LP = "evcc/loadpoints/1"


@pytest.mark.parametrize(
    ("kind", "mode"),
    [("charge", "now"), ("on", "now"), ("stop", "off"), ("hold", "off"), ("follow_kraken", "pv")],
)
def test_loadpoint_modes(kind: str, mode: str) -> None:
    a = make(id="ev", kind="ev", adapter="evcc", loadpoint=1)
    assert send(a, act(kind, 7.0)) == [(f"{LP}/mode/set", mode)]


def test_release_mode_configurable() -> None:
    a = make(id="ev", kind="ev", adapter="evcc", loadpoint=2, release_mode="minpv", topic="home/evcc")
    assert send(a, act("request_boost")) == [("home/evcc/loadpoints/2/mode/set", "minpv")]


def test_loadpoint_mode_written_on_change_only() -> None:
    # evcc stores the mode in its database and SetMode drops its own plan (loadpoint_api.go 172-186)
    a = make(id="ev", kind="ev", adapter="evcc", loadpoint=1)
    feed(a, f"{LP}/mode", "now")
    assert send(a, act("charge")) == []
    send(a, act("stop"), at(1))
    feed(a, f"{LP}/mode", "off")
    assert send(a, act("stop"), at(100)) == []
    assert send(a, act("stop"), at(100_000)) == []


def test_loadpoint_release_restores_the_persons_mode() -> None:
    a = make(id="ev", kind="ev", adapter="evcc", loadpoint=1)
    feed(a, f"{LP}/mode", "minpv")
    a.take_over(a.reported)
    send(a, act("charge"))
    feed(a, f"{LP}/mode", "now")
    assert [(m.topic, m.payload) for m in a.release(a.reported, at(10))] == [(f"{LP}/mode/set", "minpv")]
    feed(a, f"{LP}/mode", "minpv")
    assert a.release(a.reported, at(20)) == []  # already there: no SetMode (it would drop evcc's plan)


def test_battery_mode_external_mismatch_is_an_error() -> None:
    a = make(id="bat", kind="battery", adapter="evcc")
    send(a, act("charge"))
    feed(a, "evcc/site/batteryModeExternal", "normal", at(10))
    assert a.check(at(60)) is None  # evcc may still be catching up
    assert a.check(at(91)) == "evcc applies batteryMode 'normal', not the 'charge' we asked for"
    assert a.check(at(200)) is None  # reported once


@pytest.mark.parametrize(
    ("kind", "mode"), [("charge", "charge"), ("hold", "hold"), ("stop", "hold"), ("discharge", "normal")]
)
def test_battery_modes(kind: str, mode: str) -> None:
    a = make(id="bat", kind="battery", adapter="evcc")
    assert send(a, act(kind)) == [("evcc/site/batteryMode/set", mode)]


def test_battery_mode_keepalive_beats_watchdog() -> None:
    a = make(id="bat", kind="battery", adapter="evcc", keepalive_seconds=30)
    send(a, act("hold"))
    feed(a, "evcc/site/batteryMode", "hold")
    assert send(a, act("hold"), at(29)) == []
    assert send(a, act("hold"), at(30)) == [("evcc/site/batteryMode/set", "hold")]
    assert send(a, act("charge"), at(31)) == [("evcc/site/batteryMode/set", "charge")]


def test_battery_release_once() -> None:
    a = make(id="bat", kind="battery", adapter="evcc")
    send(a, act("charge"))
    assert send(a, act("follow_kraken"), at(5)) == [("evcc/site/batteryMode/set", "null")]
    assert send(a, act("follow_kraken"), at(5000)) == []


@pytest.mark.parametrize(("kind", "dev"), [("discharge", "ev"), ("heat", "ev"), ("heat", "battery")])
def test_unsupported(kind: str, dev: str) -> None:
    a = make(id="x", kind=dev, adapter="evcc", loadpoint=1 if dev == "ev" else None)
    with pytest.raises(UnsupportedAction):
        a.commands(act(kind), None, T0)


def test_state_read_back() -> None:
    lp = make(id="ev", kind="ev", adapter="evcc", loadpoint=1)
    feed(lp, f"{LP}/connected", "true")
    feed(lp, f"{LP}/charging", "false")
    feed(lp, f"{LP}/chargePower", "0")
    feed(lp, f"{LP}/vehicleSoc", "41.5")
    feed(lp, "evcc/status", "online")
    s = lp.reported
    assert (s.plugged_in, s.charging, s.power_kw, s.soc_pct, s.online) == (True, False, 0.0, 41.5, True)
    site = make(id="bat", kind="battery", adapter="evcc")
    feed(site, "evcc/site/battery/soc", "80")
    feed(site, "evcc/site/battery/power", "1500")
    assert (site.reported.soc_pct, site.reported.power_kw, site.reported.charging) == (80.0, -1.5, False)


@pytest.mark.parametrize(
    ("key", "payload"), [("connected", "maybe"), ("mode", "turbo"), ("chargePower", "x")]
)
def test_bad_state_ignored(key: str, payload: str) -> None:
    a = make(id="ev", kind="ev", adapter="evcc", loadpoint=1)
    feed(a, f"{LP}/{key}", payload)
    assert a.last_ignored is not None


def test_cleared_value_is_fine() -> None:
    a = make(id="ev", kind="ev", adapter="evcc", loadpoint=1)
    feed(a, f"{LP}/vehicleSoc", "")
    assert a.last_ignored is None
