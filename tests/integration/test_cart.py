"""The cart through HTTP, served by gunicorn against a real catalog (gunicorn, redis-server) and
the moto server; and what a shopper sees while the catalog is down and once it is back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from tests.integration.conftest import CatalogStack, local_env, start_gunicorn

from devstack import stack
from devstack.processes import Group

pytestmark = pytest.mark.integration

CARTS = "/api/cart/carts"
CATALOG_APP = "catalog.app:create_app()"


@dataclass
class CartService:
    """The cart under gunicorn, calling `catalog`."""

    url: str
    catalog: CatalogStack
    http: requests.Session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=10, **kwargs)

    def new_cart(self) -> dict[str, Any]:
        created = self.call("POST", CARTS)
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == f"{CARTS}/{created.json()['id']}"
        cart: dict[str, Any] = created.json()
        return cart

    def cart(self, cart_id: str) -> dict[str, Any]:
        response = self.call("GET", f"{CARTS}/{cart_id}")
        assert response.status_code == 200, response.text
        cart: dict[str, Any] = response.json()
        return cart

    def put_item(self, cart_id: str, product_id: str, quantity: int) -> requests.Response:
        return self.call(
            "PUT", f"{CARTS}/{cart_id}/items/{product_id}", json={"quantity": quantity}
        )


def cart_env(dynamodb_url: str, catalog: CatalogStack, table: str) -> dict[str, str]:
    """`local_env` is shaped for the catalog; the cart reads its shared variables and these."""
    return local_env(
        dynamodb_url,
        catalog.redis_port,
        catalog.env["CATALOG_TABLE"],
        CART_TABLE=table,
        CART_CATALOG_URL=catalog.url,
    )


@contextmanager
def serve_cart(dynamodb_url: str, catalog: CatalogStack, table: str) -> Iterator[CartService]:
    with Group() as group, requests.Session() as http:
        cart = start_gunicorn(
            group, "cart", "cart.app:create_app()", cart_env(dynamodb_url, catalog, table)
        )
        yield CartService(cart.url, catalog, http)


@pytest.fixture(scope="module")
def cart(dynamodb_url: str, catalog: CatalogStack) -> Iterator[CartService]:
    """A cart calling the shared catalog; tests that change products make their own."""
    with serve_cart(dynamodb_url, catalog, "carts-shared") as service:
        yield service


def lines(cart: dict[str, Any]) -> dict[str, int]:
    return {item["productId"]: item["quantity"] for item in cart["items"]}


def price(catalog: CatalogStack, product_id: str) -> int:
    amount: int = catalog.get(f"/api/catalog/products/{product_id}").json()["price"]["amount"]
    return amount


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    return document


def test_a_cart_journey_prices_lines_from_the_catalog(cart: CartService) -> None:
    first, second = cart.catalog.get("/api/catalog/products?limit=2").json()["items"]
    a, b = first["id"], second["id"]
    pa, pb = first["price"]["amount"], second["price"]["amount"]
    cart_id = cart.new_cart()["id"]

    assert cart.put_item(cart_id, a, 2).status_code == 200
    added = cart.put_item(cart_id, b, 1).json()
    assert lines(added) == {a: 2, b: 1}
    assert [item["unitPrice"]["amount"] for item in added["items"]] == [pa, pb]
    assert [item["name"] for item in added["items"]] == [first["name"], second["name"]]
    assert added["subtotal"] == {"amount": 2 * pa + pb, "currency": "USD"}

    changed = cart.put_item(cart_id, a, 3).json()
    assert lines(changed) == {a: 3, b: 1}
    assert changed["items"][0]["lineTotal"] == {"amount": 3 * pa, "currency": "USD"}
    assert changed["subtotal"]["amount"] == 3 * pa + pb

    removed = cart.call("DELETE", f"{CARTS}/{cart_id}/items/{b}")
    assert removed.status_code == 200
    assert lines(removed.json()) == {a: 3}
    assert removed.json()["subtotal"]["amount"] == 3 * pa
    assert cart.cart(cart_id) == removed.json()

    assert cart.call("DELETE", f"{CARTS}/{cart_id}").status_code == 204
    assert_problem(cart.call("GET", f"{CARTS}/{cart_id}"), 404)
    assert cart.call("DELETE", f"{CARTS}/{cart_id}").status_code == 204


def test_a_line_keeps_the_price_it_was_added_at(cart: CartService) -> None:
    body = {
        "name": "Cart Test Kettle",
        "category": "kitchen",
        "price": {"amount": 2000, "currency": "USD"},
    }
    created = cart.catalog.admin("POST", "/api/catalog/products", json=body)
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    cart_id = cart.new_cart()["id"]
    assert cart.put_item(cart_id, product_id, 1).status_code == 200

    raised = {**body, "price": {"amount": 2600, "currency": "USD"}}
    path = f"/api/catalog/products/{product_id}"
    assert cart.catalog.admin("PUT", path, json=raised, headers={"If-Match": '"1"'}).ok
    assert price(cart.catalog, product_id) == 2600

    kept = cart.put_item(cart_id, product_id, 2).json()
    assert kept["items"][0]["unitPrice"]["amount"] == 2000
    assert kept["subtotal"]["amount"] == 4000
    other = cart.new_cart()["id"]
    assert cart.put_item(other, product_id, 1).json()["subtotal"]["amount"] == 2600


def test_an_unknown_product_is_a_422_problem(cart: CartService) -> None:
    cart_id = cart.new_cart()["id"]
    document = assert_problem(cart.put_item(cart_id, "no-such-product", 1), 422)
    assert document["type"].endswith("/unknown-product")
    assert cart.cart(cart_id)["items"] == []


def test_the_openapi_document_and_readiness_are_served(cart: CartService) -> None:
    document = cart.call("GET", "/api/cart/openapi.json").json()
    assert "/api/cart/carts/{cart_id}/items/{product_id}" in document["paths"]
    ready = cart.call("GET", "/readyz")
    assert ready.json() == {"status": "ready", "checks": {"dynamodb": "ok"}}


# The catalog down, then back


@dataclass
class Outage:
    cart: CartService
    cart_id: str
    before: dict[str, Any]  # the cart as it was when the catalog stopped
    product_id: str  # a product not in the cart yet


@pytest.fixture
def catalog_down(
    dynamodb_url: str, private_catalog: CatalogStack, request: pytest.FixtureRequest
) -> Iterator[Outage]:
    """A cart with one line, calling a catalog of its own that has just been stopped."""
    table = "carts-" + re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60]
    with serve_cart(dynamodb_url, private_catalog, table) as cart:
        first, second = private_catalog.get("/api/catalog/products?limit=2").json()["items"]
        cart_id = cart.new_cart()["id"]
        assert cart.put_item(cart_id, first["id"], 1).status_code == 200
        before = cart.cart(cart_id)
        private_catalog.catalog.stop()
        yield Outage(cart, cart_id, before, second["id"])


def restart_catalog(catalog: CatalogStack) -> None:
    """Start the catalog again on the port the cart calls."""
    port = urlsplit(catalog.url).port
    assert port is not None
    metrics_port = urlsplit(catalog.metrics_url).port
    catalog.catalog = stack.start_gunicorn(
        catalog.group, "catalog", CATALOG_APP, port, catalog.env, metrics_port=metrics_port
    )


def test_catalog_down_is_a_503_with_retry_after_and_the_cart_is_unchanged(
    catalog_down: Outage,
) -> None:
    cart, cart_id = catalog_down.cart, catalog_down.cart_id
    response = cart.put_item(cart_id, catalog_down.product_id, 1)
    document = assert_problem(response, 503)
    assert document["type"].endswith("/dependency-unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    (line,) = catalog_down.before["items"]
    assert_problem(cart.put_item(cart_id, line["productId"], 4), 503)
    assert cart.cart(cart_id) == catalog_down.before
    # what needs no price still works
    assert cart.call("DELETE", f"{CARTS}/{cart_id}/items/{line['productId']}").status_code == 200


def test_a_restarted_catalog_serves_the_cart_again(catalog_down: Outage) -> None:
    cart, cart_id = catalog_down.cart, catalog_down.cart_id
    assert_problem(cart.put_item(cart_id, catalog_down.product_id, 1), 503)
    restart_catalog(cart.catalog)
    response = cart.put_item(cart_id, catalog_down.product_id, 2)
    assert response.status_code == 200, response.text
    (line,) = catalog_down.before["items"]
    assert lines(response.json()) == {line["productId"]: 1, catalog_down.product_id: 2}
    assert response.json()["items"][1]["unitPrice"]["amount"] == price(
        cart.catalog, catalog_down.product_id
    )
