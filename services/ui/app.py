"""Wiring: the ui's routes, static files and security headers, assembled by `create_app`.

gunicorn -c python:emporium.gunicorn_conf 'ui.app:create_app()'
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping

from flask import Flask, Response

from emporium.app import create_service_app
from emporium.config import Env, ServiceSettings
from ui.routes import STATIC_DIR, pages

# The platform's MIME table can be wrong (old mime.types, the Windows registry), and browsers
# refuse to run a module served with a type that is not JavaScript.
for _type, _extension in (
    ("text/javascript", ".js"),
    ("text/css", ".css"),
    ("image/svg+xml", ".svg"),
    ("text/html", ".html"),
):
    mimetypes.add_type(_type, _extension)

# Only this origin, for everything: no inline scripts or styles, no framing, no plugins.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def add_security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the ui app from `environ` (the process environment by default)."""
    settings = ServiceSettings.from_env(Env("", environ))
    # Flask's static route (`/static/<path:filename>`) serves this folder, with ETags.
    app = create_service_app("ui", settings, static_folder=STATIC_DIR)
    app.after_request(add_security_headers)  # runs for error responses too
    app.register_blueprint(pages)
    return app
