"""The lobby's log lines: one JSON object per event (or plain text), a request id, secrets redacted.

Every record passes two filters on its way out: `RequestIdFilter` stamps it with the id of the
request being served (a context variable the access-log middleware sets), and `RedactingFilter`
replaces anything shaped like a join token (a JWT), a bearer credential, a game server's secret or
a `token=`/`password=`/`secret=` value with `[redacted]`, in the message, its arguments, its extra
fields and its traceback. The lobby never logs a secret on purpose; the filter is defence in depth.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import logging.config
import re
from typing import Any, Literal

LogFormat = Literal["json", "text"]

REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
NO_REQUEST = "-"
ROOT_LEVEL = "INFO"

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

SECRET = re.compile(
    r"(?P<jwt>eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"
    r"|(?P<bearer>(?i:bearer)\s+)[^\s\"'\\,;]+"
    r"|(?P<server>\bs_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,})"
    r"|(?P<field>(?i:token|password|secret)=)[^&\s\"'\\,;]+"
)
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
    "color_message",
}


def _replace(match: re.Match[str]) -> str:
    prefix = match["bearer"] or match["field"] or ""
    return prefix + REDACTED


def redact(text: str) -> str:
    """`text` with every token-, credential- or secret-shaped part replaced by `[redacted]`."""
    return SECRET.sub(_replace, text)


class RedactingFilter(logging.Filter):
    """Redact secrets in a record: its message with arguments, string extras and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        record.msg = redact(record.getMessage())
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    """Stamp a record with the id of the request in progress (`request_id`, None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `record.request_id`; never drops the record."""
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts`, `level`, `logger`, `pid`, `msg`, `request_id`, then extras."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (newlines inside values are escaped)."""
        created = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, Any] = {
            "ts": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": self.prefix + record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            line["request_id"] = rid
        for name, value in record.__dict__.items():
            if name not in _RECORD_FIELDS:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """A line for people: time, level, logger, `[request id]`, message."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(TEXT_FORMAT)
        self.prefix = prefix

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The message with its prefix, and `-` for no request id."""
        values = {**record.__dict__, "message": self.prefix + record.message}
        values["request_id"] = values.get("request_id") or NO_REQUEST
        return self._style._fmt % values


def log_config(log_format: LogFormat, prefix: str = "") -> dict[str, Any]:
    """A `logging.config.dictConfig` (and uvicorn `log_config`) for every logger of a lobby process.

    Everything goes to stderr through the root logger; uvicorn's own access log stays off (the
    access-log middleware writes one line per request instead).
    """
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "redact": {"()": RedactingFilter},
        },
        "formatters": {"lobby": {"()": formatter, "prefix": prefix}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "lobby",
                "filters": ["request_id", "redact"],
            }
        },
        "root": {"level": ROOT_LEVEL, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": ROOT_LEVEL, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": ROOT_LEVEL, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def configure_logging(log_format: LogFormat, prefix: str = "") -> None:
    """Send this process's logs (and Python warnings) to stderr in `log_format`."""
    logging.config.dictConfig(log_config(log_format, prefix))
    logging.captureWarnings(True)
