"""The state file locked by another connection (a second daemon started by mistake, a backup, a test): the
daemon's event loop keeps serving. Measured from outside, on a real ``kraken2mqtt run`` process, by the
systemd watchdog pings it sends from its loop (``$NOTIFY_SOCKET``/``$WATCHDOG_USEC`` pointed at the test):
while a Home Assistant command waits for the lock, no ping is late; the command is answered ``accepted``
only once it is stored, after the lock is gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import aiomqtt

from kraken2mqtt.mqtt.connection import SOCKET_OPTIONS
from kraken2mqtt.store.database import BUSY_TIMEOUT_MS
from tests.brokers import Broker
from tests.reliability.rig import TALLY, Outputs, fake_kraken, until
from tests.reliability.test_crash_safety import Process, _config, _has_snapshot, _rows, _write_locked
from tests.timing import scaled

WATCHDOG_SECONDS = 0.6  # the daemon pings every 0.3 s


@contextlib.contextmanager
def _notify_socket() -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's notify socket (a short path: sun_path has 108 bytes)."""
    work = Path(tempfile.mkdtemp(prefix="k2m-notify-"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(work / "notify"))
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()
        shutil.rmtree(work, ignore_errors=True)


class Pings:
    """The WATCHDOG=1 datagrams, with their arrival times."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.at = sock, list[float]()

    def drain(self) -> int:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return len(self.at)
            if b"WATCHDOG=1" in data.split(b"\n"):
                self.at.append(time.monotonic())

    def since(self, t0: float) -> list[float]:
        self.drain()
        return [t for t in self.at if t >= t0]


async def test_the_loop_keeps_serving_while_another_connection_holds_the_write_lock(
    tmp_path: Path, broker: Broker, outputs: Outputs
) -> None:
    base = f"locked{random.Random(14).randrange(10**6)}"
    log = tmp_path / "daemon.log"
    outputs.files.append(log)
    db = tmp_path / "state" / "kraken2mqtt.db"
    topic, results_topic = f"{base}/top_up_amount/set", f"{base}/account/result"
    results: list[tuple[float, dict[str, object]]] = []

    async def collect(client: aiomqtt.Client) -> None:
        async for m in client.messages:
            body = json.loads(m.payload if isinstance(m.payload, bytes) else str(m.payload))
            results.append((time.monotonic(), body))

    with fake_kraken(outputs) as fk, _notify_socket() as notify:
        pings = Pings(notify)
        config = _config(tmp_path, broker, fk.url, base, level="debug")
        env = {"NOTIFY_SOCKET": notify.getsockname(), "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6))}
        async with aiomqtt.Client(
            broker.host, broker.port, identifier=f"{base}-ha", socket_options=SOCKET_OPTIONS
        ) as ha:
            await ha.subscribe(results_topic, qos=1)
            collector = asyncio.create_task(collect(ha))
            proc = Process(config, log, extra_env=env)
            try:
                await until(partial(proc.saw, "daemon.ready"), scaled(20), "the daemon to connect")
                await until(lambda: _has_snapshot(db), scaled(20), "the first poll to be stored")
                await until(lambda: pings.drain() >= 2, scaled(10), "the watchdog pings")

                def received() -> bool:
                    return any(
                        r.get("event") == "mqtt.message" and r.get("topic") == topic for r in proc.events()
                    )

                with _write_locked(db):  # the daemon's insert of the command waits for the lock
                    locked_at = time.monotonic()
                    await ha.publish(topic, "1700", qos=1)
                    await until(received, scaled(10), "the daemon to read the command")
                    read_at = time.monotonic()
                    # the loop goes on while the insert waits: three more pings on time
                    await until(lambda: len(pings.since(read_at)) >= 3, scaled(5), "pings while locked")
                    answered_while_locked = [body for _, body in results]
                    held = time.monotonic() - locked_at
                released_at = time.monotonic()
                await until(
                    lambda: any(b.get("status") == "accepted" for _, b in results),
                    scaled(10),
                    "the command to be accepted once stored",
                )
                stored = [s for s, _, v in _rows(db).values() if v == 1700]
            finally:
                proc.proc.terminate()
                proc.proc.wait(scaled(15))
                collector.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collector
    assert held < BUSY_TIMEOUT_MS / 1000, f"held the lock {held:.1f} s: the insert may have given up"
    assert not proc.saw("commands.store_failed")
    assert answered_while_locked == [], "answered before it was stored"
    assert stored, "accepted but not stored"
    during = [t for t in pings.at if locked_at <= t <= released_at]
    gaps = [b - a for a, b in zip([locked_at, *during], [*during, released_at], strict=True)]
    # the daemon pings every WATCHDOG_SECONDS / 2; a loop stalled by the insert would miss the 5 s busy
    # timeout's worth of pings (and systemd would kill it after WATCHDOG_SECONDS)
    bound = min(scaled(WATCHDOG_SECONDS), BUSY_TIMEOUT_MS / 1000 / 2)
    assert max(gaps) < bound, (gaps, bound)
    TALLY.fault("state file write-locked by another connection")
    TALLY.note(
        f"write lock held {held:.1f} s by another connection: longest watchdog gap {max(gaps):.2f} s "
        f"(pings every {WATCHDOG_SECONDS / 2:.1f} s), command accepted once stored"
    )
