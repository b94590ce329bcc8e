"""The daemon as systemd runs it: time to READY, resident memory and CPU over a real-time run.

    .venv/bin/python -m benchmarks.daemon [--minutes 10] [--devices]

Starts a private Mosquitto and the fake Kraken server (in this process), then ``kraken2mqtt run`` as a child
with ``$NOTIFY_SOCKET`` pointing at a datagram socket of ours, exactly as systemd's ``Type=notify`` would.
Prints the time from exec to ``READY=1``, then samples the child's RSS (``/proc/PID/status``) and CPU time
(``/proc/PID/stat``) every 5 s and prints RSS at start/peak/end and the average CPU share over the run.
With ``--devices`` the daemon also drives a simulated OpenEVSE (its state published every 30 s).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kraken2mqtt.sandbox.broker import start_embedded_broker
from kraken2mqtt.sandbox.fake_kraken import FakeKraken

KEY = "sk_test_fake_api_key"
TICK = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--devices", action="store_true")
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("kraken2mqtt")
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_embedded_broker() as broker,
        FakeKraken(api_key=KEY) as fk,
    ):
        notify_path = Path(tmp) / "notify"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify_path))
        sock.settimeout(30)
        config = Path(tmp) / "k.toml"
        text = f'state_dir = "{tmp}/state"\n[logging]\nlevel = "warning"\n[metrics]\nport = 0\n'
        text = text.replace("port = 0", f"port = {_free_port()}")
        if args.devices:
            text += (
                '[[devices]]\nid = "ev"\nkind = "ev"\nadapter = "openevse"\ntopic = "bench-evse"\n'
                "[devices.plan]\ncapacity_kwh = 60\nmax_kw = 7.2\n"
            )
        config.write_text(text)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KRAKEN2MQTT_")},
            "NOTIFY_SOCKET": str(notify_path),
            "KRAKEN2MQTT_KRAKEN__ENDPOINT": fk.url,
            "KRAKEN2MQTT_KRAKEN__API_KEY": KEY,
            "KRAKEN2MQTT_MQTT__HOST": broker.host,
            "KRAKEN2MQTT_MQTT__PORT": str(broker.port),
        }
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(exe), "--config", str(config), "run"], env=env, stdout=subprocess.DEVNULL
        )
        try:
            ready_after = None
            while ready_after is None:
                data = sock.recv(4096).decode()
                if "READY=1" in data.split("\n"):
                    ready_after = time.perf_counter() - started
            print(f"exec → READY=1:        {ready_after * 1000:.0f} ms")
            cpu0, t0 = cpu_seconds(child.pid), time.perf_counter()
            samples = [rss_mib(child.pid)]
            deadline = t0 + args.minutes * 60
            while time.perf_counter() < deadline and child.poll() is None:
                time.sleep(min(5.0, max(0.0, deadline - time.perf_counter())))
                samples.append(rss_mib(child.pid))
            cpu = cpu_seconds(child.pid) - cpu0
            wall = time.perf_counter() - t0
            print(f"RSS after READY:       {samples[0]:.1f} MiB")
            print(
                f"RSS peak / end:        {max(samples):.1f} / {samples[-1]:.1f} MiB over {wall / 60:.1f} min"
            )
            print(f"CPU over the run:      {cpu:.2f} s = {100 * cpu / wall:.2f} % of one core")
            print(
                f"Kraken requests:       {sum(fk.stats.requests.values())} "
                f"({sum(fk.stats.requests.values()) / (wall / 3600):.0f}/h incl. start-up)"
            )
        finally:
            child.terminate()
            child.wait(timeout=30)
            sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
