"""The ui's HTTP routes: the app's page, its settings (`/config.json`) and the product images.

The app's other files are served by Flask's own static route (`/static/<path:filename>`, see
`ui.app`), which answers with ETags and conditional GETs. Anything else is a 404 problem
document: the ui never proxies the APIs, the edge routes `/api/...` to the services.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory

from emporium.problems import Problem
from ui.placeholder import PRODUCT_ID, product_svg

STATIC_DIR = Path(__file__).parent / "static"
IMAGE_MAX_AGE = 86400  # placeholders depend on the id alone


@dataclass(frozen=True)
class SignIn:
    """Where the page signs shoppers in: an OpenID issuer's endpoints and its client id there."""

    authorize_url: str
    token_url: str
    client_id: str


pages = Blueprint("ui", __name__)


@pages.get("/")
def index() -> Response:
    # The app's static folder: STATIC_DIR, or UI_STATIC_DIR's copy of it (see ui.app).
    response = send_from_directory(current_app.static_folder or STATIC_DIR, "index.html")
    del response.headers["Content-Disposition"]  # a page, not a download of index.html
    # Always revalidate (cheap, thanks to the ETag): the page names the modules to load.
    response.cache_control.no_cache = True
    return response


@pages.get("/config.json")
def config() -> Response:
    """The settings the page needs: where to sign in, or null when sign-in is not configured."""
    sign_in: SignIn | None = current_app.extensions["ui.sign_in"]
    response = jsonify(
        signIn=None
        if sign_in is None
        else {
            "authorizeUrl": sign_in.authorize_url,
            "tokenUrl": sign_in.token_url,
            "clientId": sign_in.client_id,
        }
    )
    response.cache_control.no_cache = True  # settings change with a restart, not a release
    return response


@pages.get("/images/products/<product_id>.svg")
def product_image(product_id: str) -> Response:
    if not PRODUCT_ID.fullmatch(product_id):
        raise Problem(404, f"No resource matches {request.path}.")
    body = product_svg(product_id).encode()
    response = Response(body, mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = IMAGE_MAX_AGE
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    response.make_conditional(request)  # 304 when the browser has it already
    return response
