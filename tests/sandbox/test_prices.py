"""Agile prices replayed from historic data onto simulated days, published at 16:00 UK."""

from __future__ import annotations

import gzip
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from kraken2mqtt.sandbox import prices as prices_mod
from kraken2mqtt.sandbox.prices import AgilePrices, parse_csv
from kraken2mqtt.sandbox.sim_account import UK, SimAccount

FULL = Path(__file__).resolve().parents[3] / "shared" / "data" / "agile" / "csv_agile_A_Eastern_England.csv"


@pytest.fixture(scope="module")
def agile() -> AgilePrices:
    return AgilePrices.packaged()


def test_packaged_slice_is_whole_weeks_from_a_monday(agile: AgilePrices) -> None:
    assert agile.days == 56 and agile.first_day == date(2021, 1, 4) and agile.first_day.weekday() == 0
    assert "packaged" in agile.source


def test_replay_keeps_the_weekday_and_the_historic_values(agile: AgilePrices) -> None:
    raw = dict(
        parse_csv(
            gzip.decompress((Path(prices_mod.__file__).parent / "data" / prices_mod.PACKAGED).read_bytes())
            .decode()
            .splitlines()
        )
    )
    for offset in range(0, 120, 7):
        day = date(2026, 11, 23) + timedelta(days=offset)
        hist = agile.historic_day(day)
        assert hist.weekday() == day.weekday()
        rates = agile.day_rates(day)
        hist_start = datetime(hist.year, hist.month, hist.day, tzinfo=UK).astimezone(UTC)
        # winter history, winter target: wall clock times line up one to one
        if day.month in (11, 12, 1, 2):
            assert [r.value for r in rates] == [
                raw[hist_start + timedelta(minutes=30 * i)] for i in range(48)
            ]


def test_clock_change_days_have_46_and_50_slots(agile: AgilePrices) -> None:
    for day, n in ((date(2026, 3, 29), 46), (date(2026, 10, 25), 50), (date(2026, 6, 1), 48)):
        rates = agile.day_rates(day)
        assert len(rates) == n
        assert all(a.valid_to == b.valid_from for a, b in itertools.pairwise(rates))
        assert rates[0].valid_from.astimezone(UK).hour == 0


def test_tomorrow_is_published_at_16_uk_winter_and_summer(agile: AgilePrices) -> None:
    for day, utc_hour in ((date(2026, 1, 15), 16), (date(2026, 7, 15), 15)):
        before = datetime(day.year, day.month, day.day, utc_hour - 1, 59, tzinfo=UTC)
        at = before + timedelta(minutes=1)
        tomorrow = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UK).astimezone(UTC)
        assert agile.published_until(before) == tomorrow
        assert max(r.valid_to for r in agile.published_rates(before)) == tomorrow
        assert agile.published_until(at) == tomorrow + timedelta(days=1)
        assert min(r.valid_from for r in agile.published_rates(at)) < at - timedelta(hours=16)


def test_price_at_and_rate_tuples_feed_the_demo_account(agile: AgilePrices) -> None:
    now = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    acc = SimAccount.demo(now, import_rates=agile.rate_tuples(now))
    rates = acc.properties[0].meter_points[0].agreements[0].tariff.unit_rates
    assert len(rates) == 3 * 48
    slot = next(r for r in rates if r.valid_from <= now < r.valid_to)
    assert agile.price_at(now) == slot.value


def test_small_csv_and_too_little_data(tmp_path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    lines = [
        f"{(start + timedelta(minutes=30 * i)).isoformat().replace('+00:00', 'Z')},x,A,x,{i % 48}\n"
        for i in range(7 * 48)
    ]
    path = tmp_path / "week.csv"
    path.write_text("garbage\n" + "".join(lines), encoding="utf-8")
    week = AgilePrices.from_csv(path)
    assert week.days == 7 and week.day_rates(date(2030, 5, 6))[10].value == 10
    path.write_text("".join(lines[:-48]), encoding="utf-8")
    with pytest.raises(ValueError, match="whole week"):
        AgilePrices.from_csv(path)


def test_load_falls_back_to_the_packaged_slice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(prices_mod, "SHARED_CSV", tmp_path / "absent.csv")
    assert "packaged" in AgilePrices.load().source


@pytest.mark.skipif(not FULL.is_file(), reason="shared Agile CSV not present")
def test_full_history_loads() -> None:
    full = AgilePrices.load(FULL)
    assert full.days == 1281 and full.first_day == date(2018, 2, 19)
