"""The unit at run time under a real systemd: ``deploy/install.sh`` run inside a Debian root booted with
``systemd-nspawn --boot``, as a user would, then the deploy README's commands and the unit's promises:
READY after the broker connection, ``check-config --online`` and ``status`` with the installed files,
journald priorities, a clean stop, a restart by the watchdog of a stopped (SIGSTOP) daemon, and no restart
loop after a configuration error (exit status 2).

Opt-in (a few minutes; needs root, ``systemd-nspawn`` and ``nsenter``, and a bootable root):
``K2M_NSPAWN_ROOT=/var/tmp/bookworm`` made once with ``debootstrap --variant=minbase
--include=systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates bookworm DIR``. The root is never
changed (``--volatile=overlay``). The container shares the host's network, so it reaches the test's broker
and fake Kraken server on 127.0.0.1; pip installs offline from a wheelhouse built here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kraken2mqtt.sandbox.fake_kraken import FakeKraken
from tests.brokers import Broker
from tests.timing import scaled

REPO = Path(__file__).resolve().parents[2]
NSPAWN_ROOT = os.environ.get("K2M_NSPAWN_ROOT", "")
KEY = "sk_test_nspawn_key_0123456789"
UNIT = "kraken2mqtt"
CONFIG = "/etc/kraken2mqtt/kraken2mqtt.toml"
K2M = f"/opt/kraken2mqtt/venv/bin/kraken2mqtt --config {CONFIG}"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not NSPAWN_ROOT, reason="set K2M_NSPAWN_ROOT to a bootable Debian root (see docstring)"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="systemd-nspawn needs root"),
    pytest.mark.skipif(
        not (shutil.which("systemd-nspawn") and shutil.which("nsenter")),
        reason="needs systemd-nspawn, nsenter",
    ),
]


class Machine:
    """A booted container; :meth:`sh` runs a command in all its namespaces (no machined needed)."""

    def __init__(self, root: Path, binds: dict[Path, str], log: Path) -> None:
        self.log = log
        self.binds_host = {inside: str(host) for host, inside in binds.items()}
        args = [
            "systemd-nspawn",
            "-q",
            "-D",
            str(root),
            "--volatile=overlay",
            "--boot",
            "--register=no",
            "--keep-unit",
        ]
        args += [f"--machine=k2mtest{os.getpid()}"] + [f"--bind-ro={h}:{c}" for h, c in binds.items()]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.leader = self._find_leader()

    def _find_leader(self) -> int:
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.skip(f"systemd-nspawn cannot boot here: {self.log.read_text()[-800:]}")
            for child in _children(self.proc.pid):
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return child
            time.sleep(0.1)
        pytest.skip("the container's systemd did not start")

    def sh(self, script: str, *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
        done = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-C", "/bin/sh", "-c", script],
            capture_output=True, text=True, env=env, timeout=scaled(timeout), check=False,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        return done

    def show(self, prop: str) -> str:
        return self.sh(f"systemctl show -p {prop} --value {UNIT}").stdout.strip()

    def until(self, what: str, condition: Callable[[], bool], within: float) -> None:
        deadline = time.monotonic() + scaled(within)
        while not condition():
            if time.monotonic() > deadline:
                status = self.sh(
                    f"systemctl status --no-pager {UNIT}; journalctl -n 30 -u {UNIT}", check=False
                )
                pytest.fail(f"timed out waiting for {what}:\n{status.stdout}")
            time.sleep(0.2)

    def poweroff(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to halt
            try:
                self.proc.wait(scaled(60))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """Our wheel and its runtime dependencies, for an offline pip inside the container."""
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
                   check=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("kraken2mqtt-*.whl")
    subprocess.run(
        [*pip, "download", "-q", "--only-binary=:all:", "-d", str(wheels), str(wheel)],
        check=True,
        timeout=600,
    )
    (wheels / "kraken_api_key").write_text(KEY + "\n")
    return wheels


@pytest.fixture
def machine(tmp_path: Path, wheelhouse: Path) -> Iterator[Machine]:
    m = Machine(Path(NSPAWN_ROOT), {REPO: "/src", wheelhouse: "/wheels"}, tmp_path / "nspawn.log")
    try:

        def booted() -> bool:
            state = m.sh("systemctl is-system-running", check=False).stdout.strip()
            return state in {"running", "degraded"}

        m.until("the container to boot", booted, 120)
        yield m
    finally:
        m.poweroff()


def test_install_and_the_unit_under_systemd(machine: Machine, broker: Broker) -> None:
    m = machine
    with FakeKraken(api_key=KEY) as fake:
        # What the user edits after the install, here before it (the installer keeps an existing config),
        # and a drop-in that shortens the watchdog and restart delay for the test.
        files = Path(m.binds_host["/wheels"])
        (files / "kraken2mqtt.toml").write_text(
            f'[kraken]\nendpoint = "{fake.url}"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
            'base_topic = "k2mnspawn"\nclient_id = "k2mnspawn"\n[metrics]\nenabled = false\n'
        )
        (files / "test.conf").write_text("[Service]\nWatchdogSec=6\nRestartSec=1\n")
        dropins = "/etc/systemd/system/kraken2mqtt.service.d"
        m.sh(
            f"mkdir -p /etc/kraken2mqtt {dropins} && cp /wheels/kraken2mqtt.toml {CONFIG}"
            f" && cp /wheels/test.conf {dropins}/"
        )
        install = m.sh(
            "cd /src && PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels deploy/install.sh --non-interactive "
            "--api-key-file /wheels/kraken_api_key --source /wheels/kraken2mqtt-*.whl",
            timeout=600,
        )
        assert "restart" in install.stdout + install.stderr or m.show("ActiveState") != "inactive"

        # Type=notify: active only once READY=1 came, after the first broker connection.
        m.until("READY=1", lambda: m.show("ActiveState") == "active", 180)
        assert m.show("Result") == "success"

        # The deploy README's commands, as written (as root: sudo).
        check = m.sh(f"{K2M} check-config --online")
        assert (
            "[ok] Kraken credentials present" in check.stdout and "[ok] Kraken: authenticated" in check.stdout
        )
        assert m.sh("ls -A /root/.local/state 2>/dev/null | wc -l").stdout.strip() == "0"  # no token left
        m.until("the first poll", lambda: '"account"' in m.sh(f"{K2M} status --json").stdout, 60)
        status = json.loads(m.sh(f"{K2M} status --json").stdout)
        assert status["state_dir"] == "/var/lib/kraken2mqtt" and status["token_expires_at"]

        # journald priorities: info lines are not warnings.
        journal = m.sh(f"journalctl -u {UNIT} -o json --no-pager").stdout.splitlines()
        ready = [json.loads(line) for line in journal if "daemon.ready" in line]
        assert ready and ready[0]["PRIORITY"] == "6" and not ready[0]["MESSAGE"].startswith("<")
        assert "daemon.ready" not in m.sh(f"journalctl -u {UNIT} -p warning --no-pager").stdout

        # The watchdog: a stopped daemon stops pinging; systemd kills and restarts it.
        pid, restarts = m.show("MainPID"), int(m.show("NRestarts"))
        m.sh(f"kill -STOP {pid}")
        m.until(
            "the watchdog restart",
            lambda: int(m.show("NRestarts")) > restarts and m.show("ActiveState") == "active",
            90,
        )
        assert m.show("MainPID") != pid

        # A clean stop: exit status 0 within TimeoutStopSec.
        m.sh(f"systemctl stop {UNIT}", timeout=60)
        assert (m.show("ActiveState"), m.show("Result"), m.show("ExecMainStatus")) == (
            "inactive",
            "success",
            "0",
        )

        # A configuration error: exit 2, the unit fails and is not restarted.
        m.sh(f"sed -i 's/^port = .*/port = 70000/' {CONFIG} && systemctl start --no-block {UNIT}")
        m.until("the configuration error", lambda: m.show("ActiveState") == "failed", 60)
        assert m.show("ExecMainStatus") == "2"
        restarts = int(m.show("NRestarts"))
        deadline = time.monotonic() + 4  # > RestartSec=1: a restart would have happened by then
        while time.monotonic() < deadline:
            assert m.show("ActiveState") == "failed" and int(m.show("NRestarts")) == restarts
            time.sleep(0.5)
        errors = m.sh(f"journalctl -u {UNIT} -p err --no-pager").stdout
        assert "configuration error" in errors and "mqtt.port" in errors
