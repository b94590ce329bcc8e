"""The replay benchmark reads both public Agile price-file layouts the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.planner.replay import load_prices

ROWS = [("2021-08-04T00:00:00Z", "01:00", 19.8), ("2021-08-04T00:30:00Z", "01:30", 18.7)]


def test_energy_stats_and_two_column_files_load_alike(tmp_path: Path) -> None:
    five = tmp_path / "csv_agile_A_Eastern_England.csv"
    five.write_text("".join(f"{t},{lt},A,Eastern_England,{p}\n" for t, lt, p in ROWS))
    two = tmp_path / "csv_agile_J_South_Eastern_England.csv"  # wyvernp/agile_predictor's layout
    two_rows = (f"{t.replace('T', ' ').replace('Z', '+00:00')},{p}\n" for t, _, p in ROWS)
    two.write_text("timestamp,price\n" + "".join(two_rows))
    a, b = load_prices(five), load_prices(two)
    assert a.starts == b.starts
    assert a.prices == b.prices == [19.8, 18.7]


def test_a_gap_in_the_prices_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "gap.csv"
    f.write_text("timestamp,price\n2021-08-04 00:00:00+00:00,19.8\n2021-08-04 01:00:00+00:00,18.7\n")
    with pytest.raises(SystemExit, match="gap before"):
        load_prices(f)
