"""What a plain install costs on disk and in memory, against an install with the ``[sandbox]`` extra.

    .venv/bin/python -m benchmarks.footprint [--runs 3]

Builds two fresh virtualenvs in a temporary directory (``pip install .`` and ``pip install '.[sandbox]'``;
needs the package index), then prints for each: the installed size (site-packages minus what an empty
virtualenv already holds), and the peak RSS of ``kraken2mqtt --help`` and of one authenticated pass
(``kraken2mqtt run --once``, fresh state directory) against the fake Kraken server running in this
process. The RSS of each child is its own (``wait4``), the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from kraken2mqtt.sandbox.fake_kraken import FakeKraken

ROOT = Path(__file__).resolve().parents[1]


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _site_packages(venv: Path) -> Path:
    [site] = list((venv / "lib").glob("python*/site-packages"))
    return site


def _make_venv(venv: Path, spec: str | None) -> int:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    empty = _tree_size(_site_packages(venv))
    if spec is not None:
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", spec],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    return _tree_size(_site_packages(venv)) - empty


def _peak_rss_mib(cmd: list[str], env: dict[str, str]) -> float:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return usage.ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN2MQTT_")}
    with tempfile.TemporaryDirectory() as tmp, FakeKraken() as fk:
        rows = []
        for label, spec in (("plain  pip install .", "."), ("extra  pip install '.[sandbox]'", ".[sandbox]")):
            venv = Path(tmp) / label.split()[0]
            size = _make_venv(venv, spec)
            package = _tree_size(_site_packages(venv) / "kraken2mqtt")
            sandbox = _tree_size(_site_packages(venv) / "kraken2mqtt" / "sandbox")
            exe = str(venv / "bin" / "kraken2mqtt")
            help_rss, run_rss = [], []
            for n in range(args.runs):
                env = {
                    **base_env,
                    "KRAKEN2MQTT_KRAKEN__ENDPOINT": fk.url,
                    "KRAKEN2MQTT_KRAKEN__API_KEY": "sk_test_fake_api_key",
                    "KRAKEN2MQTT_STATE_DIR": str(Path(tmp) / f"state-{label.split()[0]}-{n}"),
                    "KRAKEN2MQTT_LOGGING__LEVEL": "warning",
                }
                help_rss.append(_peak_rss_mib([exe, "--help"], env))
                run_rss.append(_peak_rss_mib([exe, "run", "--once"], env))
            medians = (statistics.median(help_rss), statistics.median(run_rss))
            rows.append((label, size, package, sandbox, *medians))
    print(
        f"{'install':34s} {'installed':>10s} {'of which kraken2mqtt (sandbox/)':>32s} {'RSS --help':>11s} "
        f"{'RSS run --once':>15s}"
    )
    for label, size, package, sandbox, help_mib, run_mib in rows:
        print(
            f"{label:34s} {size / 1e6:8.1f} MB {package / 1e6:13.2f} MB ({sandbox / 1e6:.2f} MB) {'':5s}"
            f"{help_mib:7.1f} MiB {run_mib:11.1f} MiB"
        )


if __name__ == "__main__":
    main()
