from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
import structlog

from kraken2mqtt.logs import configure_logging, is_journal, priority
from kraken2mqtt.redact import register_secret

API_KEY = "sk_live_RealLookingKey0123456789"
PASSWORD = "hunter2-but-longer"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjoxfQ.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """These tests point logging at files they close: leave the root logger as they found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_off_a_tty_and_secrets_redacted_everywhere() -> None:
    register_secret(PASSWORD)
    stream = io.StringIO()
    configure_logging("debug", "auto", stream)  # StringIO is not a TTY → JSON
    log = structlog.get_logger("test")
    log.info("login", api_key=API_KEY, note=f"using {PASSWORD}", headers={"Authorization": JWT})
    try:
        raise RuntimeError(f"request failed with token {JWT} and key {API_KEY} password {PASSWORD}")
    except RuntimeError:
        log.exception("boom")
    logging.getLogger("some.library").warning("library says %s", PASSWORD)
    text = stream.getvalue()
    for secret in (API_KEY, PASSWORD, JWT):
        assert secret not in text
    lines = [json.loads(line) for line in _lines(stream)]
    assert lines[0]["event"] == "login" and lines[0]["api_key"] == "***"
    assert "RuntimeError" in lines[1]["exception"]
    assert lines[2]["event"] == "library says ***"


def test_console_format_is_redacted_too() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream)
    structlog.get_logger("x").warning("token", value=JWT)
    assert JWT not in stream.getvalue()
    assert "token" in stream.getvalue()


def test_level_filters() -> None:
    stream = io.StringIO()
    configure_logging("warning", "json", stream)
    structlog.get_logger("x").info("hidden")
    structlog.get_logger("x").warning("shown")
    assert [json.loads(line)["event"] for line in _lines(stream)] == ["shown"]


def _journal(monkeypatch: pytest.MonkeyPatch, path: Path) -> TextIO:
    """A real file as stderr, with $JOURNAL_STREAM naming it as systemd does for a journal stream."""
    stream = path.open("w", encoding="utf-8")
    st = os.fstat(stream.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    return stream


def test_journal_lines_carry_their_priority(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with _journal(monkeypatch, path) as stream:
        configure_logging("debug", "auto", stream)
        log = structlog.get_logger("test")
        log.debug("d")
        log.info("i")
        log.warning("w", api_key=API_KEY)
        log.error("e")
        logging.getLogger("some.library").critical("c")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("x")
    lines = path.read_text().splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<2>", "<3>"]
    events = [json.loads(line[3:])["event"] for line in lines]  # journald strips the prefix: JSON stays
    assert events == ["d", "i", "w", "e", "c", "x"]
    assert API_KEY not in path.read_text()


def test_multi_line_console_output_is_prefixed_per_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "journal"
    with _journal(monkeypatch, path) as stream:
        configure_logging("info", "console", stream)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger("t").exception("failed")
    lines = path.read_text().splitlines()
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines), lines


@pytest.mark.parametrize("value", ["", "1:2", "garbage", "12"])
def test_no_prefix_when_stderr_is_not_the_journal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    path = tmp_path / "log"
    with path.open("w", encoding="utf-8") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", value)  # inherited from a parent, or not a journal at all
        assert not is_journal(stream)
        configure_logging("info", "json", stream)
        structlog.get_logger("t").warning("w")
    assert path.read_text().startswith("{")
    assert not is_journal(io.StringIO())


def test_priorities_of_levels_in_between() -> None:
    assert priority(logging.WARNING + 5) == 4 and priority(5) == 7 and priority(logging.CRITICAL + 10) == 2


def test_a_configuration_error_reaches_the_journal_as_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 70000\n")
    path = tmp_path / "journal"
    with path.open("w", encoding="utf-8") as stream:
        st = os.fstat(stream.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        done = subprocess.run(
            [sys.executable, "-m", "kraken2mqtt.cli", "--config", str(bad), "check-config"],
            stderr=stream, stdout=subprocess.DEVNULL, env=env, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    lines = path.read_text().splitlines()
    assert lines[0] == "<3>kraken2mqtt: configuration error:"
    assert all(line.startswith("<3>  ") for line in lines[1:]) and "mqtt.port" in lines[1]
