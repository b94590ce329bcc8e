"""Kraken requests per hour over a simulated day, and freshness around dispatch edges.

    .venv/bin/python -m benchmarks.polling [--days 1] [--start 2021-01-13T12:07:13Z]

The poller runs against the fake Kraken server over HTTP on a simulated clock (``sleep`` jumps ahead). The
account: one EV (plugged in 18:00-07:30 local), Agile import prices from the shared CSV (tomorrow's prices
published at 16:00 local), an export tariff, saving sessions and greenness. At plug-in Kraken plans
dispatches in the cheapest night half-hours; at 22:00 it re-plans one of them; each planned dispatch
vanishes from ``flexPlannedDispatches`` a minute before it starts and shows up in ``completedDispatches`` when
it ends. Server-side changes happen on their own schedule; the poller only learns of them by polling.

Printed: requests per hour (average, max, by operation), and for every dispatch edge the age of the
dispatch data at the edge and the delay until the first poll after it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.kraken.auth import Credentials
from kraken2mqtt.kraken.client import BACKEND, KrakenClient, RequestEvent
from kraken2mqtt.kraken.poller import Poller
from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from kraken2mqtt.sandbox.sim_account import SimAccount, SimDispatch, SimRate
from kraken2mqtt.store import StateStore

_REPO = Path(__file__).resolve().parents[1]
#: ``../shared`` beside the repository (CI), or beside the worktrees folder.
AGILE_CSV = next(
    (
        p / "data/agile/csv_agile_A_Eastern_England.csv"
        for p in (_REPO.parent / "shared", _REPO.parent.parent / "shared")
        if (p / "data/agile").is_dir()
    ),
    _REPO.parent / "shared/data/agile/csv_agile_A_Eastern_England.csv",
)
UK = ZoneInfo("Europe/London")
API_KEY = "sk_test_fake_api_key"
#: The requests that carry planned dispatches (PollLiveGb: devices + the EV's flexPlannedDispatches;
#: FlexPlannedDispatches: before the EV is known).
LIVE_OPS = ("PollLiveGb", "FlexPlannedDispatches")


def load_agile(start: datetime, end: datetime) -> list[SimRate]:
    out: list[SimRate] = []
    with AGILE_CSV.open() as fh:
        for row in csv.reader(fh):
            t = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
            if t >= end:
                break
            if t >= start:
                out.append(SimRate(t, t + timedelta(minutes=30), float(row[4])))
    return out


class SimClock(ManualClock):
    """A ManualClock that applies scheduled server-side events as simulated time passes them."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.events: list[tuple[datetime, str, Callable[[], None]]] = []
        self.fired: list[tuple[datetime, str]] = []

    def at(self, when: datetime, label: str, action: Callable[[], None]) -> None:
        self.events.append((when, label, action))
        self.events.sort(key=lambda e: e[0])

    def _fire_until(self, target: datetime) -> None:
        while self.events and self.events[0][0] <= target:
            when, _label, action = self.events.pop(0)
            gap = (when - self.now()).total_seconds()
            if gap > 0:
                self.advance(gap)
            action()
            self.fired.append((when, _label))
        gap = (target - self.now()).total_seconds()
        if gap > 0:
            self.advance(gap)

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self._fire_until(self.now() + timedelta(seconds=seconds))
        await asyncio.sleep(0)


@dataclass
class Edge:
    at: datetime
    kind: str  # "start" | "end"


def cheapest_runs(
    rates: list[SimRate], start: datetime, end: datetime, slots: int
) -> list[tuple[datetime, datetime]]:
    window = [r for r in rates if start <= r.valid_from and r.valid_to <= end]
    chosen = sorted(sorted(window, key=lambda r: r.value)[:slots], key=lambda r: r.valid_from)
    runs: list[tuple[datetime, datetime]] = []
    for r in chosen:
        if runs and runs[-1][1] == r.valid_from:
            runs[-1] = (runs[-1][0], r.valid_to)
        else:
            runs.append((r.valid_from, r.valid_to))
    return runs


