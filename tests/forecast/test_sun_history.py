"""The measured sun of the last days: complete days only, the persistence forecast, the optimistic sun."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kraken2mqtt.forecast.measured_sun import MeasuredSun
from kraken2mqtt.forecast.sun_history import (
    KEEP_DAYS,
    SunHistory,
    persistence,
    sun_high,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday, midnight UTC
H = timedelta(hours=1)
LONDON = "Europe/London"


def sunny_day(m: MeasuredSun, day: datetime, kw: float, *, from_h: int = 0, to_h: int = 24) -> None:
    """A sample every 5 minutes; ``kw`` from 09:00 to 15:00 UTC, dark otherwise."""
    t = day + from_h * H
    while t < day + to_h * H:
        m.sample(t, kw if 9 <= t.hour < 15 else 0.0)
        t += timedelta(minutes=5)


def test_complete_days_give_the_persistence_forecast_and_the_optimistic_sun() -> None:
    m = MeasuredSun("UTC")
    for d, kw in enumerate([1.0, 3.0, 2.0]):  # three days, the last one yesterday
        sunny_day(m, T0 + d * 24 * H, kw)
    now = T0 + 3 * 24 * H + 8 * H  # 08:00 on day 4
    days = m.history.past_days(now)
    assert len(days) == 3 and sum(days[0]) == pytest.approx(2.0 * 6, abs=0.2)  # most recent first
    fc = persistence(m.history, now, 24)
    assert fc is not None and fc.source == "measured sun"
    assert fc.slots[0].start == T0 + 3 * 24 * H  # from local midnight: today so far compares with it
    noon = [s.kwh for s in fc.slots if s.start.hour == 12 and s.start.minute == 0]
    # 25 % yesterday (1 kWh per half hour) + 75 % the mean (1 kWh): 1 kWh
    assert noon[0] == pytest.approx(0.25 * 1.0 + 0.75 * (0.5 + 1.5 + 1.0) / 3)
    high = sun_high(m.history, now, 48)
    assert high[0].start == now and len(high) == 96
    assert max(s.kwh for s in high) == pytest.approx(1.5)  # the sunniest day's half hour
    assert all(s.kwh == 0.0 for s in high if s.start.hour < 8 or s.start.hour >= 15)


def test_a_gap_in_daylight_breaks_the_day_a_gap_at_night_does_not() -> None:
    m = MeasuredSun("UTC")
    sunny_day(m, T0, 2.0, to_h=11)
    sunny_day(m, T0, 2.0, from_h=12)  # an hour lost at 11:00 in full sun
    sunny_day(m, T0 + 24 * H, 2.0, to_h=2)
    sunny_day(m, T0 + 24 * H, 2.0, from_h=5)  # three hours lost at night: nothing missed
    now = T0 + 2 * 24 * H
    assert [sum(d) for d in m.history.past_days(now)] == [pytest.approx(12.0, abs=0.2)]
    assert sorted(m.history.broken) == [T0.date().isoformat()]


def test_the_first_sample_in_sunshine_after_a_start_breaks_its_day() -> None:
    m = MeasuredSun("UTC")
    sunny_day(m, T0, 2.0, from_h=10)  # started at 10:00 in full sun: the morning is missing
    sunny_day(m, T0 + 24 * H, 2.0)
    assert len(m.history.past_days(T0 + 2 * 24 * H)) == 1
    assert persistence(SunHistory("UTC"), T0, 24) is None
    assert sun_high(SunHistory("UTC"), T0, 24) == ()


def test_a_restart_keeps_today_and_judges_its_gap_like_any_other() -> None:
    m = MeasuredSun("UTC")
    sunny_day(m, T0, 2.0, to_h=10)
    stored = m.to_json()
    again = MeasuredSun.from_json(stored, "UTC")
    assert again.today_kwh(T0 + 10 * H) == pytest.approx(m.today_kwh(T0 + 10 * H))
    again.sample(T0 + 10 * H + timedelta(minutes=5), 2.0)  # back within the integrator's gap
    sunny_day(again, T0, 2.0, from_h=10)
    assert again.history.past_days(T0 + 24 * H)  # nothing lost: the day stays complete
    late = MeasuredSun.from_json(stored, "UTC")
    late.sample(T0 + 12 * H, 2.0)  # two hours of sun unmeasured
    assert late.history.past_days(T0 + 24 * H) == []
    # another timezone's half hours would be misplaced: dropped
    assert MeasuredSun.from_json(stored, LONDON).history.days == {}


def test_only_the_last_days_are_kept_and_bad_records_are_refused() -> None:
    m = MeasuredSun("UTC")
    for d in range(12):
        sunny_day(m, T0 + d * 24 * H, 1.0)
    assert len(m.history.days) == KEEP_DAYS
    assert min(m.history.days) == (T0 + 4 * 24 * H).date().isoformat()
    with pytest.raises(ValueError, match="48 half hours"):
        SunHistory.from_json({"tz": "UTC", "days": {"2026-06-01": [1.0] * 47}}, "UTC")
    with pytest.raises(ValueError, match="isoformat"):
        SunHistory.from_json({"tz": "UTC", "days": {"yesterday": [1.0] * 48}}, "UTC")


def test_local_half_hours_hold_across_a_clock_change() -> None:
    # London, across the night the clocks go back (a 25-hour day): sun from 12:00 to 13:00 local time
    # every day is expected at 12:00 local time after the change too (12:00 UTC, not 11:00)
    m = MeasuredSun(LONDON)
    zone = ZoneInfo(LONDON)
    t = datetime(2026, 10, 23, 23, tzinfo=UTC)  # 00:00 BST on the 24th
    while t < datetime(2026, 10, 26, 0, tzinfo=UTC):
        m.sample(t, 2.0 if t.astimezone(zone).hour == 12 else 0.0)
        t += timedelta(minutes=5)
    now = datetime(2026, 10, 26, 0, tzinfo=UTC)
    assert len(m.history.past_days(now)) == 2
    high = sun_high(m.history, now, 24)
    assert sorted({s.start.hour for s in high if s.kwh > 0.5}) == [12]
    steps = {b.start - a.start for a, b in itertools.pairwise(high)}
    assert steps == {timedelta(minutes=30)}
