from __future__ import annotations

import io
import json
import logging

import structlog

from kraken2mqtt.logs import configure_logging
from kraken2mqtt.redact import register_secret

API_KEY = "sk_live_RealLookingKey0123456789"
PASSWORD = "hunter2-but-longer"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjoxfQ.c2lnbmF0dXJl"


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
