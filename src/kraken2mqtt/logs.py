"""Logging with structlog: JSON lines off a TTY (journald), readable console output on a TTY.

Every record, ours or a library's, passes the redaction processor after exceptions are rendered to text,
so no credential can reach a log line, not even inside a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from kraken2mqtt.redact import redact

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact_processor(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    out: MutableMapping[str, Any] = {}
    for key, value in event_dict.items():
        out[key] = value if key in {"level", "timestamp", "logger"} else redact(value, key)
    return dict(out)


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one redacting handler on ``stream`` (stderr)."""
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        if console
        else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # traceback → text, so it is redacted too
            redact_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    for noisy in ("httpx", "httpcore", "aiomqtt", "amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        # Redacted already here, before the record reaches any handler: the formatter's pass only covers
        # our handler, and a record must not carry a secret to another one (a test's capture, a syslog
        # handler someone adds).
        processors=[*shared, redact_processor, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
