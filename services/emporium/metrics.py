"""Prometheus metrics: every service's requests by route, method and status, and their latency.

A counter that one service alone keeps lives in that service (catalog's cache lookups in
`catalog.cache`, fulfillment's events in `fulfillment.worker`).

`/metrics` is served on a port of its own (`METRICS_PORT`, 9090), never on the service's port:
the public entry points (the edge, the ALB, API Gateway) reach only the service port, and the
scraper reaches the metrics port. gunicorn listens on both (see `gunicorn_conf`); `MetricsPort`
sends what arrives on the metrics port to the exposition and nothing else.

Under gunicorn every worker is a process, so the metrics live in prometheus_client's
multi-process mode (`PROMETHEUS_MULTIPROC_DIR`, set up by `gunicorn_conf`) and `/metrics`
aggregates all workers. Without that variable (tests, one process) the default registry is used.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from emporium.problems import PROBLEM_MEDIA_TYPE, problem_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

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


def exposition() -> bytes:
    """The text exposition of every metric, added up over gunicorn's workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return generate_latest(registry)


# The local port of each open connection, forgotten with the connection's socket object.
_socket_ports: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def local_port(environ: WSGIEnvironment) -> int | None:
    """The port the request arrived on: the listening socket's, under gunicorn.

    Never the Host header's (SERVER_PORT is taken from it, so a client could name any port);
    only outside gunicorn (the Flask test client) is SERVER_PORT all there is.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        # A kept-alive connection carries many requests: ask the kernel once per connection.
        try:
            port = _socket_ports.get(sock)
        except TypeError:  # a socket-like object that cannot be weakly referenced
            port = None
        if port is not None:
            return port
        try:
            port = int(sock.getsockname()[1])
        except (OSError, IndexError, TypeError):
            return None
        with contextlib.suppress(TypeError):
            _socket_ports[sock] = port
        return port
    try:
        return int(environ.get("SERVER_PORT", ""))
    except ValueError:
        return None


HEALTH_PATHS = ("/healthz", "/readyz")


class MetricsPort:
    """WSGI middleware: requests on the metrics port get `/metrics` (and a 404 for any other
    path); requests on every other port go to the service, which has no `/metrics`.

    With `health`, the metrics port also passes `/healthz` and `/readyz` to the service: for a
    service that has no port of its own to offer (fulfillment), so that its probes and
    `helm test` reach it where its Service and NetworkPolicy do, on the metrics port."""

    def __init__(self, wsgi_app: WSGIApplication, port: int, *, health: bool = False) -> None:
        self.wsgi_app = wsgi_app
        self.port = port
        self.passed = HEALTH_PATHS if health else ()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if local_port(environ) != self.port:
            return self.wsgi_app(environ, start_response)
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            if path == "/metrics":
                body = exposition()
                start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
                return [body]
            if path in self.passed:
                return self.wsgi_app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", PROBLEM_MEDIA_TYPE)])
        served = ", ".join(("/metrics", *self.passed))
        return [problem_body(404, f"The metrics port serves GET {served} only.")]


def init_app(app: Flask, port: int, *, health: bool = False) -> None:
    """Serve /metrics on `port`, outside the app, and with `health` also the app's /healthz and
    /readyz. Requests are recorded by `emporium.app.RequestTelemetry`."""
    app.wsgi_app = MetricsPort(app.wsgi_app, port, health=health)  # type: ignore[method-assign]
