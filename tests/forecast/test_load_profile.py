from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kraken2mqtt.forecast.load_profile import LoadLearner, read_power

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, GMT


def fill(learner: LoadLearner, days: int, kw_at: float, start: datetime = MONDAY) -> None:
    t = start
    while t < start + timedelta(days=days):
        learner.add(t, kw_at + (2.0 if t.hour == 18 else 0.0), planned_devices_kw=0.0)
        t += timedelta(minutes=30)


def test_the_configured_profile_stays_until_a_week_of_history() -> None:
    learner = LoadLearner(tz="Europe/London")
    fill(learner, 6, 0.3)
    assert learner.weekly() is None
    fill(learner, 2, 0.3, MONDAY + timedelta(days=6))
    daily = learner.daily()
    assert daily is not None
    assert daily[36] == pytest.approx(2.3)  # 18:00
    assert daily[10] == pytest.approx(0.3)


def test_planned_devices_are_not_house_load() -> None:
    learner = LoadLearner(min_days=0)
    learner.add(MONDAY, 7.5, planned_devices_kw=7.2)
    week = learner.weekly()
    assert week is not None and week[0] == pytest.approx(0.3)


def test_recent_weeks_weigh_more() -> None:
    learner = LoadLearner(min_days=0, half_life_days=7)
    learner.add(MONDAY, 1.0)
    learner.add(MONDAY + timedelta(days=7), 0.0)  # same cell a week later: the old sample weighs half
    week = learner.weekly()
    assert week is not None and week[0] == pytest.approx(1 / 3, abs=1e-4)


def test_weekdays_are_learned_apart_and_gaps_borrow_the_same_half_hour() -> None:
    learner = LoadLearner(min_days=0)
    learner.add(MONDAY + timedelta(hours=9), 1.0)
    learner.add(MONDAY + timedelta(days=5, hours=9), 3.0)  # Saturday
    week = learner.weekly()
    assert week is not None
    assert week[18] == 1.0 and week[5 * 48 + 18] == 3.0
    assert week[2 * 48 + 18] == pytest.approx(2.0)  # Wednesday 09:00: never measured


def test_round_trip_and_bad_samples() -> None:
    learner = LoadLearner(min_days=0)
    learner.add(MONDAY, float("nan"))
    assert learner.first is None
    learner.add(MONDAY, 0.5)
    again = LoadLearner.from_json(learner.to_json(), min_days=0)
    assert again.weekly() == learner.weekly()
    with pytest.raises(ValueError, match="cells"):
        LoadLearner.from_json({**learner.to_json(), "cells": []})


@pytest.mark.parametrize(
    ("payload", "path", "unit", "kw"),
    [
        (b"1500", None, "W", 1.5),
        (b'{"Power": {"Power": {"Load_Power": 812}}}', "Power.Power.Load_Power", "W", 0.812),  # GivTCP
        (b'{"state": "2.4"}', "state", "kW", 2.4),
        (b'{"a": [1, {"b": 250}]}', "a.1.b", "W", 0.25),
        (b'{"a": 1}', "b", "W", None),
        (b"not json", None, "W", None),
        (b'{"a": true}', "a", "W", None),
        (b"\xff", None, "W", None),
    ],
)
def test_read_power(payload: bytes, path: str | None, unit: str, kw: float | None) -> None:
    assert read_power(payload, path, unit=unit) == (pytest.approx(kw) if kw is not None else None)
