"""sd_notify against a real AF_UNIX datagram socket, as systemd's $NOTIFY_SOCKET would be."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kraken2mqtt.ops.sdnotify import Notifier, stop_watchdog


class Listener:
    """The systemd side: a bound SOCK_DGRAM socket collecting messages."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address  # as $NOTIFY_SOCKET spells it

    def receive(self, timeout: float = 2.0) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n"))

    def drain(self) -> list[dict[str, str]]:
        messages = []
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(4096).decode()
                messages.append(dict(line.split("=", 1) for line in data.split("\n")))
        except BlockingIOError:
            return messages


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    try:
        yield Listener(sock, str(path))
    finally:
        sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"kraken2mqtt-test-{uuid.uuid4().hex}"
    sock.bind(b"\0" + name.encode())
    try:
        yield Listener(sock, "@" + name)
    finally:
        sock.close()


def test_ready_status_stopping_watchdog(listener: Listener) -> None:
    n = Notifier(listener.address)
    assert n.enabled
    assert n.ready("connected to broker")
    assert listener.receive() == {"READY": "1", "STATUS": "connected to broker"}
    assert n.watchdog()
    assert listener.receive() == {"WATCHDOG": "1"}
    assert n.status("polling\n  every 5 min")
    assert listener.receive() == {"STATUS": "polling every 5 min"}
    assert n.extend_timeout(2.5)
    assert listener.receive() == {"EXTEND_TIMEOUT_USEC": "2500000"}
    assert n.reloading()
    assert listener.receive() == {"RELOADING": "1"}
    assert n.stopping()
    assert listener.receive() == {"STOPPING": "1"}


def test_abstract_namespace_address(abstract_listener: Listener) -> None:
    n = Notifier(abstract_listener.address)
    assert n.ready()
    assert abstract_listener.receive() == {"READY": "1"}
    assert n.stopping("bye")
    assert abstract_listener.receive() == {"STOPPING": "1", "STATUS": "bye"}


def test_from_environment(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = Notifier.from_environment(unset=True)
    assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ
    assert n.watchdog_interval() == 30.0
    assert n.ready()
    assert listener.receive() == {"READY": "1"}


def test_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(key, raising=False)
    n = Notifier.from_environment()
    assert not n.enabled
    assert not n.ready()
    assert not n.watchdog()
    assert not n.stopping()
    assert not n.status("x")
    assert n.watchdog_interval() is None
    with pytest.raises(ValueError, match="bad sd_notify field"):  # bugs show outside systemd too
        n.notify(STATUS="two\nlines")
    # Addresses that are not ours to use are ignored the same way.
    for address in ("", "relative/path", "vsock:2:1234", "@"):
        assert not Notifier(address).ready()


def test_send_failures_are_reported_not_raised(tmp_path: Path) -> None:
    n = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert n.enabled
    assert not n.ready()


def test_fields_are_validated(listener: Listener) -> None:
    n = Notifier(listener.address)
    with pytest.raises(ValueError, match="bad sd_notify field"):
        n.notify(STATUS="two\nlines")
    with pytest.raises(ValueError, match="bad sd_notify field"):
        n.notify(lower="1")
    assert not n.notify()


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("2000000", None, 2.0),
        ("2000000", "self", 2.0),
        ("2000000", "1", None),  # meant for another process
        ("2000000", "nope", None),
        ("0", None, None),
        ("-5", None, None),
        ("soon", None, None),
        (None, None, None),
    ],
)
def test_watchdog_interval(usec: str | None, pid: str | None, expected: float | None) -> None:
    watchdog_pid = str(os.getpid()) if pid == "self" else pid
    n = Notifier("/run/systemd/notify", watchdog_usec=usec, watchdog_pid=watchdog_pid)
    assert n.watchdog_interval() == expected
    assert Notifier(None, watchdog_usec=usec).watchdog_interval() is None


class _Stop(Exception):
    """Ends a hand-stepped watchdog loop."""


async def test_watchdog_pings_only_while_healthy(listener: Listener) -> None:
    n = Notifier(listener.address, watchdog_usec="100000")  # 0.1 s: a check every 0.05 s
    # One health state per check; "broken" is a predicate that raises (counts as unhealthy).
    script = ["good", "good", "good", "bad", "bad", "broken", "good", "good"]
    states = iter(script)
    pings_after_check: list[int] = []
    periods: list[float] = []

    def check() -> bool:
        state = next(states)
        if state == "broken":
            raise RuntimeError("health check broke")
        return state == "good"

    async def step(period: float) -> None:  # the wait between checks, stepped by hand
        periods.append(period)
        pings_after_check.append(len(listener.drain()))
        if len(periods) == len(script):
            raise _Stop

    with pytest.raises(_Stop):
        await n.run_watchdog(check, sleep=step)
    assert pings_after_check == [1, 1, 1, 0, 0, 0, 1, 1]
    assert periods == [0.05] * len(script)


async def test_watchdog_task_starts_and_stops(listener: Listener) -> None:
    n = Notifier(listener.address, watchdog_usec="3600000000")  # the next check is 30 min away
    task = n.start_watchdog(lambda: True)
    assert task is not None
    for _ in range(3):
        await asyncio.sleep(0)  # let the task run up to its first wait
    assert listener.drain() == [{"WATCHDOG": "1"}]
    await stop_watchdog(task)
    assert task.done()
    assert listener.drain() == []


async def test_no_watchdog_task_without_watchdog(listener: Listener) -> None:
    assert Notifier(listener.address).start_watchdog(lambda: True) is None
    await stop_watchdog(None)
    # run_watchdog returns at once when systemd expects no pings.
    await asyncio.wait_for(Notifier(None).run_watchdog(lambda: True), timeout=1)
