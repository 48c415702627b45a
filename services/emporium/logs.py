"""JSON logs on stdout, one object a line, carrying the request id and trace id.

The ids live in context variables set per request (see `emporium.app`), so any log call made
while serving a request carries them without passing them around.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)

# LogRecord attributes that are not user-supplied `extra` fields.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text


def timestamp(created: float) -> str:
    """`created` (epoch seconds) as the logs write it: 2026-01-31T12:00:00.123Z, UTC."""
    global _second  # noqa: PLW0603 - one formatted second shared by every thread
    whole = int(created)
    second, text = _second
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{int((created - whole) * 1000):03d}Z"


def json_line(entry: dict[str, Any]) -> str:
    """One log line's JSON text (compact, as orjson writes it). orjson encodes an access line
    about seven times faster than `json.dumps`, and one is written on every request. What it
    refuses (an integer beyond 64 bits) goes through `json`; keys that are not text are written
    as text and values neither encoder knows as their str(), so a log call does not fail on its
    fields."""
    try:
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(entry, default=str, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id, trace_id = request_id_var.get(), trace_id_var.get()
        if request_id:
            entry["requestId"] = request_id
        if trace_id:
            entry["traceId"] = trace_id
        for key, value in record.__dict__.items():
            # An `extra` field never overwrites one of the line's own (service, level, ...).
            if key not in _RECORD_FIELDS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_line(entry)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger's records to stdout as JSON. Idempotent."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python's warnings (emporium.api's UndocumentedStatus, a library's deprecation) as JSON
    # records of the logger py.warnings, not bare lines on stderr.
    logging.captureWarnings(True)
    # botocore and urllib3 narrate every retry at INFO; their warnings still come through.
    for noisy in ("botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
