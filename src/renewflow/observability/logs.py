"""Log lines as text or JSON, with the ids of what they are about, and no secrets.

`configure_logging(level, LogFormat.JSON)` gives one JSON object per line (python-json-logger):
`timestamp`, `level`, `logger`, `message`, the ids of `renewflow.observability.context` that are
set (`request_id`, `tenant_id`, `execution_id`, `job_id`), the trace and span ids when tracing is
on, `exc_info` for an exception. Text lines carry the same ids as `key=value` at their end.

Whatever the format, every line goes through `RedactSecrets` first: an API key, a console session
or sign-in token, a password in a connection string or URL is replaced by `[redacted]` wherever it
appears (a message, an argument, a traceback), as a last line of defence behind the rule that no
code logs one. Prompts are never logged.
"""

from __future__ import annotations

import logging
import re
import sys
from enum import StrEnum
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from renewflow.observability import context

# uvicorn's loggers, which it configures itself: `adopt_uvicorn_loggers` routes them to ours
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # API keys (rf_), console sessions (rfs_) and sign-in links (rfl_): accounts/keys.py, sessions.py
    (re.compile(r"\b(rf[sl]?_)[A-Za-z0-9_-]{16,}"), r"\1[redacted]"),
    # password=... in a libpq connection string
    (re.compile(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)"), r"\1[redacted]"),
    # user:password@ in a URL
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
)


def redact(text: str) -> str:
    """`text` with every secret it seems to hold replaced by `[redacted]`."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class RedactSecrets(logging.Filter):
    """Redacts the message (after its arguments are merged) and the traceback of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # the formatters print exc_text instead
        return True


class AddContext(logging.Filter):
    """Puts the ids that are set (and the current trace's) on the record, as attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        from renewflow.observability import tracing

        ids = context.current()
        ids.update(tracing.current_ids())
        for name, value in ids.items():
            setattr(record, name, value)
        record.ids = "".join(f" {name}={value}" for name, value in ids.items())
        return True


# Attributes of a record that are not fields of a JSON line (python-json-logger adds any other
# attribute it finds, e.g. what a caller passes as `extra=`).
_NOT_FIELDS = (
    *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
    "message",
    "asctime",
    "ids",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
)


class _Json(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            ["message"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[a for a in _NOT_FIELDS if a not in ("levelname", "name", "process")],
            timestamp=True,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # the fixed fields first, in a fixed order: timestamp, level, logger, message
        log_data["timestamp"] = None
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = record.levelname.lower()
        log_data["timestamp"] = self.formatTime(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s%(ids)s"

_configured: LogFormat | None = None
_handler: logging.Handler | None = None


def configured_format() -> LogFormat | None:
    """The format `configure_logging` set up in this process (None: it was not called)."""
    return _configured


def configure_logging(
    level: str = "info", log_format: LogFormat = LogFormat.TEXT, stream: IO[str] | None = None
) -> None:
    """One handler on the root logger, writing `log_format` lines to `stream` (stderr); calling
    it again replaces that handler. uvicorn's loggers are routed to it too."""
    global _configured, _handler
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactSecrets())
    handler.addFilter(AddContext())
    handler.setFormatter(
        _Json() if log_format is LogFormat.JSON else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _configured, _handler = log_format, handler
    adopt_uvicorn_loggers()


def adopt_uvicorn_loggers() -> None:
    """Routes uvicorn's loggers (which uvicorn configures with its own handlers when its server
    is built) to ours, so that its lines have our format, ids and redaction. Does nothing unless
    `configure_logging` was called in this process."""
    if _configured is None:
        return
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
