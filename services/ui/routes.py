"""The ui's HTTP routes: the app's page and the product images.

The app's other files are served by Flask's own static route (`/static/<path:filename>`, see
`ui.app`), which answers with ETags and conditional GETs. Anything else is a 404 problem
document: the ui never proxies the APIs, the edge routes `/api/...` to the services.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory

from emporium.problems import Problem
from ui.placeholder import PRODUCT_ID, product_svg

STATIC_DIR = Path(__file__).parent / "static"
IMAGE_MAX_AGE = 86400  # placeholders depend on the id alone

pages = Blueprint("ui", __name__)


@pages.get("/")
def index() -> Response:
    response = send_from_directory(STATIC_DIR, "index.html")
    del response.headers["Content-Disposition"]  # a page, not a download of index.html
    # Always revalidate (cheap, thanks to the ETag): the page names the modules to load.
    response.cache_control.no_cache = True
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
