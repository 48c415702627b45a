"""Wiring: the ui's settings, routes, static files and security headers, assembled by
`create_app`.

gunicorn -c python:emporium.gunicorn_conf 'ui.app:create_app()'

Sign-in for shoppers is configured by three settings, set together or not at all:
`UI_OIDC_AUTHORIZE_URL` and `UI_OIDC_TOKEN_URL` (the OpenID issuer's endpoints) and
`UI_OIDC_CLIENT_ID` (this page's client id at the issuer). Without them the page says sign-in
is not configured. The page reads them from `/config.json`; the token endpoint's origin is the
only one besides the store's that the page may call (Content-Security-Policy `connect-src`).

`UI_STATIC_DIR` (development only) serves the page's files from a writable folder instead of
the image's own copy: at start the image's files are copied there, but none that is there
already, so a file skaffold's sync put there (skaffold.yaml, kind) is the one served.
"""

from __future__ import annotations

import mimetypes
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response

from emporium.app import create_service_app
from emporium.config import Env, ServiceSettings
from ui.routes import STATIC_DIR, SignIn, pages

# The platform's MIME table can be wrong (old mime.types, the Windows registry), and browsers
# refuse to run a module served with a type that is not JavaScript.
for _type, _extension in (
    ("text/javascript", ".js"),
    ("text/css", ".css"),
    ("image/svg+xml", ".svg"),
    ("text/html", ".html"),
):
    mimetypes.add_type(_type, _extension)

SIGN_IN_VARIABLES = ("OIDC_AUTHORIZE_URL", "OIDC_TOKEN_URL", "OIDC_CLIENT_ID")
CLIENT_ID = r"[A-Za-z0-9._:-]{1,128}"


@dataclass(frozen=True)
class UiSettings:
    sign_in: SignIn | None
    service: ServiceSettings
    static_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UiSettings:
        own, shared = Env("UI_", environ), Env("", environ)
        sign_in = None
        # One of the three set means sign-in is wanted: then each one is required.
        if any(own.optional(name) for name in SIGN_IN_VARIABLES):
            urls = ("http", "https")
            sign_in = SignIn(
                authorize_url=own.url("OIDC_AUTHORIZE_URL", schemes=urls),
                token_url=own.url("OIDC_TOKEN_URL", schemes=urls),
                client_id=own.text("OIDC_CLIENT_ID", pattern=CLIENT_ID),
            )
        static_dir = own.optional("STATIC_DIR")
        return cls(
            sign_in=sign_in,
            service=ServiceSettings.from_env(shared),
            static_dir=Path(static_dir) if static_dir else None,
        )


def seed_static_dir(folder: Path) -> None:
    """The image's static files copied into `folder`, but none that is there already: a file
    synced in by a developer's tool stays, whichever worker starts (or restarts) later."""
    for source in STATIC_DIR.rglob("*"):
        target = folder / source.relative_to(STATIC_DIR)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def content_security_policy(sign_in: SignIn | None) -> str:
    """Only this origin, for everything: no inline scripts or styles, no framing, no plugins.
    With sign-in, the page may also call the issuer's token endpoint; it goes to the sign-in
    page by navigating, which no directive governs."""
    connect = ["'self'"]
    if sign_in is not None and origin(sign_in.token_url) not in connect:
        connect.append(origin(sign_in.token_url))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(sign_in: SignIn | None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(sign_in),
        "X-Content-Type-Options": "nosniff",
        # The sign-in answer (`/?code=...`) must not travel in a Referer to anyone else.
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the ui app from `environ` (the process environment by default)."""
    settings = UiSettings.from_env(environ)
    if settings.static_dir is not None:
        seed_static_dir(settings.static_dir)
    # Flask's static route (`/static/<path:filename>`) serves this folder, with ETags.
    app = create_service_app(
        "ui", settings.service, static_folder=settings.static_dir or STATIC_DIR
    )
    app.extensions["ui.sign_in"] = settings.sign_in
    headers = security_headers(settings.sign_in)

    def add_security_headers(response: Response) -> Response:
        response.headers.update(headers)
        return response

    app.after_request(add_security_headers)  # runs for error responses too
    app.register_blueprint(pages)
    return app
