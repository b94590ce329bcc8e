"""The reliability suite's hygiene: every test's outputs are grepped for the suite's secrets (API key,
MQTT password, every token the fake Kraken minted), logs go through the daemon's redacting pipeline into
a buffer that is grepped too, and a logged traceback counts as a crash. The table of faults is printed at
the end of the session (``pytest tests/reliability``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Generator, Iterator

import pytest
import structlog

from kraken2mqtt.logs import configure_logging
from kraken2mqtt.redact import register_secret
from tests.reliability.rig import STATIC_SECRETS, TALLY, Outputs

_OUTPUTS = pytest.StashKey[Outputs]()


@pytest.fixture(autouse=True)
def outputs(request: pytest.FixtureRequest) -> Iterator[Outputs]:
    for secret in STATIC_SECRETS:  # as load_settings does for the configured ones
        register_secret(secret)
    out = Outputs()
    request.node.stash[_OUTPUTS] = out
    buffer = io.StringIO()
    configure_logging("debug", "json", stream=buffer)
    try:
        yield out
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
        logs = buffer.getvalue()
        out.add("daemon log", logs)
        leaks = out.leaks([])
        TALLY.secrets_found += len(leaks)
        crashes = [line for line in logs.splitlines() if _traceback(line)]
        TALLY.crashes += len(crashes)
        assert not leaks, leaks
        assert not crashes, "unhandled exceptions were logged:\n" + "\n".join(c[:2000] for c in crashes)


def _traceback(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "exception" in record and not _known_socket_race(record)


def _known_socket_race(record: dict[str, object]) -> bool:
    """paho asks aiomqtt to watch a socket for writing just as a killed broker's socket is closed; asyncio
    logs the EBADF of that callback (a race inside the library, fixed upstream by aiomqtt's async socket
    management, empicano/aiomqtt PR 399). Nothing of ours fails: the supervisor reconnects as usual."""
    text = f"{record.get('event', '')}\n{record.get('exception', '')}"
    return "BaseSelectorEventLoop.add_writer" in text and "Bad file descriptor" in text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    out = item.stash.get(_OUTPUTS, None)
    if out is None or report.when != "teardown":
        return report
    captured = [(name, text) for name, text in report.sections]
    leaks = out.leaks(captured)
    if leaks:
        TALLY.secrets_found += len(leaks)
        report.outcome = "failed"
        report.longrepr = "secrets in captured output:\n" + "\n".join(leaks)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.injected or TALLY.outputs_checked:
        terminalreporter.section("kraken2mqtt reliability")
        terminalreporter.write_line(TALLY.table())
