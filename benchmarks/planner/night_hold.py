"""Does a forecast rule know when to carry energy into the next night? (A check on prices, not a replay.)

Energy a battery holds at 23:00, the end of the published prices before 16:00, saves charging the next
night. For every night of each year: y = (mean of tomorrow night's 6 cheapest slots, 23:00-07:00) minus
(the same of tonight's), and the rule's forecast of it. Printed per rule: the nights the forecast says
"dearer" by more than ``--margin`` p, and what holding one kWh on those nights would have gained in total
(sum of y over them; "perfect" uses y itself).

    .venv/bin/python -m benchmarks.planner.night_hold [--margin 0]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from benchmarks.planner.replay import DEFAULT_PRICES, LONDON, load_prices

CHEAPEST = 6


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--margin", type=float, default=0.0, help="p/kWh the forecast must exceed tonight by")
    args = ap.parse_args(argv)
    data = load_prices(DEFAULT_PRICES)
    p = data.prices
    rules: dict[str, Callable[[int], float] | None] = {
        "perfect": None,
        "min_1_7": lambda k: min(p[k - 48], p[k - 336]),
        "yesterday": lambda k: p[k - 48],
        "mean_1_7": lambda k: 0.5 * (p[k - 48] + p[k - 336]),
        "median7": lambda k: sorted(p[k - 48 * j] for j in range(1, 8))[3],
    }

    def night(d: date) -> list[int]:
        end = datetime(d.year, d.month, d.day, 7, tzinfo=LONDON) - timedelta(hours=8)
        k = data.index(end.timestamp())
        return list(range(k, k + 16))

    def cheap(values: list[float]) -> float:
        return sum(sorted(values)[:CHEAPEST]) / CHEAPEST

    first = datetime.fromtimestamp(data.starts[0], LONDON).date() + timedelta(days=9)
    last = datetime.fromtimestamp(data.starts[-1], LONDON).date() - timedelta(days=1)
    for year in range(first.year, last.year + 1):
        d = max(first, date(year, 1, 1))
        held = dict.fromkeys(rules, 0)
        gain = dict.fromkeys(rules, 0.0)
        nights = 0
        while d < min(last, date(year + 1, 1, 1)):
            tonight, tomorrow = night(d), night(d + timedelta(days=1))
            base = cheap([p[k] for k in tonight])
            y = cheap([p[k] for k in tomorrow]) - base
            nights += 1
            for name, rule in rules.items():
                guess = y if rule is None else cheap([rule(k) for k in tomorrow]) - base
                if guess > args.margin:
                    held[name] += 1
                    gain[name] += y
            d += timedelta(days=1)
        cells = "  ".join(f"{n} {held[n]} nights {gain[n]:+.0f}p" for n in rules)
        print(f"{year} ({nights} nights): {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
