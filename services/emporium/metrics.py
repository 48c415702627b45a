"""Prometheus metrics: requests by route, method and status, latency, cache and event counters.

Under gunicorn every worker is a process, so the metrics live in prometheus_client's
multi-process mode (`PROMETHEUS_MULTIPROC_DIR`, set up by `gunicorn_conf`) and `/metrics`
aggregates all workers. Without that variable (tests, one process) the default registry is used.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response
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


# The labelled series, looked up once each: labels() costs more than the update itself, and
# this runs on every request. Routes are templates, so the set stays small.
_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def observe_request(method: str, route: str | None, status: str, seconds: float) -> None:
    """Record one request; `route` is the matched rule's template (None when nothing matched)."""
    key = (method, route or _UNMATCHED, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (
            HTTP_LATENCY.labels(method, key[1]),
            HTTP_REQUESTS.labels(method, key[1], status),
        )
    series[0].observe(seconds)
    series[1].inc()


def cache_lookup(cache: str, result: str) -> None:
    """Count one read-through cache lookup: `result` is hit, miss or error."""
    counter = _cache_series.get((cache, result))
    if counter is None:
        counter = _cache_series[(cache, result)] = CACHE_LOOKUPS.labels(cache, result)
    counter.inc()


_cache_series: dict[tuple[str, str], Any] = {}


def _exposition() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Serve /metrics. Requests are recorded by `emporium.app.RequestTelemetry`."""
    app.add_url_rule("/metrics", "metrics", _exposition)
