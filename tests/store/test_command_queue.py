"""The persisted command queue: states, supersession, recovery after a crash, expiry data, file mode."""

from __future__ import annotations

import stat
from pathlib import Path

from kraken2mqtt.controls import Command, Control
from kraken2mqtt.store.command_queue import CommandQueue, PlannerOverrides
from kraken2mqtt.store.database import Database
from kraken2mqtt.store.sqlite import StateStore

BOOST = Command("ev", Control.BOOST, True)
SOC = Command("ev", Control.TARGET_SOC, 80)


def test_file_is_private(tmp_path: Path) -> None:
    q = CommandQueue(tmp_path / "state" / "commands.db")
    assert stat.S_IMODE((tmp_path / "state" / "commands.db").stat().st_mode) == 0o600
    q.close()


def test_lifecycle_accepted_in_flight_done(tmp_path: Path) -> None:
    q = CommandQueue(tmp_path / "c.db")
    cid, superseded = q.add(BOOST, now=100.0, ttl=3600)
    assert superseded == []
    [due] = q.due(now=100.0)
    assert (due.id, due.command, due.state, due.attempts, due.expires_at) == (
        cid,
        BOOST,
        "accepted",
        0,
        3700.0,
    )
    assert q.claim(cid, now=101.0)
    assert not q.claim(cid, now=101.0)  # at most one attempt in flight
    assert q.due(now=200.0) == []
    q.retry_later(cid, now=102.0, at=160.0, error="HTTP 503")
    assert q.due(now=150.0) == []
    assert q.next_due_at() == 160.0
    [again] = q.due(now=160.0)
    assert (again.attempts, again.last_error) == (1, "HTTP 503")
    assert q.claim(cid, now=160.0)
    q.finish(cid, "done", now=161.0)
    found = q.get(cid)
    assert found is not None and found[0] == "done"
    assert q.pending() == [] and q.next_due_at() is None
    q.finish(cid, "refused", now=162.0)  # final states are final
    found = q.get(cid)
    assert found is not None and found[0] == "done"


def test_newer_command_supersedes_a_waiting_one_of_the_same_control(tmp_path: Path) -> None:
    q = CommandQueue(tmp_path / "c.db")
    first, _ = q.add(SOC, now=1.0, ttl=60)
    boost, _ = q.add(BOOST, now=1.0, ttl=60)
    second, superseded = q.add(Command("ev", Control.TARGET_SOC, 90), now=2.0, ttl=60)
    assert [s.id for s in superseded] == [first]
    assert [p.id for p in q.pending()] == [boost, second]
    # one already in flight is not superseded (it may be at Kraken already)
    assert q.claim(second, now=3.0)
    _, superseded = q.add(Command("ev", Control.TARGET_SOC, 70), now=4.0, ttl=60)
    assert superseded == []


def test_recover_after_a_crash_resends_in_flight_and_makes_everything_due(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    q = CommandQueue(path)
    a, _ = q.add(BOOST, now=1.0, ttl=3600)
    b, _ = q.add(SOC, now=1.0, ttl=3600)
    assert q.claim(a, now=2.0)  # crash while in flight
    assert q.claim(b, now=2.0)
    q.retry_later(b, now=3.0, at=500.0, error="outage")
    q.close()  # "restart"
    q2 = CommandQueue(path)
    assert {p.state for p in q2.pending()} == {"in_flight", "accepted"}
    assert q2.recover(now=10.0) == 2
    assert [(p.id, p.state, p.attempts) for p in q2.due(now=10.0)] == [(a, "accepted", 1), (b, "accepted", 1)]


def test_prune_keeps_pending_rows(tmp_path: Path) -> None:
    q = CommandQueue(tmp_path / "c.db")
    a, _ = q.add(BOOST, now=1.0, ttl=3600)
    b, _ = q.add(SOC, now=1.0, ttl=3600)
    q.finish(a, "done", now=2.0)
    assert q.prune(before=100.0) == 1
    assert [p.id for p in q.pending()] == [b]


def test_shares_the_state_stores_connection(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        q = CommandQueue(store.database)
        cid, _ = q.add(BOOST, now=1.0, ttl=60)
        q.close()  # does not close a borrowed connection
        row = store.database.row("SELECT COUNT(*) AS n FROM pending_command")
        assert row is not None and row["n"] == 1
        assert CommandQueue(store.database).get(cid) is not None
        store.set("k", "v")  # the store still works on the same connection


def test_a_queue_opened_by_path_uses_the_same_file_and_schema(tmp_path: Path) -> None:
    with StateStore(tmp_path) as store:
        q = CommandQueue(store.path)
        cid, _ = q.add(BOOST, now=1.0, ttl=60)
        assert CommandQueue(store.database).get(cid) is not None
        q.close()
    with Database(tmp_path / "kraken2mqtt.db") as db:
        assert {r["name"] for r in db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {
            "kv",
            "pending_command",
            "planner_override",
        }


def test_planner_overrides_persist(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    q = CommandQueue(path)
    o = PlannerOverrides(q)
    assert o.get("relay1") == "auto"
    o.set("relay1", "force_on", now=1.0)
    o.set("relay1", "off", now=2.0)
    o.set("ebus", "force_on", now=2.0)
    q.close()
    assert PlannerOverrides(CommandQueue(path)).all() == {"relay1": "off", "ebus": "force_on"}


def test_a_delivery_is_remembered_with_its_command(tmp_path: Path) -> None:
    q = CommandQueue(tmp_path / "q.db")
    q.add(Command("ev", Control.BOOST, True), now=1000.0, ttl=60, delivery="7:abc")
    q.add(Command("ev", Control.BOOST, False), now=1001.0, ttl=60)  # no delivery (not from MQTT QoS 1)
    assert q.delivered("7:abc", since=900.0)
    assert not q.delivered("7:abc", since=1000.5)  # older than the window: a message id used again
    assert not q.delivered("8:abc", since=0.0)
    q.close()
