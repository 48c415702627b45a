"""Errors as RFC 9457 problem documents (`application/problem+json`).

`Problem` is the exception a view raises for a domain error. `init_app` renders it, every
werkzeug `HTTPException` (404, 405, 413, 415, ...), malformed JSON and any unexpected exception
the same way, so a client never sees an HTML page or a stack trace.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://emporium.dev/problems/"


class Problem(Exception):
    """A domain error that becomes a problem document.

    `type_` is a short slug (`stale-version`) turned into a URI; `extra` fields are added to the
    document as RFC 9457 extension members; `headers` go on the response (`Retry-After`, ...).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra


def problem_body(status: int, detail: str, *, title: str | None = None) -> bytes:
    """A bare problem document, for answers made outside Flask (gunicorn's own errors, the
    metrics port)."""
    document = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return (json.dumps(document) + "\n").encode()


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    document: dict[str, Any] = {
        "type": PROBLEM_BASE + type_ if type_ else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = Response(json.dumps(document) + "\n", status=status, mimetype=PROBLEM_MEDIA_TYPE)
    response.headers.update(headers or {})
    return response


def _render_problem(error: Problem) -> Response:
    return problem_response(
        error.status,
        error.detail,
        type_=error.type_,
        title=error.title,
        headers=error.headers,
        **error.extra,
    )


def _render_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {
        key: value
        for key, value in error.get_headers()
        if key.lower() not in ("content-type", "content-length")
    }
    return problem_response(status, error.description or HTTPStatus(status).phrase, headers=headers)


def _render_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem_response(500, "The server failed to handle the request; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, _render_problem)
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(Exception, _render_unexpected)