def build(clock: SimClock, start: datetime, days: int) -> tuple[SimAccount, list[Edge]]:
    all_rates = load_agile(start - timedelta(days=1), start + timedelta(days=days + 2))
    local0 = start.astimezone(UK).date()

    def day_bounds(d: int) -> tuple[datetime, datetime]:
        a = datetime.combine(local0 + timedelta(days=d), datetime.min.time(), tzinfo=UK).astimezone(UTC)
        b = datetime.combine(local0 + timedelta(days=d + 1), datetime.min.time(), tzinfo=UK).astimezone(UTC)
        return a, b

    today = day_bounds(0)
    published_until = today[1] if start.astimezone(UK).hour < 16 else day_bounds(1)[1]
    account = SimAccount.demo(
        start,
        import_rates=[
            (r.valid_from, r.valid_to, r.value) for r in all_rates if r.valid_from < published_until
        ],
    )
    account.devices = [account.devices[0]]  # just the EV
    account.heat_pump_controllers = []
    account.legacy_heat_pump = None
    for prop in account.properties:
        for mp in prop.meter_points:
            if mp.smart_meter is not None:
                mp.smart_meter.payment_mode = "CREDIT"
    account.planned_dispatches = []
    account.completed_dispatches = []
    ev = account.devices[0]
    ev.sim_plugged_in = False
    tariff = account.properties[0].meter_points[0].agreements[0].tariff
    edges: list[Edge] = []

    def publish(until: datetime) -> Callable[[], None]:
        def run() -> None:
            tariff.unit_rates = [r for r in all_rates if r.valid_from < until]

        return run

    def set_plugged(value: bool) -> Callable[[], None]:
        def run() -> None:
            ev.sim_plugged_in = value

        return run

    def plan(runs: list[tuple[datetime, datetime]]) -> Callable[[], None]:
        def run() -> None:
            now = clock.now()
            account.planned_dispatches = [
                SimDispatch(a, b, -7.0 * (b - a).total_seconds() / 3600)
                for a, b in runs
                if a - timedelta(minutes=1) > now
            ]

        return run

    def vanish(a: datetime) -> Callable[[], None]:
        def run() -> None:
            account.planned_dispatches = [d for d in account.planned_dispatches if d.start != a]

        return run

    def complete(a: datetime, b: datetime) -> Callable[[], None]:
        def run() -> None:
            kwh = -7.0 * (b - a).total_seconds() / 3600
            account.completed_dispatches.append(SimDispatch(a, b, kwh, source=None, location="AT_HOME"))
            cutoff = clock.now() - timedelta(hours=12)
            account.completed_dispatches = [d for d in account.completed_dispatches if d.end > cutoff]

        return run

    for d in range(days + 1):
        day_start, _ = day_bounds(d)
        local_day = local0 + timedelta(days=d)

        def local(hour: int, minute: int = 0, day: object = local_day) -> datetime:
            assert isinstance(day, type(local0))
            return (
                datetime.combine(day, datetime.min.time(), tzinfo=UK)
                .replace(hour=hour, minute=minute)
                .astimezone(UTC)
            )

        clock.at(local(16), "prices published", publish(day_bounds(d + 1)[1]))
        plug_in, unplug = local(18), local(7, 30) + timedelta(days=1)
        clock.at(plug_in, "plug in", set_plugged(True))
        clock.at(unplug, "unplug", set_plugged(False))
        night = cheapest_runs(all_rates, local(22), local(7) + timedelta(days=1), 8)
        first_plan = cheapest_runs(all_rates, local(19), local(7) + timedelta(days=1), 8)
        clock.at(plug_in + timedelta(minutes=10), "plan", plan(first_plan))
        clock.at(local(22), "re-plan", plan(night))
        for a, b in night:
            clock.at(a - timedelta(minutes=1), "vanish", vanish(a))
            clock.at(b, "complete", complete(a, b))
            edges += [Edge(a, "start"), Edge(b, "end")]
        _ = day_start
    return account, edges


