"""Item 2, Kraken faults: 100 faults of every kind from the fake server while the daemon polls, plans and
reconciles (on a ManualClock, so hours of polling take seconds). The daemon stays up, keeps the last good
plan, marks data stale during an outage and recovers, mints tokens only when one is really refused, and
keeps its request rate under the budget."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kraken2mqtt.clock import ManualClock
from kraken2mqtt.daemon import Daemon
from tests.brokers import Broker
from tests.reliability.rig import TALLY, Outputs, daemon_settings, fake_kraken, target_for

FAULTS: list[tuple[str, int, dict[str, Any]]] = [
    ("http_500", 10, {}),
    ("http_502", 8, {}),
    ("http_503", 8, {}),
    ("http_429", 6, {"retry_after": 30}),
    ("timeout", 8, {"delay": 1.0}),
    ("slow", 8, {"delay": 0.2}),
    ("reset", 10, {}),
    ("invalid_json", 10, {}),
    ("wrong_shape", 4, {}),
    ("wrong_shape", 3, {"body": {"data": {"account": "not an object", "viewer": [1]}}}),
    ("wrong_shape", 3, {"body": {"errors": "not a list", "data": None}}),
    ("rate_limited", 6, {}),  # KT-CT-1199
    ("expired_token", 8, {}),  # KT-CT-1120
    ("brownout", 4, {}),  # KT-CT-1113 on every root field
    ("brownout", 4, {"field": "account"}),
]
LABEL = {"rate_limited": "KT-CT-1199 rate_limited", "expired_token": "KT-CT-1120 expired_token"}


async def test_hundred_kraken_faults(tmp_path: Path, broker: Broker, outputs: Outputs) -> None:
    clock = ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    settings = daemon_settings(tmp_path, broker, kraken={"timeout_seconds": 0.5})
    fk = fake_kraken(outputs, clock=clock)
    fk.start()
    daemon = Daemon(settings, clock=clock, target=target_for(fk))
    rng = random.Random(20261123)
    schedule = [(kind, params) for kind, n, params in FAULTS for _ in range(n)]
    assert len(schedule) == 100
    rng.shuffle(schedule)
    started = clock.now()
    try:
        await daemon.poller.poll_once()
        await daemon.reconcile()
        assert daemon.plan is not None
        expired_injected = 0
        for kind, params in schedule:
            label = LABEL.get(kind, "KT-CT-1113 brownout" if kind == "brownout" else kind)
            fk.faults.inject(kind, **params)
            expired_injected += kind == "expired_token"
            survived = True
            for _ in range(20):  # until a request has taken the fault
                try:
                    await daemon.poller.poll_once()
                    await daemon.reconcile()
                except Exception:  # a crash: counted, and the test fails below
                    survived = False
                    raise
                finally:
                    if not survived:
                        TALLY.fault(label, survived=False)
                if not fk.faults.pending():
                    break
                _advance_to_next_poll(daemon, clock)
            assert not fk.faults.pending(), f"{kind} was never taken"
            survived = daemon.plan is not None  # the last good plan is kept
            TALLY.fault(label, survived=survived)
            assert survived, f"no plan after {kind}"
            _advance_to_next_poll(daemon, clock)

        # An outage long enough to matter: every request reset for 45 minutes -> stale, plan kept.
        fk.faults.inject("reset", times=10_000)
        outage_end = clock.now().timestamp() + 45 * 60
        while clock.now().timestamp() < outage_end:
            await daemon.poller.poll_once()
            await daemon.reconcile()
            _advance_to_next_poll(daemon, clock)
        stale = {s.value for s in daemon.poller.signals().stale}
        assert {"dispatches", "devices"} <= stale, stale
        assert daemon.plan is not None
        TALLY.fault("45 min outage (resets)", survived=True)
        fk.faults.clear()
        for _ in range(5):  # recovery
            await daemon.poller.poll_once()
            await daemon.reconcile()
            _advance_to_next_poll(daemon, clock)
        assert not daemon.poller.signals().stale
        errors = {s.value: st.error for s, st in daemon.poller.snapshot.status.items() if st.error}
        assert not errors, errors

        hours = (clock.now() - started).total_seconds() / 3600
        # No minting storm: the first token, one renewal per refused (expired) token, and the scheduled
        # refresh 5 minutes before each expiry of the fake's 1-hour tokens.
        mints = sum(fk.stats.mints.values())
        allowed = 1 + expired_injected + math.ceil(hours / (55 / 60))
        assert mints <= allowed, (fk.stats.mints, expired_injected, hours)
        TALLY.note(f"token mints in {hours:.1f} simulated hours of faults: {mints} (allowed {allowed})")
        requests = sum(fk.stats.requests.values())
        budget = settings.kraken.requests_per_hour * hours + daemon.client.budget.capacity
        assert requests <= budget, (requests, hours)
        TALLY.note(
            f"Kraken requests: {requests} in {hours:.1f} h = {requests / hours:.0f}/h "
            f"(budget {budget / hours:.0f}/h)"
        )
        outputs.add("poller status", repr(daemon.poller.snapshot.status))
    finally:
        await daemon.close()
        fk.stop()


def _advance_to_next_poll(daemon: Daemon, clock: ManualClock) -> None:
    plan = daemon.poller.last_plan
    wait = (plan.next_at - clock.now()).total_seconds() if plan is not None else 60.0
    clock.advance(max(1.0, wait))
