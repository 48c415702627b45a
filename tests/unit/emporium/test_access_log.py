"""gunicorn's access log: one JSON line per request, in the shape of the app's own lines."""

from __future__ import annotations

import io
import json
import logging
import re
import runpy
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from tests.waits import eventually

from emporium.config import ConfigError
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


@pytest.fixture
def json_logger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Makes gunicorn's logger as `emporium.gunicorn_conf` configures it (under `env`); each
    one's writing thread is stopped after the test."""
    made: list[Any] = []

    def make(accesslog: str | None = "-", **env: str) -> Any:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        monkeypatch.setenv("SERVICE_NAME", "catalog")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        conf = runpy.run_module("emporium.gunicorn_conf")
        cfg = Config()
        cfg.set("accesslog", accesslog)
        made.append(conf["JsonLogger"](cfg))
        return made[-1]

    yield make
    for logger in made:
        logger.close_access()


def streamed(logger: Any) -> io.StringIO:
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]  # "-": a stream, stdout
    return stream


def test_an_access_line_is_one_json_object_with_the_request_s_fields(
    json_logger: Callable[..., Any],
) -> None:
    logger = json_logger(ACCESS_LOG_FLUSH_SECONDS="0")
    stream = streamed(logger)
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
    json_logger: Callable[..., Any],
) -> None:
    logger = json_logger()
    stream = streamed(logger)
    logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))
    logger.flush_access()
    # A handler that is not a stream (syslog, say) gets a log record instead.
    records = Records()
    logger.access_log.handlers = [records]
    logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))

    written = json.loads(stream.getvalue())
    formatted = json.loads(JsonFormatter("catalog").format(records.records[0]))
    assert list(written) == list(formatted)  # the same fields, in the same order
    assert {**written, "time": None} == {**formatted, "time": None}


def test_no_access_log_configured_writes_nothing(json_logger: Callable[..., Any]) -> None:
    logger = json_logger(accesslog=None)
    records = Records()
    logger.access_log.handlers = [records]
    logger.access(RESPONSE, None, ENVIRON, timedelta(milliseconds=3))
    assert records.records == []


def test_lines_wait_to_be_written_together_in_the_order_they_were_made(
    json_logger: Callable[..., Any],
) -> None:
    logger = json_logger(ACCESS_LOG_FLUSH_SECONDS="60")
    stream = streamed(logger)
    paths = [f"/api/catalog/products/p{number}" for number in range(5)]
    for path in paths:
        logger.access(RESPONSE, None, {**ENVIRON, "PATH_INFO": path}, timedelta(0))
    assert stream.getvalue() == ""  # waiting: one write for all of them, not one each
    logger.flush_access()
    assert [json.loads(line)["path"] for line in stream.getvalue().splitlines()] == paths


def test_waiting_lines_are_written_within_the_interval_without_another_request(
    json_logger: Callable[..., Any],
) -> None:
    logger = json_logger(ACCESS_LOG_FLUSH_SECONDS="0.05")
    stream = streamed(logger)
    logger.access(RESPONSE, None, ENVIRON, timedelta(0))
    eventually(lambda: stream.getvalue().count("\n") == 1, "the line written", timeout=5)


def test_a_full_buffer_is_written_at_once(json_logger: Callable[..., Any]) -> None:
    logger = json_logger(ACCESS_LOG_FLUSH_SECONDS="60")
    stream = streamed(logger)
    long_agent = {**ENVIRON, "HTTP_USER_AGENT": "x" * 1000}
    for _ in range(100):  # 100 lines of over a kilobyte: past the 64 KiB the buffer holds
        logger.access(RESPONSE, None, long_agent, timedelta(0))
    written = stream.getvalue().count("\n")
    assert 50 <= written < 100  # written when full, the rest still waiting
    logger.flush_access()
    assert stream.getvalue().count("\n") == 100


def test_a_worker_that_exits_writes_what_waits_and_stops_its_thread(
    json_logger: Callable[..., Any],
) -> None:
    logger = json_logger(ACCESS_LOG_FLUSH_SECONDS="60")
    stream = streamed(logger)
    logger.access(RESPONSE, None, ENVIRON, timedelta(0))
    flusher = next(t for t in threading.enumerate() if t.name == "access-log")
    conf = runpy.run_module("emporium.gunicorn_conf")
    conf["worker_exit"](None, SimpleNamespace(log=logger))
    assert stream.getvalue().count("\n") == 1
    assert not flusher.is_alive()


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_bad_flush_interval_stops_start_up_naming_the_setting(
    json_logger: Callable[..., Any], value: str
) -> None:
    with pytest.raises(ConfigError, match="ACCESS_LOG_FLUSH_SECONDS"):
        json_logger(ACCESS_LOG_FLUSH_SECONDS=value)


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