async def simulate(start: datetime, days: int, state_dir: Path) -> dict[str, object]:
    clock = SimClock(start)
    account, edges = build(clock, start, days)
    end = start + timedelta(days=days)
    edges = [e for e in edges if start < e.at < end]
    requests: list[tuple[datetime, str]] = []
    live_polls: list[datetime] = []
    tariff_polls: list[datetime] = []

    def on_request(ev: RequestEvent) -> None:
        now = clock.now()
        requests.append((now, ev.operation))
        if ev.operation in LIVE_OPS and ev.outcome in ("ok", "partial"):
            live_polls.append(now)
        if ev.operation == "PollAccountGb" and ev.outcome in ("ok", "partial"):
            tariff_polls.append(now)

    stop = asyncio.Event()

    def tick() -> bool:
        if clock.now() >= end:
            stop.set()
        return False

    with FakeKraken(account, clock=clock, api_key=API_KEY) as fk:
        client = KrakenClient(
            fk.url,
            Credentials(api_key=SecretStr(API_KEY)),
            deployment="octopus-gb",
            clock=clock,
            on_request=on_request,
            endpoints={BACKEND: fk.backend_url},  # as the daemon runs on GB: both endpoints, one budget
        )
        store = StateStore(state_dir)
        poller = Poller(client, deployment="octopus-gb", clock=clock, pending_commands=tick, store=store)
        wall = time.perf_counter()
        await poller.run(stop)
        wall = time.perf_counter() - wall
        await client.aclose()
        writes = store.writes
        store.close()
    hours = Counter(int((t - start).total_seconds() // 3600) for t, _ in requests if t < end)
    per_hour = [hours.get(h, 0) for h in range(days * 24)]
    freshness = []
    for e in edges:
        before = max((t for t in live_polls if t <= e.at), default=None)
        after = min((t for t in live_polls if t > e.at), default=None)
        freshness.append(
            (
                e,
                (e.at - before).total_seconds() if before else float("inf"),
                (after - e.at).total_seconds() if after else float("inf"),
            )
        )
    noticed = []
    for when, label in clock.fired:
        if when >= end or label in ("vanish", "complete"):
            continue
        polls = tariff_polls if label == "prices published" else live_polls
        first = min((t for t in polls if t >= when), default=None)
        noticed.append((when, label, (first - when).total_seconds() if first else float("inf")))
    return {
        "noticed": noticed,
        "per_hour": per_hour,
        "ops": Counter(op for t, op in requests if t < end),
        "freshness": freshness,
        "wall": wall,
        "writes": writes,
        "total": sum(per_hour),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument(
        "--start", default="2021-01-13T12:07:13+00:00", help="UTC start (inside the Agile CSV range)"
    )
    args = ap.parse_args(argv)
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).astimezone(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        res = asyncio.run(simulate(start, args.days, Path(tmp)))
    per_hour: list[int] = res["per_hour"]  # type: ignore[assignment]
    ops: Counter[str] = res["ops"]  # type: ignore[assignment]
    freshness: list[tuple[Edge, float, float]] = res["freshness"]  # type: ignore[assignment]
    hours = args.days * 24
    print(f"Simulated {hours} h from {start.isoformat()} (one EV, Agile import), wall {res['wall']:.1f} s")
    print(
        f"Kraken requests: {res['total']} total, {statistics.mean(per_hour):.1f}/h average, "
        f"{max(per_hour)}/h max (target <= 20/h average for one EV, issue 10)"
    )
    print("Per hour (from start): " + " ".join(str(n) for n in per_hour))
    print(f"SQLite write transactions: {res['writes']} (the snapshot is saved only when it changed)")
    print("By operation: " + ", ".join(f"{op} {n}" for op, n in ops.most_common()))
    print("Dispatch edges (age of dispatch data at the edge / first poll after it):")
    for e, age, after in freshness:
        print(f"  {e.kind:5} {e.at.astimezone(UK):%a %H:%M} local: {age:5.0f} s / {after:5.0f} s")
    noticed: list[tuple[datetime, str, float]] = res["noticed"]  # type: ignore[assignment]
    print("Server-side changes (first poll that can see them):")
    for when, label, delay in noticed:
        print(f"  {label:16} {when.astimezone(UK):%a %H:%M} local: after {delay:5.0f} s")
    if freshness:
        worst_age = max(a for _, a, _ in freshness)
        worst_after = max(b for _, _, b in freshness)
        print(f"Worst at edges: data age {worst_age:.0f} s, next poll {worst_after:.0f} s after", end="")
        print(" (target <= 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
