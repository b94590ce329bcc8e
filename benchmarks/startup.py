"""Cold-start figures for a Raspberry Pi-sized budget.

    .venv/bin/python -m benchmarks.startup [--runs 10]

Prints: wall time of ``kraken2mqtt --help``; wall time and peak RSS of one authenticated pass
(``kraken2mqtt run --once`` with a fresh state directory: mint a token, discover the account, poll
every stream once)
against the fake Kraken server; the installed size of the runtime dependencies.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from kraken2mqtt.sandbox.fake_kraken import FakeKraken

BIN = Path(sys.executable).with_name("kraken2mqtt")


def _time(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"median {statistics.median(ms):.0f} ms, min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms (n={len(ms)})"


def _requirement_names(dist: str, seen: set[str]) -> None:
    key = re.sub(r"[-_.]+", "-", dist).lower()
    if key in seen:
        return
    seen.add(key)
    for req in metadata.requires(dist) or []:
        if "extra ==" in req:
            continue
        name = re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        _requirement_names(name, seen)


def installed_sizes() -> dict[str, int]:
    seen: set[str] = set()
    _requirement_names("kraken2mqtt", seen)
    seen.discard("kraken2mqtt")
    sizes: dict[str, int] = {}
    for name in sorted(seen):
        dist = metadata.distribution(name)
        total = 0
        for f in dist.files or []:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
        sizes[name] = total
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN2MQTT_")}

    help_times = [_time([str(BIN), "--help"], env) for _ in range(args.runs)]
    print(f"kraken2mqtt --help:                 {_summary(help_times)}")

    with FakeKraken() as fk:
        poll_times = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as state:
                run_env = {
                    **env,
                    "KRAKEN2MQTT_KRAKEN__ENDPOINT": fk.url,
                    "KRAKEN2MQTT_KRAKEN__API_KEY": "sk_test_fake_api_key",
                    "KRAKEN2MQTT_STATE_DIR": state,
                    "KRAKEN2MQTT_LOGGING__LEVEL": "warning",
                }
                poll_times.append(_time([str(BIN), "run", "--once"], run_env))
        rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"one authenticated pass (cold):      {_summary(poll_times)}")
    print(f"peak RSS of a child process:        {rss_kb / 1024:.1f} MiB")

    sizes = installed_sizes()
    total = sum(sizes.values())
    print(f"installed runtime dependencies:     {total / 1e6:.1f} MB in {len(sizes)} distributions")
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {size / 1e6:6.1f} MB")


if __name__ == "__main__":
    main()
