"""What every service gets from the shared library: JSON logs with request and trace ids,
health and readiness, Prometheus metrics labelled by route, DynamoDB failures as problems,
and its Redis and DynamoDB clients."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
from botocore.exceptions import ClientError, EndpointConnectionError
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from tests.unit.emporium.shop import ITEM

import emporium.app
from emporium import health
from emporium.background import PeriodicTask, PerProcess, after_fork_in_child
from emporium.config import Env, RedisSettings, ServiceSettings
from emporium.dynamodb import DynamoDBSettings, dynamodb_client
from emporium.logs import JsonFormatter, json_line
from emporium.redis import redis_client

METRICS = "http://localhost:9090"  # /metrics is served on METRICS_PORT (9090) only

LogLines = Callable[[], list[dict[str, Any]]]
Problem = Callable[..., dict[str, Any]]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines(app: Flask) -> Iterator[LogLines]:
    """The JSON objects the app's log handler (on stdout) writes from now on, one per line."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(handlers) == 1
    (handler,) = handlers
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stdout
    stream = io.StringIO()
    previous = handler.setStream(stream)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    try:
        yield lines
    finally:
        if previous is not None:
            handler.setStream(previous)


@pytest.fixture
def logging_view(app: Flask) -> Flask:
    """The app with a route that writes one log line while it serves a request."""

    def view() -> str:
        logging.getLogger("shop.test").info("serving", extra={"sku": "enamel-mug"})
        return "ok"

    app.add_url_rule("/log", "log", view)
    return app


def lines_saying(lines: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"] == message]


# Logs


def test_a_log_line_written_while_serving_is_json_with_the_request_and_trace_ids(
    logging_view: Flask, log_lines: LogLines
) -> None:
    response = logging_view.test_client().get(
        "/log", headers={"X-Request-ID": "req-42", "traceparent": TRACEPARENT}
    )
    assert response.status_code == 200
    (line,) = lines_saying(log_lines(), "serving")
    assert line["requestId"] == "req-42"
    assert line["traceId"] == TRACE_ID
    assert line["level"] == "info"
    assert line["service"] == "shop"
    assert line["logger"] == "shop.test"
    assert line["sku"] == "enamel-mug"
    assert line["time"].endswith("Z")


def test_a_request_without_ids_is_logged_with_new_ones(
    logging_view: Flask, log_lines: LogLines
) -> None:
    response = logging_view.test_client().get("/log")
    (line,) = lines_saying(log_lines(), "serving")
    assert line["requestId"] == response.headers["X-Request-ID"]
    assert NEW_ID.fullmatch(line["requestId"])
    assert NEW_ID.fullmatch(line["traceId"])
    assert line["requestId"] != line["traceId"]  # two ids, not one twice


@pytest.mark.parametrize(
    "traceparent",
    [
        f"01-{TRACE_ID}-00f067aa0ba902b7-01",  # unknown version
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",  # upper case
        f"00-{TRACE_ID}-01",  # no parent id
        TRACE_ID,
    ],
)
def test_a_malformed_traceparent_is_replaced_by_a_new_trace_id(
    logging_view: Flask, log_lines: LogLines, traceparent: str
) -> None:
    logging_view.test_client().get("/log", headers={"traceparent": traceparent})
    (line,) = lines_saying(log_lines(), "serving")
    assert NEW_ID.fullmatch(line["traceId"])
    assert line["traceId"] != TRACE_ID


def test_a_line_logged_after_the_request_carries_no_ids(
    logging_view: Flask, log_lines: LogLines
) -> None:
    logging_view.test_client().get("/log", headers={"X-Request-ID": "req-42"})
    logging.getLogger("shop.test").warning("between requests")
    (line,) = lines_saying(log_lines(), "between requests")
    assert "requestId" not in line
    assert "traceId" not in line


def test_a_log_line_with_fields_orjson_refuses_is_still_written_whole() -> None:
    # orjson writes the lines; an integer beyond 64 bits is its to refuse, and json's to write.
    huge = 2**70
    assert json.loads(json_line({"message": "big", "count": huge})) == {
        "message": "big",
        "count": huge,
    }
    # Keys that are not text, and values no encoder knows, are written as their str().
    line = json.loads(json_line({"message": "odd", 7: "seven", "at": threading.Lock}))
    assert line == {"message": "odd", "7": "seven", "at": str(threading.Lock)}
    both = json.loads(json_line({"message": "both", 7: huge}))
    assert both == {"message": "both", "7": huge}


def test_an_unexpected_exception_is_logged_with_its_traceback_and_request_id(
    app: Flask, log_lines: LogLines
) -> None:
    def explode() -> str:
        raise RuntimeError("the disk is on fire")

    app.add_url_rule("/explode", "explode", explode)
    response = app.test_client().get("/explode", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    (line,) = lines_saying(log_lines(), "unhandled error")
    assert line["level"] == "error"
    assert line["requestId"] == "req-500"
    assert "RuntimeError: the disk is on fire" in line["exception"]


# Request ids


@pytest.mark.parametrize("request_id", ["req-42", "3f2a9c1e.b7:trace_1", "x" * 128])
def test_a_well_formed_request_id_is_echoed(client: FlaskClient, request_id: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("has spaces", id="spaces"),
        pytest.param("x" * 129, id="too-long"),
        pytest.param("<script>", id="markup"),
        pytest.param("req/42", id="slash"),
    ],
)
def test_a_malformed_request_id_is_replaced(client: FlaskClient, request_id: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": request_id})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


def test_each_request_without_an_id_gets_a_new_one(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert NEW_ID.fullmatch(first)
    assert first != second


def test_error_responses_carry_the_request_id_too(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"X-Request-ID": "req-404"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "req-404"


# Health and readiness


@pytest.fixture
def draining() -> Iterator[None]:
    """The process has received SIGTERM and is draining."""
    health.DRAINING.set()
    try:
        yield
    finally:
        health.DRAINING.clear()


def test_healthz_answers_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_every_dependency_answers(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"dynamodb": "ok", "redis": "ok"}}


def test_readyz_is_503_when_dynamodb_fails(
    app: Flask, client: FlaskClient, problem: Problem
) -> None:
    shelf = app.extensions["shop"]
    shelf.client().delete_table(TableName=shelf.table)
    document = problem(client.get("/readyz"), 503)
    assert document["checks"] == {"dynamodb": "failing", "redis": "ok"}


def test_readyz_stays_ready_but_degraded_when_only_redis_fails(
    client: FlaskClient, redis_server: fakeredis.FakeServer
) -> None:
    redis_server.connected = False
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"dynamodb": "ok", "redis": "degraded"},
    }


def test_readyz_is_503_when_draining(client: FlaskClient, problem: Problem, draining: None) -> None:
    problem(client.get("/readyz"), 503)


def test_healthz_stays_ok_while_draining(client: FlaskClient, draining: None) -> None:
    assert client.get("/healthz").status_code == 200


# Metrics


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics from this process's registry, as outside gunicorn."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def exposed_samples(client: FlaskClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of `name` that /metrics exposes, by their sorted labels."""
    response = client.get("/metrics", base_url=METRICS)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
        if sample.name == name
    }


