"""The Flask app every service starts from.

`create_service_app` wires the shared pieces in a fixed order: JSON logs, request telemetry
(ids and metrics), tracing (when configured), problem documents, health, and outermost the
metrics port (`/metrics` on `METRICS_PORT`, apart from the service's port). A service adds
its blueprint, its clients and its readiness checks on top (see
`catalog.app`).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

from emporium import metrics, models, problems, tracing
from emporium.config import ServiceSettings
from emporium.health import Health
from emporium.logs import configure_logging, request_id_var, trace_id_var

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_REQUEST_ID = re.compile(models.REQUEST_ID)
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def _new_id() -> str:
    """A new request or trace id: 32 hex digits. Ids must be unique, not secret: drawn as
    OpenTelemetry's SDK draws trace ids, from the process's generator (reseeded by Python in
    every forked worker), without a system call per id as the system's source would cost."""
    return f"{random.getrandbits(128):032x}"


def _matched_route(environ: WSGIEnvironment) -> str | None:
    """The template of the rule the request matched (None when none did), read from the
    request Flask keeps in the environ. Flask drops it when the request ends, after
    start_response: so this is called from start_response."""
    matched = getattr(environ.get("werkzeug.request"), "url_rule", None)
    return None if matched is None else str(matched.rule)


class RequestTelemetry:
    """WSGI middleware around each service: request and trace ids, and request metrics.

    It takes the caller's X-Request-ID and the trace id of a W3C `traceparent` when they are
    well-formed, else makes new ones; binds them for the logs while the request runs; echoes
    X-Request-ID on the response; and records the request by route template and status. Done
    at the WSGI layer, it costs one call per request instead of four Flask hooks.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id: str | None = environ.get("HTTP_X_REQUEST_ID", "")
        if not _REQUEST_ID.fullmatch(request_id or ""):
            request_id = None
        trace_id = tracing.current_trace_id()  # the request's span, when tracing is on
        if trace_id is None:
            trace = _TRACEPARENT.fullmatch(environ.get("HTTP_TRACEPARENT", ""))
            trace_id = trace.group(1) if trace else None
        request_id = request_id or _new_id()
        trace_id = trace_id or _new_id()
        request_token = request_id_var.set(request_id)
        trace_token = trace_id_var.set(trace_id)
        status, route = "500", None

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status, route
            status, route = status_line[:3], _matched_route(environ)
            if route is not None:
                tracing.name_span(environ.get("REQUEST_METHOD", ""), route)
            headers.append(("X-Request-ID", request_id))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            metrics.observe_request(
                environ.get("REQUEST_METHOD", ""),
                route,
                status,
                time.perf_counter() - started,
            )
            # Log lines a worker thread writes between requests must not carry these ids.
            request_id_var.reset(request_token)
            trace_id_var.reset(trace_token)


def create_service_app(
    name: str,
    settings: ServiceSettings,
    *,
    static_folder: str | os.PathLike[str] | None = None,
    health_on_metrics_port: bool = False,
) -> Flask:
    """The service's Flask app. Only a service that serves files names a `static_folder`: Flask
    would otherwise claim /static/<path> in every service. Its files are at /static/<path>
    whatever the folder's name (Flask would take the name). A service whose only Service port
    is the metrics port (fulfillment) serves /healthz and /readyz there too."""
    configure_logging(name, settings.log_level)
    app = Flask(
        name, static_folder=static_folder, static_url_path="/static" if static_folder else None
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.wsgi_app = RequestTelemetry(app.wsgi_app)  # type: ignore[method-assign]
    tracing.init_app(app, name)  # outside the telemetry, so the logs carry the span's trace id
    problems.init_app(app)
    Health().init_app(app)
    # Outermost: scrapes bypass the app.
    metrics.init_app(app, settings.metrics_port, health=health_on_metrics_port)
    return app


def health(app: Flask) -> Health:
    """The app's health registry, to add readiness checks to."""
    registry: Health = app.extensions["emporium.health"]
    return registry
