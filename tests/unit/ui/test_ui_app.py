"""The ui service over HTTP: its page, settings, static files, product images, headers and
errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from emporium.config import ConfigError
from ui.app import create_app

Problem = Callable[..., dict[str, Any]]
SVG = "{http://www.w3.org/2000/svg}"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def parse_svg(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 - the ui's own output, not untrusted input


def csp_directives(response: TestResponse) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


# The page and its files


def test_index_is_the_app_page_and_is_always_revalidated(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Content-Disposition" not in response.headers
    assert '<script type="module" src="/static/js/app.js">' in response.get_data(as_text=True)
    etag = response.headers["ETag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/static/js/app.js", "text/javascript"),
        ("/static/js/pages/checkout.js", "text/javascript"),
        ("/static/css/app.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files_have_their_content_type_and_an_etag(
    client: FlaskClient, path: str, mimetype: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    revalidated = client.get(path, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert revalidated.get_data() == b""


def test_head_of_a_static_file_has_no_body(client: FlaskClient) -> None:
    response = client.head("/static/js/api.js")
    assert response.status_code == 200
    assert response.get_data() == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/js/",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/../../emporium/app.py",
        "/index.html",
    ],
)
def test_unknown_static_files_are_problem_documents(
    client: FlaskClient, problem: Problem, path: str
) -> None:
    problem(client.get(path), 404)


# Product images


def test_a_product_image_is_a_labelled_svg(client: FlaskClient) -> None:
    response = client.get("/images/products/cast-iron-skillet.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    root = parse_svg(response.get_data())
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Placeholder image for cast iron skillet"
    assert root.get("aria-labelledby") == title.get("id")
    text = root.find(f"{SVG}text")
    assert text is not None
    assert text.text == "CIS"


@pytest.mark.parametrize(
    ("product_id", "letters"),
    [("chefs-knife-8in", "CK8"), ("mug", "M"), ("a_b", "AB"), ("x-y-z-w", "XYZ"), ("0", "0")],
)
def test_the_initials_are_the_first_letters_of_the_id_s_words(
    client: FlaskClient, product_id: str, letters: str
) -> None:
    root = parse_svg(client.get(f"/images/products/{product_id}.svg").get_data())
    text = root.find(f"{SVG}text")
    assert text is not None
    assert text.text == letters


def test_a_product_image_is_the_same_every_time(client: FlaskClient) -> None:
    first = client.get("/images/products/linen-tea-towels.svg")
    again = create_app({}).test_client().get("/images/products/linen-tea-towels.svg")
    assert first.get_data() == again.get_data()
    assert first.headers["ETag"] == again.headers["ETag"]
    revalidated = client.get(
        "/images/products/linen-tea-towels.svg", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert revalidated.status_code == 304


def fills(svg: bytes) -> list[str]:
    """The colours of the picture, in drawing order: ground, shapes, ink."""
    return re.findall(r'fill="(#[0-9a-f]{6})"', svg.decode())


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_different_products_get_different_colours(client: FlaskClient) -> None:
    ids = ["cast-iron-skillet", "chefs-knife-8in", "bamboo-cutting-board", "wool-throw-blanket"]
    grounds = {fills(client.get(f"/images/products/{i}.svg").get_data())[0] for i in ids}
    assert len(grounds) == len(ids)


@pytest.mark.parametrize("product_id", [f"product-{n}" for n in range(40)])
def test_the_initials_stand_out_from_the_picture(client: FlaskClient, product_id: str) -> None:
    ground, shape, _, ink = fills(client.get(f"/images/products/{product_id}.svg").get_data())
    assert contrast(ink, ground) >= 4.5
    assert contrast(ink, shape) >= 4.5


@pytest.mark.parametrize(
    "path",
    [
        "/images/products/Cast-Iron.svg",
        "/images/products/-skillet.svg",
        "/images/products/_skillet.svg",
        "/images/products/" + "a" * 65 + ".svg",
        "/images/products/a.b.svg",
        "/images/products/a%20b.svg",
        "/images/products/.svg",
        "/images/products/skillet.png",
        "/images/products/skillet",
        "/images/products/",
        "/images/skillet.svg",
    ],
)
def test_bad_product_ids_have_no_image(client: FlaskClient, problem: Problem, path: str) -> None:
    response = client.get(path)
    problem(response, 404)
    assert "Cache-Control" not in response.headers


def test_the_longest_product_id_has_an_image(client: FlaskClient) -> None:
    assert client.get("/images/products/" + "a" * 64 + ".svg").status_code == 200


# Headers and errors


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/static/js/app.js",
        "/static/css/app.css",
        "/images/products/mug.svg",
        "/static/missing.js",
        "/nowhere",
        "/healthz",
        "/readyz",
    ],
)
def test_every_response_has_the_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "Content-Security-Policy" in response.headers


def test_the_content_security_policy_allows_only_this_origin(client: FlaskClient) -> None:
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"]
    for name in ("script-src", "style-src", "img-src", "connect-src"):
        assert directives[name] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    for sources in directives.values():
        assert set(sources) <= {"'self'", "'none'"}


def test_error_responses_have_the_security_headers_too(client: FlaskClient) -> None:
    response = client.post("/")
    assert response.status_code == 405
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/api/catalog/products",
        "/api/cart/carts",
        "/cart",
        "/products/cast-iron-skillet",
        "/images/products",
    ],
)
def test_unknown_paths_are_problem_documents(
    client: FlaskClient, problem: Problem, path: str
) -> None:
    document = problem(client.get(path), 404)
    assert document["type"] == "about:blank"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/"), ("PUT", "/static/js/app.js"), ("DELETE", "/images/products/mug.svg")],
)
def test_the_ui_only_reads(client: FlaskClient, problem: Problem, method: str, path: str) -> None:
    response = client.open(path, method=method)
    problem(response, 405)
    assert "GET" in response.headers["Allow"]


# Sign-in settings

SIGN_IN = {
    "UI_OIDC_AUTHORIZE_URL": "http://127.0.0.1:8086/authorize",
    "UI_OIDC_TOKEN_URL": "http://127.0.0.1:8086/token",
    "UI_OIDC_CLIENT_ID": "emporium-ui",
}


def test_without_sign_in_settings_the_page_is_told_there_is_none(client: FlaskClient) -> None:
    response = client.get("/config.json")
    assert response.status_code == 200
    assert response.get_json() == {"signIn": None}
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_page_is_told_where_to_sign_in() -> None:
    response = create_app(SIGN_IN).test_client().get("/config.json")
    assert response.get_json() == {
        "signIn": {
            "authorizeUrl": "http://127.0.0.1:8086/authorize",
            "tokenUrl": "http://127.0.0.1:8086/token",
            "clientId": "emporium-ui",
        }
    }


def test_with_sign_in_the_page_may_call_the_token_endpoint_and_nothing_else_new() -> None:
    response = create_app(SIGN_IN).test_client().get("/", buffered=True)
    directives = csp_directives(response)
    assert directives["connect-src"] == ["'self'", "http://127.0.0.1:8086"]
    for name in ("default-src", "script-src", "style-src", "img-src", "form-action"):
        assert directives[name] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_token_endpoint_s_origin_keeps_its_port_and_scheme() -> None:
    environ = {**SIGN_IN, "UI_OIDC_TOKEN_URL": "https://auth.example.com/oauth2/token"}
    response = create_app(environ).test_client().get("/static/css/app.css", buffered=True)
    assert csp_directives(response)["connect-src"] == ["'self'", "https://auth.example.com"]


@pytest.mark.parametrize("missing", sorted(SIGN_IN))
def test_sign_in_settings_go_together(missing: str) -> None:
    environ = {name: value for name, value in SIGN_IN.items() if name != missing}
    with pytest.raises(ConfigError, match=f"^{missing} is required"):
        create_app(environ)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UI_OIDC_AUTHORIZE_URL", "127.0.0.1:8086/authorize"),
        ("UI_OIDC_TOKEN_URL", "javascript:alert(1)"),
        ("UI_OIDC_CLIENT_ID", "emporium ui"),
    ],
)
def test_a_malformed_sign_in_setting_stops_the_app(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        create_app({**SIGN_IN, name: value})


def test_the_settings_are_only_read(client: FlaskClient, problem: Problem) -> None:
    problem(client.post("/config.json"), 405)


# Operations


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_has_no_dependencies_to_wait_for(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {}}


def test_requests_are_counted_by_route(client: FlaskClient, counter: Callable[..., Any]) -> None:
    images = counter(
        "http_requests_total",
        method="GET",
        route="/images/products/<product_id>.svg",
        status="200",
    )
    client.get("/images/products/mug.svg")
    client.get("/images/products/kettle.svg")
    assert images.delta == 2


def test_a_malformed_setting_stops_the_app() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        create_app({"LOG_LEVEL": "LOUD"})