class ListeningSocket:
    """What gunicorn puts in `gunicorn.socket`: the accepted connection, bound to a local port."""

    def __init__(self, port: int) -> None:
        self.port = port

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


@pytest.mark.usefixtures("single_process")
def test_metrics_are_served_on_the_metrics_port_only(client: FlaskClient) -> None:
    assert client.get("/metrics", base_url=METRICS).status_code == 200
    on_service_port = client.get("/metrics")
    assert on_service_port.status_code == 404
    assert on_service_port.mimetype == "application/problem+json"
    assert b"http_requests_total" not in on_service_port.data


def test_the_metrics_port_serves_nothing_but_metrics(client: FlaskClient) -> None:
    for path in ("/api/shop/items/mug", "/healthz", "/readyz", "/metrics/"):
        response = client.get(path, base_url=METRICS)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"
    assert client.post("/metrics", base_url=METRICS).status_code == 404


def test_a_service_may_serve_its_health_on_the_metrics_port_too() -> None:
    app = emporium.app.create_service_app(
        "shop", ServiceSettings.from_env(Env("", {})), health_on_metrics_port=True
    )
    app.add_url_rule("/api/shop/items", "items", lambda: {"items": []})
    client = app.test_client()
    assert client.get("/healthz", base_url=METRICS).json == {"status": "ok"}
    assert client.get("/readyz", base_url=METRICS).json == {"status": "ready", "checks": {}}
    assert client.head("/readyz", base_url=METRICS).status_code == 200
    assert client.get("/metrics", base_url=METRICS).status_code == 200
    refused = client.get("/api/shop/items", base_url=METRICS)
    assert refused.status_code == 404  # the service's API stays off the metrics port
    assert "/metrics, /healthz, /readyz" in json.loads(refused.data)["detail"]
    assert client.get("/metrics").status_code == 404  # and metrics off the service's port


