"""Item 3, crash safety: the daemon (a real ``kraken2mqtt run`` process) is killed with SIGKILL ten times
at random moments while Home Assistant's commands are pending, in flight (slowed down by the fake Kraken)
and being written to SQLite. After every kill the database passes an integrity check, the next process
restores its snapshot and plans again, and at the end every accepted command is final: none lost, none
answered ``done`` twice, and Kraken's last state is the last command's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import aiomqtt
import pytest

from kraken2mqtt.mqtt.connection import SOCKET_OPTIONS
from tests.brokers import Broker, free_port
from tests.reliability.rig import API_KEY, TALLY, Outputs, Recorder, fake_kraken, until
from tests.timing import scaled

KILLS = 10
OPERATION = "UpdateAutoTopUpAmount"


def _config(tmp_path: Path, broker: Broker, endpoint: str, base: str, *, level: str = "info") -> Path:
    path = tmp_path / "kraken2mqtt.toml"
    path.write_text(
        f"""state_dir = "{tmp_path / "state"}"
[kraken]
endpoint = "{endpoint}"
requests_per_hour = 5000
timeout_seconds = 5
[mqtt]
host = "{broker.host}"
port = {broker.port}
base_topic = "{base}"
client_id = "{base}"
discovery_prefix = "{base}-ha"
keepalive_seconds = 5
[logging]
level = "{level}"
format = "json"
[metrics]
port = {free_port()}
[planner]
reconcile_seconds = 5
[[devices]]
id = "ev"
kind = "ev"
adapter = "openevse"
topic = "{base}-evse"
[devices.plan]
capacity_kwh = 60
max_kw = 7.2
"""
    )
    return path


class Process:
    def __init__(self, config: Path, log: Path, *, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN2MQTT_")}
        env["KRAKEN2MQTT_KRAKEN__API_KEY"] = API_KEY  # the key comes from the environment only
        env.update(extra_env or {})
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kraken2mqtt.cli", "--config", str(config), "run"],
                stdout=err,
                stderr=err,
                env=env,
            )

    def output(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.output().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def saw(self, event: str) -> bool:
        return any(r.get("event") == event for r in self.events())


def _rows(db: Path) -> dict[str, tuple[str, str | None, int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        rows = c.execute("SELECT id, state, reason, command FROM pending_command").fetchall()
    return {r[0]: (r[1], r[2], int(json.loads(r[3])["value"])) for r in rows}


def _integrity(db: Path) -> str:
    c = sqlite3.connect(db)
    try:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        c.close()


async def test_kill_nine_ten_times(tmp_path: Path, broker: Broker, outputs: Outputs) -> None:
    rng = random.Random(9)
    base = f"crash{rng.randrange(10**6)}"
    log = tmp_path / "daemon.log"
    outputs.files.append(log)
    db = tmp_path / "state" / "kraken2mqtt.db"
    sent: list[int] = []
    amount = 500
    with fake_kraken(outputs) as fk:
        config = _config(tmp_path, broker, fk.url, base)
        async with (
            Recorder(broker, outputs, topic=f"{base}/#") as rec,
            aiomqtt.Client(
                broker.host, broker.port, identifier=f"{base}-ha", socket_options=SOCKET_OPTIONS
            ) as ha,
        ):

            async def command() -> None:
                nonlocal amount
                amount += 100
                sent.append(amount)
                await ha.publish(f"{base}/top_up_amount/set", str(amount), qos=1)

            for kill in range(KILLS + 1):
                proc = Process(config, log)
                try:
                    await until(partial(proc.saw, "daemon.ready"), scaled(20), "the daemon to connect")
                    if kill:
                        assert proc.saw("poller.restored"), "the snapshot of the last run is restored"
                    else:  # the next run restores a snapshot only once one is stored (a slow first poll)
                        await until(lambda: _has_snapshot(db), scaled(20), "the first poll to be stored")
                    if kill == KILLS:
                        break
                    # commands while Kraken answers slowly: some pending, one in flight when the kill comes
                    fk.faults.inject("slow", times=3, operation=OPERATION, delay=rng.uniform(0.1, 0.5))
                    for _ in range(rng.randint(2, 4)):
                        await command()
                        await asyncio.sleep(rng.uniform(0, 0.3))  # HA's user clicking, not a wait
                    await asyncio.sleep(rng.uniform(0, 1.2))  # a random moment to pull the plug
                    proc.proc.send_signal(signal.SIGKILL)
                    assert proc.proc.wait(scaled(10)) == -signal.SIGKILL
                    TALLY.fault("kill -9 of the daemon process")
                    assert _integrity(db) == "ok"
                    await command()  # sent while the daemon is down: the broker keeps it for the session
                finally:
                    if proc.proc.poll() is None and kill < KILLS:
                        proc.proc.kill()
                        proc.proc.wait(scaled(10))
            try:
                # the last run: everything accepted gets its final answer, then a clean stop
                def settled() -> bool:
                    rows = _rows(db)
                    return {v for _, _, v in rows.values()} >= set(sent) and all(
                        s in {"done", "refused"} for s, _, _ in rows.values()
                    )

                await until(settled, scaled(30), "every command to be final")
                await until(lambda: proc.saw("device.action"), scaled(10), "the plan to drive the EV again")
            finally:
                proc.proc.send_signal(signal.SIGTERM)
                assert proc.proc.wait(scaled(15)) == 0
            await until(
                lambda: any(t.endswith("/result") for t, _ in rec.live_since(0)), scaled(5), "results"
            )
            results: dict[str, list[str]] = {}
            for topic, payload in rec.live_since(0):
                if topic == f"{base}/account/result":
                    body = json.loads(payload)
                    results.setdefault(body["command_id"], []).append(body["status"])

    crashes = [line for line in log.read_text().splitlines() if '"exception"' in line]
    TALLY.crashes += len(crashes)
    assert not crashes, crashes[:3]
    rows = _rows(db)
    accepted = [cid for cid, statuses in results.items() if "accepted" in statuses]
    lost = [cid for cid in accepted if cid not in rows or rows[cid][0] not in {"done", "refused"}]
    twice = [cid for cid, statuses in results.items() if statuses.count("done") > 1]
    superseded = [cid for cid in rows if rows[cid][:2] == ("refused", "superseded")]
    other_refusals = [rows[cid] for cid in rows if rows[cid][0] == "refused" and rows[cid][1] != "superseded"]
    done_values = [v for s, _, v in rows.values() if s == "done"]
    mutated = [int(inp["amount"]) for name, inp in fk.mutations if name == "updateAutoTopUpAmount"]
    resent = len(mutated) - len(set(mutated))
    TALLY.commands_sent += len(sent)
    TALLY.commands_lost += len(lost) + len(set(sent) - {v for _, _, v in rows.values()})
    TALLY.note(
        f"kill -9: {len(sent)} commands sent, {len(accepted)} answered accepted, {len(done_values)} done, "
        f"{len(superseded)} superseded by a newer one, {resent} re-sent after a kill (state-setting), "
        f"0 lost"
    )
    assert not lost, lost
    assert not twice, twice
    assert not other_refusals, other_refusals
    assert set(sent) <= {v for _, _, v in rows.values()}, "a command sent to the broker never arrived"
    assert set(done_values) <= set(mutated)  # done means Kraken got it
    assert resent <= KILLS  # only a command in flight at a kill is sent again
    assert mutated[-1] == sent[-1]  # Kraken ends in the state of the last command
    assert (db.stat().st_mode & 0o777) == 0o600


async def test_a_command_received_but_not_stored_when_killed_comes_again(
    tmp_path: Path, broker: Broker, outputs: Outputs
) -> None:
    """The window a QoS 1 command used to be lost in: the daemon has read it from the broker, SQLite has not
    got it yet (here: the test holds the file's write lock, so the insert waits), and kill -9 comes. The
    daemon acknowledges only stored commands, so the broker still has it in the session and sends it again
    (DUP) to the next process, which stores it and has it done, once."""
    if broker.kind != "mosquitto":
        pytest.skip("needs Mosquitto's persistent sessions")
    base = f"unacked{random.Random(11).randrange(10**6)}"
    log = tmp_path / "daemon.log"
    outputs.files.append(log)
    db = tmp_path / "state" / "kraken2mqtt.db"
    with fake_kraken(outputs) as fk:
        config = _config(tmp_path, broker, fk.url, base, level="debug")
        async with aiomqtt.Client(
            broker.host, broker.port, identifier=f"{base}-ha", socket_options=SOCKET_OPTIONS
        ) as ha:
            proc = Process(config, log)
            try:
                await until(partial(proc.saw, "daemon.ready"), scaled(20), "the daemon to connect")
                await until(lambda: _has_snapshot(db), scaled(20), "the first poll to be stored")
                topic = f"{base}/top_up_amount/set"

                def received() -> bool:
                    events = proc.events()
                    return any(r.get("event") == "mqtt.message" and r.get("topic") == topic for r in events)

                with _write_locked(db):  # the daemon's insert of the command waits for the lock
                    await ha.publish(topic, "1700", qos=1)
                    # the loop's other writes do not wait for this lock (test_locked_file.py)
                    await until(received, scaled(10), "the daemon to read the command")
                    proc.proc.send_signal(signal.SIGKILL)
                    assert proc.proc.wait(scaled(10)) == -signal.SIGKILL
                assert not proc.saw("commands.store_failed"), "killed too late: the insert gave up first"
                assert 1700 not in {v for _, _, v in _rows(db).values()}, "not stored before the kill"
                TALLY.fault("kill -9 between a command's arrival and its commit")
            finally:
                if proc.proc.poll() is None:
                    proc.proc.kill()
                    proc.proc.wait(scaled(10))
            proc = Process(config, log)
            try:
                await until(
                    lambda: [s for s, _, v in _rows(db).values() if v == 1700] == ["done"],
                    scaled(30),
                    "the command to come again and be done",
                )
                assert any(
                    r.get("event") == "commands.redelivered" and r.get("detail") == "not stored before"
                    for r in proc.events()
                )
            finally:
                proc.proc.send_signal(signal.SIGTERM)
                assert proc.proc.wait(scaled(15)) == 0
    mutated = [int(inp["amount"]) for name, inp in fk.mutations if name == "updateAutoTopUpAmount"]
    assert mutated == [1700], "done exactly once"
    TALLY.commands_sent += 1
    TALLY.note("kill -9 between arrival and commit: the broker sent the command again; done once, 0 lost")


def _has_snapshot(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
            return int(c.execute("SELECT count(*) FROM snapshot_stream").fetchone()[0]) > 0
    except sqlite3.Error:
        return False


@contextlib.contextmanager
def _write_locked(db: Path) -> Iterator[None]:
    c = sqlite3.connect(db, timeout=scaled(10), isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE")
        yield
        c.execute("ROLLBACK")
    finally:
        c.close()
