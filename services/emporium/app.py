"""The Flask app every service starts from.

`create_service_app` wires the shared pieces in a fixed order: JSON logs, request and trace
ids, problem documents, metrics, health. A service adds its blueprint, its clients and its
readiness checks on top (see `catalog.app`).
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, request

from emporium import metrics, problems
from emporium.config import ServiceSettings
from emporium.health import Health
from emporium.logs import configure_logging, request_id_var, trace_id_var

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def _bind_request_ids() -> None:
    """Take the caller's X-Request-ID and W3C trace id when well-formed, else make new ones."""
    request_id = request.headers.get("X-Request-ID", "")
    request_id_var.set(request_id if _REQUEST_ID.fullmatch(request_id) else secrets.token_hex(16))
    trace = _TRACEPARENT.fullmatch(request.headers.get("traceparent", ""))
    trace_id_var.set(trace.group(1) if trace else secrets.token_hex(16))


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = request_id_var.get() or ""
    return response


def _forget_request_ids(_error: BaseException | None) -> None:
    # Log lines a worker thread writes between requests must not carry the last request's ids.
    request_id_var.set(None)
    trace_id_var.set(None)


def create_service_app(name: str, settings: ServiceSettings) -> Flask:
    configure_logging(name, settings.log_level)
    app = Flask(name)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.before_request(_bind_request_ids)
    app.after_request(_echo_request_id)
    app.teardown_request(_forget_request_ids)
    problems.init_app(app)
    metrics.init_app(app)
    Health().init_app(app)
    return app


def health(app: Flask) -> Health:
    """The app's health registry, to add readiness checks to."""
    registry: Health = app.extensions["emporium.health"]
    return registry
