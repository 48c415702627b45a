"""gunicorn's access log: one JSON line per request, in the shape of the app's own lines."""

from __future__ import annotations

import io
import json
import logging
import re
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from emporium.logs import JsonFormatter, timestamp

ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/api/catalog/products/cast-iron-skillet",
    "REMOTE_ADDR": "10.0.0.7",
    "HTTP_USER_AGENT": "curl/8.5.0",
}
RESPONSE = SimpleNamespace(
    headers=[("Content-Type", "application/json"), ("X-Request-ID", "a" * 32)],
    status_code=200,
    sent=512,
)


def json_logger(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, accesslog: str | None = "-"
) -> Any:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICE_NAME", "catalog")
    conf = runpy.run_module("emporium.gunicorn_conf")
    cfg = Config()
    cfg.set("accesslog", accesslog)
    return conf["JsonLogger"](cfg)


def test_an_access_line_is_one_json_object_with_the_request_s_fields(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    logger = json_logger(monkeypatch, tmp_path)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]  # "-": a stream, stdout
    logger.access(RESPONSE, None, ENVIRON, timedelta(microseconds=1500))
    logger.access(RESPONSE, None, {**ENVIRON, "PATH_INFO": "/healthz"}, timedelta(0))

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry.pop("time"))
    assert entry == {
        "level": "info",
        "service": "catalog",
        "logger": "gunicorn.access",
        "message": "GET /api/catalog/products/cast-iron-skillet 200",
        "method": "GET",
        "path": "/api/catalog/products/cast-iron-skillet",
        "status": 200,
        "durationMs": 1.5,
        "bytes": 512,
        "remote": "10.0.0.7",
        "userAgent": "curl/8.5.0",
        "requestId": "a" * 32,
    }
    assert json.loads(lines[1])["path"] == "/healthz"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_line_is_the_one_the_formatter_makes_of_the_log_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    logger = json_logger(monkeypatch, tmp_path)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]  # "-": a stream, stdout
    logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))
    # A handler that is not a stream (syslog, say) gets a log record instead.
    records = Records()
    logger.access_log.handlers = [records]
    logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))

    written = json.loads(stream.getvalue())
    formatted = json.loads(JsonFormatter("catalog").format(records.records[0]))
    assert list(written) == list(formatted)  # the same fields, in the same order
    assert {**written, "time": None} == {**formatted, "time": None}


def test_no_access_log_configured_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    logger = json_logger(monkeypatch, tmp_path, accesslog=None)
    records = Records()
    logger.access_log.handlers = [records]
    logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))
    assert records.records == []


@pytest.mark.parametrize(
    ("created", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1767225599.9999, "2025-12-31T23:59:59.999Z"),
        (1767225600.25, "2026-01-01T00:00:00.250Z"),
        (1767225600.5, "2026-01-01T00:00:00.500Z"),  # the same second again
    ],
)
def test_timestamps_are_utc_to_the_millisecond(created: float, text: str) -> None:
    assert timestamp(created) == text
