"""Plan time of ``make_plan`` on a 48 h horizon of real Agile prices.

    .venv/bin/python -m benchmarks.planner.timing [--plans 300]

Cases: EV + battery + heat pump (target p99 ≤ 20 ms) and a 50-device site (target p99 ≤ 200 ms), each
planned at ``--plans`` instants spread over 2020 (prices as published at that instant, the rest of the
48 h filled by the planner's forecast).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.planner.replay import (
    BAT_MODEL,
    DEFAULT_PRICES,
    EV_MODEL,
    HISTORY_SLOTS,
    HP_MODEL,
    LONDON,
    PROFILE,
    Data,
    load_prices,
    published_until,
)
from kraken2mqtt.planner import (
    EV,
    Battery,
    BatteryModel,
    BatteryState,
    Comfort,
    ComfortBand,
    EVModel,
    EVState,
    EVTarget,
    GridLimits,
    HeatPump,
    HeatPumpModel,
    HeatPumpState,
    HotWaterNeed,
    HotWaterTank,
    PlanInputs,
    PlannedDevice,
    RelayLoad,
    Tariff,
    make_plan,
)


def _site(now: datetime, n_devices: int) -> tuple[PlannedDevice, ...]:
    deadline = (now.astimezone(LONDON) + timedelta(days=1)).replace(hour=7, minute=0).astimezone(UTC)
    night = ComfortBand(now + timedelta(hours=5), now + timedelta(hours=12), 17.0, 22.0)
    devices: list[PlannedDevice] = [
        EV("ev", EV_MODEL, EVState(35.0), EVTarget(deadline, soc_pct=80.0)),
        Battery("bat", BAT_MODEL, BatteryState(50.0)),
        HeatPump("hp", HP_MODEL, HeatPumpState(20.0), Comfort(19.5, 22.0, (night,))),
    ]
    k = 0
    while len(devices) < n_devices:
        kind = k % 5
        i = k
        k += 1
        if kind == 0:
            m = EVModel(
                40.0 + i % 4 * 10, 3.6 + i % 3 * 1.9, efficiency=0.9, continuous=i % 2 == 0, min_kw=1.4
            )
            devices.append(EV(f"ev{i}", m, EVState(20.0 + i % 5 * 8), EVTarget(deadline, soc_pct=80.0)))
        elif kind == 1:
            bm = BatteryModel(5.0 + i % 3 * 5, 2.5 + i % 2 * 2.5, 2.5 + i % 2 * 2.5, reserve_soc_pct=10)
            devices.append(Battery(f"bat{i}", bm, BatteryState(20.0 + i % 6 * 10)))
        elif kind == 2:
            hm = HeatPumpModel(0.1 + i % 3 * 0.05, 8.0 + i % 4, 2.0 + i % 3)
            devices.append(HeatPump(f"hp{i}", hm, HeatPumpState(19.5 + i % 3 * 0.5), Comfort(19.0, 22.0)))
        elif kind == 3:
            needs = (
                HotWaterNeed(now + timedelta(hours=6 + i % 5), 4.0),
                HotWaterNeed(now + timedelta(hours=30), 4.0),
            )
            devices.append(HotWaterTank(f"tank{i}", 9.0, 3.0, 2.0, needs=needs))
        else:
            devices.append(
                RelayLoad(f"relay{i}", 3.0, 3.0 + i % 3, deadline=now + timedelta(hours=20 + i % 10))
            )
    return tuple(devices)


def _inputs(data: Data, k: int, n_devices: int, import_kw: float | None) -> PlanInputs:
    t = data.starts[k]
    now = datetime.fromtimestamp(t, UTC)
    known = min(data.index(published_until(t)), len(data.slots))
    return PlanInputs(
        now=now,
        tariff=Tariff(data.slots[max(0, k - HISTORY_SLOTS) : known]),
        devices=_site(now, n_devices),
        house_load=PROFILE,
        outdoor=data.temps[k : k + 97],
        grid=GridLimits(import_kw=import_kw),
        horizon_h=48.0,
    )


def measure(data: Data, n_devices: int, plans: int, import_kw: float | None) -> list[float]:
    k0 = data.index(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    step = max(1, 365 * 48 // plans)
    ks = [k0 + 7 + j * step for j in range(plans)]  # odd offsets: every time of day
    inputs = [_inputs(data, k, n_devices, import_kw) for k in ks]
    make_plan(inputs[0])  # warm caches (zoneinfo, imports)
    times: list[float] = []
    gc.collect()
    for inp in inputs:
        c0 = time.perf_counter()
        make_plan(inp)
        times.append(time.perf_counter() - c0)
    return sorted(times)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prices", type=Path, default=DEFAULT_PRICES)
    ap.add_argument("--plans", type=int, default=300)
    args = ap.parse_args(argv)
    if not args.prices.exists():
        print(f"price file not found: {args.prices} (use --prices)", file=sys.stderr)
        return 2
    data = load_prices(args.prices)
    print(f"make_plan timing, 48 h horizon, {args.plans} plans spread over {date(2020, 1, 1).year}")
    print(f"{'case':<34} {'p50':>8} {'p99':>8} {'max':>8} {'target p99':>11}")
    ok = True
    for label, n, limit, target in (
        ("EV + battery + heat pump", 3, None, 20.0),
        ("EV + battery + heat pump, 15 kW limit", 3, 15.0, 20.0),
        ("50 devices", 50, None, 200.0),
        ("50 devices, 60 kW limit", 50, 60.0, 200.0),
    ):
        ts = measure(data, n, args.plans if n < 10 else max(30, args.plans // 5), limit)
        p50, p99, mx = (
            ts[len(ts) // 2] * 1000,
            ts[min(len(ts) - 1, int(len(ts) * 0.99))] * 1000,
            ts[-1] * 1000,
        )
        passed = p99 <= target
        ok &= passed
        print(
            f"{label:<34} {p50:>6.1f}ms {p99:>6.1f}ms {mx:>6.1f}ms {target:>9.0f}ms  "
            f"{'PASS' if passed else 'SLOW'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