def test_under_gunicorn_the_listening_port_decides_not_the_host_header(
    client: FlaskClient,
) -> None:
    # The Host header names the metrics port, but the connection came in on the service port.
    spoofed = client.get(
        "/metrics", base_url=METRICS, environ_overrides={"gunicorn.socket": ListeningSocket(8080)}
    )
    assert spoofed.status_code == 404
    real = client.get(
        "/metrics",
        base_url="http://localhost:8080",
        environ_overrides={"gunicorn.socket": ListeningSocket(9090)},
    )
    assert real.status_code == 200


@pytest.mark.usefixtures("single_process")
def test_requests_are_counted_by_route_template_not_raw_path(
    client: FlaskClient, counter: Callable[..., Any]
) -> None:
    route = ITEM
    served = counter("http_requests_total", method="GET", route=route, status="404")
    client.get("/api/shop/items/no-such-product")
    client.get("/api/shop/items/another-missing-product")
    assert served.delta == 2

    samples = exposed_samples(client, "http_requests_total")
    routes = {dict(labels)["route"] for labels in samples}
    assert (("method", "GET"), ("route", route), ("status", "404")) in samples
    assert not any("no-such-product" in r or "another-missing" in r for r in routes)


@pytest.mark.usefixtures("single_process")
def test_unmatched_paths_share_one_route_label(
    client: FlaskClient, counter: Callable[..., Any]
) -> None:
    unmatched = counter("http_requests_total", method="GET", route="<unmatched>", status="404")
    client.get("/wp-admin/setup.php")
    client.get("/.env")
    assert unmatched.delta == 2
    routes = {dict(labels)["route"] for labels in exposed_samples(client, "http_requests_total")}
    assert "/wp-admin/setup.php" not in routes
    assert "/.env" not in routes


@pytest.mark.usefixtures("single_process")
def test_request_latency_is_observed_by_route(
    client: FlaskClient, counter: Callable[..., Any]
) -> None:
    observed = counter("http_request_duration_seconds_count", method="GET", route=ITEM)
    client.get("/api/shop/items/mug")
    assert observed.delta == 1


# DynamoDB failing


