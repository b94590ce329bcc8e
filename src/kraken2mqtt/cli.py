"""The ``kraken2mqtt`` command. Imports are lazy so ``--help`` starts fast on a Raspberry Pi."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kraken2mqtt import __version__

if TYPE_CHECKING:
    from kraken2mqtt.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
SANDBOX_MISSING = (
    "kraken2mqtt: the sandbox needs graphql-core, which a plain install leaves out: "
    "install kraken2mqtt[sandbox] (pip install 'kraken2mqtt[sandbox]', or '.[sandbox]' in a checkout)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kraken2mqtt",
        description="Kraken (Octopus Energy) API → smart-charge planner → MQTT devices and Home Assistant.",
    )
    parser.add_argument("--version", action="version", version=f"kraken2mqtt {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="TOML config file (default: $KRAKEN2MQTT_CONFIG, else /etc/kraken2mqtt/kraken2mqtt.toml)",
    )
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="override logging.level"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run the daemon against the configured Kraken account and broker")
    run.add_argument("--once", action="store_true", help="poll once, print what was found and exit")
    sandbox = sub.add_parser(
        "sandbox", help="run the daemon on the built-in simulated Kraken account (no credentials needed)"
    )
    sandbox.add_argument("--once", action="store_true", help="poll once, print what was found and exit")
    sandbox.add_argument(
        "--speed", type=float, default=60.0, metavar="X", help="simulated time runs X times real time (60)"
    )
    sandbox.add_argument("--seed", type=int, default=0, help="random seed of the simulated household")
    sandbox.add_argument("--prices", type=Path, metavar="CSV", help="Agile price history to replay")
    sandbox.add_argument("--duration", type=float, metavar="S", help="stop after S real seconds")
    check = sub.add_parser("check-config", help="validate the configuration")
    check.add_argument(
        "--online", action="store_true", help="also authenticate against Kraken and the broker"
    )
    plan = sub.add_parser("plan", help="plan a self-contained scenario file and print the plan")
    plan.add_argument("--scenario", metavar="FILE", required=True, type=Path, help="scenario TOML file")
    plan.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plan.add_argument(
        "--chart", metavar="FILE.png", type=Path, help="also draw the plan (needs the chart extra)"
    )
    status = sub.add_parser("status", help="print what the daemon knows, from its state directory")
    status.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from kraken2mqtt.settings import load_settings

    overrides = {}
    if args.log_level:
        overrides["logging"] = {"level": args.log_level}
    elif args.command == "sandbox":
        overrides["logging"] = {"level": "warning"}  # the sandbox prints its own account of events
    return load_settings(args.config, **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "plan":
        from kraken2mqtt.planner.cli import plan_command

        return plan_command(args.scenario, as_json=args.json, out=sys.stdout, chart=args.chart)

    from kraken2mqtt.settings import ConfigError

    try:
        settings = _settings(args)
    except ConfigError as exc:
        import logging

        from kraken2mqtt.logs import journal_prefix

        err = journal_prefix(logging.ERROR)  # "<3>" when stderr is the journal: `journalctl -p err` shows it
        print(f"{err}kraken2mqtt: configuration error:", file=sys.stderr)
        for line in exc.problems:
            print(f"{err}  {line}", file=sys.stderr)
        return EXIT_CONFIG

    from kraken2mqtt.logs import configure_logging

    configure_logging(settings.logging.level, settings.logging.format)
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from kraken2mqtt.settings import config_path, unreadable_credentials

    if args.command == "check-config":
        import tempfile

        from kraken2mqtt.checks import check_config

        if (locked := unreadable_credentials(config_path(args.config))) is not None:
            print(
                f"kraken2mqtt: cannot read the credentials in {locked}/ (root only): run with sudo",
                file=sys.stderr,
            )
        # --online mints a token: keep it in a throwaway state directory, never in the invoking user's home
        # nor in the service's state directory (whose files belong to the service's user).
        with tempfile.TemporaryDirectory(prefix="kraken2mqtt-check-") as state:
            checked = settings.model_copy(update={"state_dir": Path(state)})
            return asyncio.run(check_config(checked, online=args.online, out=sys.stdout))
    if args.command in {"status", "run"} and not _state_dir_usable(settings.state_dir):
        print(
            f"kraken2mqtt: cannot read the state directory {settings.state_dir} (the service's, root only):"
            " run with sudo",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if args.command == "sandbox":
        try:
            from kraken2mqtt.sandbox.run import run_sandbox
        except ModuleNotFoundError as exc:
            if exc.name != "graphql":
                raise
            print(SANDBOX_MISSING, file=sys.stderr)
            return EXIT_FAILED

        if not 0 < args.speed <= 100_000:
            print("kraken2mqtt: --speed must be between 0 and 100000", file=sys.stderr)
            return EXIT_CONFIG
        return asyncio.run(
            run_sandbox(
                settings,
                once=args.once,
                speed=args.speed,
                seed=args.seed,
                prices=args.prices,
                duration=args.duration,
                out=sys.stdout,
            )
        )
    if args.command == "run":
        from kraken2mqtt.app import run_daemon

        return asyncio.run(run_daemon(settings, once=args.once, out=sys.stdout))
    if args.command == "status":
        from kraken2mqtt.app import print_status

        return print_status(settings, as_json=args.json, out=sys.stdout)
    raise AssertionError(args.command)


def _state_dir_usable(path: Path) -> bool:
    """False when ``path`` (or what it links to) exists but this user may not enter it."""
    import os

    return not os.path.lexists(path) or os.access(path, os.R_OK | os.X_OK)


if __name__ == "__main__":
    sys.exit(main())
