"""Prometheus metrics: requests by route, method and status, latency, cache and event counters.

Under gunicorn every worker is a process, so the metrics live in prometheus_client's
multi-process mode (`PROMETHEUS_MULTIPROC_DIR`, set up by `gunicorn_conf`) and `/metrics`
aggregates all workers. Without that variable (tests, one process) the default registry is used.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CACHE_LOOKUPS = Counter(
    "cache_lookups_total",
    "Read-through cache lookups by result (hit, miss, error)",
    ["cache", "result"],
)
EVENTS_PROCESSED = Counter(
    "events_processed_total", "Events handled by a consumer", ["stream", "type", "outcome"]
)
DEAD_LETTERS = Counter("dead_letters_total", "Messages moved to a dead-letter stream", ["stream"])

_UNMATCHED = "<unmatched>"  # 404s are one series, not one per path tried


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("request_started")
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else _UNMATCHED
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    return response


def _exposition() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", _exposition)
