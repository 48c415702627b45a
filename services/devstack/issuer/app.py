"""Wiring: the development issuer's settings, key, codes and routes, assembled by `create_app`.

    gunicorn -c python:emporium.gunicorn_conf 'devstack.issuer.app:create_app()'

Settings (prefix `OIDC_`): `OIDC_ISSUER_URL`, the issuer's public URL and the `iss` of its
tokens (`http://127.0.0.1:8086`); `OIDC_CLIENT_ID`, the one client it serves and the `aud` of
its tokens (`emporium-ui`); `OIDC_REDIRECT_ORIGINS`, the comma-separated origins a sign-in may
return to (`http://localhost:8080,http://127.0.0.1:8080`), which are also the origins allowed
to call the token endpoint from a browser.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response

from devstack.issuer.routes import Issuer, dev, pages
from devstack.issuer.tokens import AuthorizationCodes, Clock, SigningKey
from emporium.app import create_service_app
from emporium.config import ConfigError, Env, ServiceSettings

DEFAULT_ISSUER_URL = "http://127.0.0.1:8086"
DEFAULT_REDIRECT_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"
CLIENT_ID = r"[A-Za-z0-9._:-]{1,128}"
STATIC_DIR = Path(__file__).parent / "static"


def origin_of(entry: str) -> str | None:
    """`scheme://host[:port]` of an origin written alone (a trailing / allowed), else None."""
    parts = urlsplit(entry.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class IssuerSettings:
    issuer_url: str
    client_id: str
    redirect_origins: tuple[str, ...]
    service: ServiceSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IssuerSettings:
        own, shared = Env("OIDC_", environ), Env("", environ)
        issuer_url = own.url("ISSUER_URL", DEFAULT_ISSUER_URL, schemes=("http", "https"))
        parts = urlsplit(issuer_url)
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ConfigError(
                f"OIDC_ISSUER_URL={issuer_url!r} is malformed: expected a URL with no query, "
                "fragment or user"
            )
        origins = []
        for entry in own.text("REDIRECT_ORIGINS", DEFAULT_REDIRECT_ORIGINS).split(","):
            origin = origin_of(entry)
            if origin is None:
                raise ConfigError(
                    f"OIDC_REDIRECT_ORIGINS has {entry.strip()!r}, which is not an origin like "
                    "http://localhost:8080"
                )
            origins.append(origin)
        return cls(
            # `iss` must equal what the services expect to the character: one form, no final /.
            issuer_url=issuer_url.rstrip("/"),
            client_id=own.text("CLIENT_ID", "emporium-ui", pattern=CLIENT_ID),
            redirect_origins=tuple(origins),
            service=ServiceSettings.from_env(shared),
        )


def security_headers(settings: IssuerSettings) -> dict[str, str]:
    # The sign-in form posts here, and the answer redirects to the store: form-action must
    # allow the store's origins too, or the browser stops at the redirect.
    form_targets = " ".join(("'self'", *settings.redirect_origins))
    policy = "; ".join(
        (
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            f"form-action {form_targets}",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # The sign-in page's address carries the state and the challenge: keep them here.
        "Referrer-Policy": "no-referrer",
    }


def create_app(environ: Mapping[str, str] | None = None, *, clock: Clock = time.time) -> Flask:
    """Build the issuer from `environ` (the process environment by default); a new key each time."""
    settings = IssuerSettings.from_env(environ)
    app = create_service_app("oidc-issuer", settings.service, static_folder=STATIC_DIR)
    app.extensions["issuer"] = Issuer(
        url=settings.issuer_url,
        client_id=settings.client_id,
        redirect_origins=settings.redirect_origins,
        key=SigningKey(),
        codes=AuthorizationCodes(clock),
        clock=clock,
    )
    headers = security_headers(settings)

    def add_security_headers(response: Response) -> Response:
        response.headers.update(headers)
        return response

    app.after_request(add_security_headers)
    app.register_blueprint(pages)
    app.register_blueprint(dev.blueprint)
    return app