class FailingDynamoDB:
    """A DynamoDB client whose every read fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_item(self, **_request: Any) -> Any:
        raise self.error


def make_dynamodb_fail(app: Flask, error: Exception) -> None:
    app.extensions["shop"].client = lambda: FailingDynamoDB(error)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} secret detail"}}, "GetItem")


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(client_error("ProvisionedThroughputExceededException"), id="throttled"),
        pytest.param(client_error("InternalServerError"), id="internal-error"),
        pytest.param(
            EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
            id="unreachable",
        ),
    ],
)
def test_dynamodb_unavailable_is_a_503_problem_with_retry_after(
    app: Flask, problem: Problem, error: Exception
) -> None:
    make_dynamodb_fail(app, error)
    response = app.test_client().get("/api/shop/items/mug")
    document = problem(response, 503)
    assert document["type"].endswith("/dependency-unavailable")
    assert response.headers["Retry-After"] == "1"
    assert "secret detail" not in response.get_data(as_text=True)


def test_a_dynamodb_error_of_a_malformed_request_is_a_500_problem(
    app: Flask, problem: Problem
) -> None:
    make_dynamodb_fail(app, client_error("ValidationException"))
    response = app.test_client().get("/api/shop/items/mug")
    problem(response, 500)
    assert "Retry-After" not in response.headers
    assert "secret detail" not in response.get_data(as_text=True)


# The clients


def test_the_redis_client_is_made_from_its_settings() -> None:
    settings = RedisSettings(
        url="rediss://cache.internal:6380/2",
        auth_token="auth-token-of-redis",
        socket_timeout=0.25,
        connect_timeout=0.5,
        health_check_interval=15,
    )
    pool = redis_client(settings, client_name="catalog").connection_pool
    assert pool.connection_class is redis.SSLConnection  # rediss:// is TLS
    options = pool.connection_kwargs
    assert (options["host"], options["port"], options["db"]) == ("cache.internal", 6380, 2)
    assert options["password"] == "auth-token-of-redis"
    assert options["socket_timeout"] == 0.25
    assert options["socket_connect_timeout"] == 0.5
    assert options["health_check_interval"] == 15
    assert options["client_name"] == "catalog"


def dynamodb_settings(**changes: Any) -> DynamoDBSettings:
    settings = DynamoDBSettings(
        region="eu-west-1",
        endpoint_url="http://localhost:8000",
        connect_timeout=1.0,
        read_timeout=2.0,
        max_attempts=3,
    )
    return dataclasses.replace(settings, **changes)


@pytest.mark.usefixtures("aws")
def test_the_dynamodb_client_is_made_from_its_settings() -> None:
    client = dynamodb_client(dynamodb_settings())
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://localhost:8000"
    assert client.meta.config.connect_timeout == 1.0
    assert client.meta.config.read_timeout == 2.0
    assert client.meta.config.retries["mode"] == "standard"


@pytest.mark.usefixtures("aws")
def test_dynamodb_max_attempts_counts_every_attempt_including_the_first() -> None:
    client = dynamodb_client(dynamodb_settings(max_attempts=1))
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_a_per_process_value_is_made_once_in_each_process(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []

    def make() -> int:
        made.append(len(made) + 1)
        return made[-1]

    value = PerProcess(make)
    assert value.get() == 1
    assert value.get() == 1
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a worker forked from this process
    assert value.get() == 2
    assert value.get() == 2
    assert made == [1, 2]


class Forked:
    def __init__(self) -> None:
        self.forks = 0
        after_fork_in_child(self.forked)

    def forked(self) -> None:
        self.forks += 1


def test_an_after_fork_hook_runs_in_the_child_only_and_does_not_keep_its_object() -> None:
    watched = Forked()
    pid = os.fork()
    if pid == 0:  # the child: its exit code says what it saw
        os._exit(0 if watched.forks == 1 else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert watched.forks == 0
    gone = weakref.ref(watched)
    del watched
    assert gone() is None  # the hook holds it weakly: a later fork calls nothing


class CountingSocket(ListeningSocket):
    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.asked = 0

    def getsockname(self) -> tuple[str, int]:
        self.asked += 1
        return super().getsockname()


def test_the_port_of_a_kept_alive_connection_is_asked_of_the_kernel_once(
    client: FlaskClient,
) -> None:
    connection = CountingSocket(9090)
    for _ in range(3):
        answer = client.get(
            "/metrics", base_url=METRICS, environ_overrides={"gunicorn.socket": connection}
        )
        assert answer.status_code == 200
    assert connection.asked == 1
    other = CountingSocket(8080)  # another connection, on the service port: asked anew
    spoofed = client.get("/metrics", base_url=METRICS, environ_overrides={"gunicorn.socket": other})
    assert (spoofed.status_code, other.asked) == (404, 1)


def test_forked_workers_draw_different_ids() -> None:
    # gunicorn forks its workers from one loaded app: their ids must not repeat each other's.
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.write(writer, emporium.app._new_id().encode())
        os._exit(0)
    os.close(writer)
    assert os.waitpid(pid, 0)[1] == 0
    theirs = os.read(reader, 64).decode()
    os.close(reader)
    ours = emporium.app._new_id()
    assert NEW_ID.fullmatch(theirs)
    assert NEW_ID.fullmatch(ours)
    assert theirs != ours


def test_a_periodic_task_runs_until_stopped_and_not_after() -> None:
    runs: list[int] = []
    ran_thrice = threading.Event()

    def work() -> None:
        runs.append(len(runs) + 1)
        if len(runs) == 3:
            ran_thrice.set()

    task = PeriodicTask("every-moment", 0.001, work)
    task.ensure_started()
    task.ensure_started()  # once per process, however often called
    assert ran_thrice.wait(30)
    assert [t.name for t in threading.enumerate()].count("every-moment") == 1
    assert not task.stopping()
    task.stop()
    assert task.stopping()
    assert "every-moment" not in [t.name for t in threading.enumerate()]
    task.ensure_started()  # stopped for good in this process
    assert "every-moment" not in [t.name for t in threading.enumerate()]


def test_stopping_a_periodic_task_wakes_it_from_its_wait() -> None:
    task = PeriodicTask("hourly", 3600, lambda: None)
    task.ensure_started()
    stopper = threading.Thread(target=task.stop)
    stopper.start()
    stopper.join(30)  # an hour's interval: only a woken thread lets stop() return in time
    assert not stopper.is_alive()
    assert "hourly" not in [t.name for t in threading.enumerate()]
