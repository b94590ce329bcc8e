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
from tests.timing import scaled

FAULTS: list[tuple[str, int, dict[str, Any]]] = [
    ("http_500", 10, {}),
    ("http_502", 8, {}),
    ("http_503", 8, {}),
    ("http_429", 6, {"retry_after": 30}),
    ("timeout", 8, {"delay": 2 * scaled(0.5)}),  # twice the client's timeout
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
    settings = daemon_settings(tmp_path, broker, kraken={"timeout_seconds": scaled(0.5)})
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


#: The live API's error shapes (../shared/kraken-live-api.md, "Rate limits and errors seen in the wild").
LIVE_SHAPES: list[tuple[str, str, dict[str, Any]]] = [
    ("KT-CT-1124 jwt_expired", "jwt_expired", {}),
    ("KT-CT-1111 on devices only", "field_unauthorized", {"field": "devices"}),
    ("KT-CT-4360 at devices[0].status", "nested_error", {"path": ["devices", 0, "status"]}),
    (
        "KT-CT-4383 at devices[0].preferences",
        "nested_error",
        {"path": ["devices", 0, "preferences"], "code": "KT-CT-4383"},
    ),
    ("403 HTML edge block", "edge_block", {}),
    ("OE-0002 rate limit", "backend_rate_limited", {}),
    ("OE-0103 backend auth", "backend_unauthenticated", {}),
    ("KT-CT-1188 too complex", "too_complex", {}),
    ("KT-CT-1189 too many nodes", "too_many_nodes", {}),
    ("KT-CT-1201 missing first", "missing_first", {"field": "devices"}),
]


async def test_live_error_shapes(tmp_path: Path, broker: Broker, outputs: Outputs) -> None:
    """Each live error shape while the daemon polls: it stays up, keeps its plan, never takes a field
    failure for refused credentials (no auth backoff, no mint per poll), and recovers."""
    clock = ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    settings = daemon_settings(tmp_path, broker, kraken={"timeout_seconds": scaled(0.5)})
    fk = fake_kraken(outputs, clock=clock)
    fk.start()
    daemon = Daemon(settings, clock=clock, target=target_for(fk))
    try:
        await daemon.poller.poll_once()
        await daemon.reconcile()
        assert daemon.plan is not None
        renewals = 0
        for label, kind, params in LIVE_SHAPES:
            fk.faults.inject(kind, **params)
            renewals += kind in ("jwt_expired", "backend_unauthenticated")
            for _ in range(20):
                await daemon.poller.poll_once()
                await daemon.reconcile()
                if not fk.faults.pending():
                    break
                _advance_to_next_poll(daemon, clock)
            assert not fk.faults.pending(), f"{kind} was never taken"
            assert daemon.plan is not None, label
            if kind == "nested_error":  # one device's sub-field failed: the other devices are kept
                snapshot_devices = daemon.poller.snapshot.devices
                assert snapshot_devices is not None and len(snapshot_devices.devices) == 3, label
                status = {s.value: st.error for s, st in daemon.poller.snapshot.status.items()}
                assert status.get("devices") is None, (label, status)
            auth = daemon.client.auth
            assert auth is not None and auth._retry_at == 0.0, f"auth backoff after {label}"
            TALLY.fault(label, survived=True)
            _advance_to_next_poll(daemon, clock)
        for _ in range(5):  # recovery
            _advance_to_next_poll(daemon, clock)
            await daemon.poller.poll_once()
            await daemon.reconcile()
        assert not daemon.poller.signals().stale
        mints = sum(fk.stats.mints.values())
        assert mints <= 1 + renewals + 2, fk.stats.mints  # + scheduled refreshes
        outputs.add("poller status after live shapes", repr(daemon.poller.snapshot.status))
    finally:
        await daemon.close()
        fk.stop()
