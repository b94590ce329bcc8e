"""Logging with structlog: JSON lines off a TTY (journald), readable console output on a TTY.

Every record, ours or a library's, passes the redaction processor after exceptions are rendered to text,
so no credential can reach a log line, not even inside a traceback.

When stderr is the journal (systemd sets ``$JOURNAL_STREAM`` to its ``device:inode``), every line starts
with its syslog priority, ``<4>`` for a warning, which journald takes as the entry's ``PRIORITY=`` and strips
(``SyslogLevelPrefix=``, on by default), so ``journalctl -p warning`` shows warnings and errors only.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from kraken2mqtt.redact import redact

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


# syslog(3) priorities, as journald reads them from a "<N>" line prefix.
PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def is_journal(stream: TextIO) -> bool:
    """Whether ``stream`` is connected to the journal: ``$JOURNAL_STREAM`` names its ``device:inode``."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):  # unset or malformed, or not a real file (StringIO)
        return False


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (levels between two take the more severe one's)."""
    for level in sorted(PRIORITIES, reverse=True):
        if levelno >= level:
            return PRIORITIES[level]
    return PRIORITIES[logging.DEBUG]


def journal_prefix(levelno: int, stream: TextIO | None = None) -> str:
    """``"<N>"`` for a line at ``levelno`` on ``stream`` (stderr) when that is the journal, else ``""``."""
    return f"<{priority(levelno)}>" if is_journal(stream or sys.stderr) else ""


class JournalPriorityFormatter(logging.Formatter):
    """Prefixes every line of another formatter's output with the record's syslog priority."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self._inner.format(record).split("\n"))


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
    handler.setFormatter(JournalPriorityFormatter(formatter) if is_journal(stream) else formatter)
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
