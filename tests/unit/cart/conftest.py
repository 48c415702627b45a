"""Fixtures of the cart's unit tests: the cart app in one process, DynamoDB emulated by moto's
in-memory mock (the `aws` fixture of tests/unit/conftest.py) and the catalog by a stand-in
behind the app's real `ServiceClient` (timeouts, retries, breaker and all).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from flask import Flask
from flask.testing import FlaskClient

import cart.app
from cart.app import create_app
from cart.store import CartStore
from emporium.background import PerProcess
from emporium.dynamodb import dynamodb_client

CARTS = "/api/cart/carts"
CATALOG_URL = "http://catalog.test:8080"
PRODUCTS_PATH = "/api/catalog/products/"

Cart = dict[str, Any]


def cart_environ() -> dict[str, str]:
    """The settings the cart app is built from."""
    return {
        "CART_CATALOG_URL": CATALOG_URL,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DYNAMODB_CREATE_TABLES": "true",
        "OUTBOUND_BACKOFF_SECONDS": "0",  # retry the catalog without waiting
    }


def catalog_product(product_id: str, name: str, amount: int) -> dict[str, Any]:
    """A product as the catalog answers it."""
    return {
        "id": product_id,
        "name": name,
        "description": "",
        "category": "kitchen",
        "price": {"amount": amount, "currency": "USD"},
        "imageUrl": "",
        "tags": [],
        "version": 1,
    }


class StandInCatalog:
    """The catalog as the cart's `ServiceClient` sees it, in place of its connection pool.

    It answers `GET /api/catalog/products/{id}` from `products` (404 for any other id); with
    `down` set every connection fails, with `status` set every call answers that status.
    """

    def __init__(self) -> None:
        self.products: dict[str, dict[str, Any]] = {
            "cast-iron-skillet": catalog_product("cast-iron-skillet", "Cast Iron Skillet", 3999),
            "linen-tea-towels": catalog_product("linen-tea-towels", "Linen Tea Towels", 1800),
            **{
                f"product-{n:02}": catalog_product(f"product-{n:02}", f"Product {n}", 100 + n)
                for n in range(1, 61)
            },
        }
        self.down = False
        self.status: int | None = None
        self.body: bytes | None = None
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, url: str, *, headers: dict[str, str], **_options: object
    ) -> urllib3.HTTPResponse:
        path = urlsplit(url).path
        with self._lock:
            self.calls.append((method, path, dict(headers)))
        if self.down:
            raise urllib3.exceptions.ProtocolError(
                "Connection aborted.", ConnectionRefusedError(111, "Connection refused")
            )
        if self.status is not None:
            return self._answer(self.status, self.body or b'{"title": "failing"}')
        product = self.products.get(path.removeprefix(PRODUCTS_PATH))
        if method != "GET" or not path.startswith(PRODUCTS_PATH) or product is None:
            return self._answer(404, b'{"status": 404}', "application/problem+json")
        return self._answer(200, json.dumps(product).encode())

    @staticmethod
    def _answer(
        status: int, body: bytes, content_type: str = "application/json"
    ) -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(
            body=body, status=status, headers={"Content-Type": content_type}, preload_content=True
        )

    def product_calls(self) -> int:
        return sum(1 for _, path, _ in self.calls if path.startswith(PRODUCTS_PATH))


@pytest.fixture(scope="session", autouse=True)
def one_cart_dynamodb_client_per_settings() -> Iterator[None]:
    """Make each DynamoDB client once per distinct settings rather than once per app (loading
    botocore's service model is most of the time it takes to build an app)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cart.app, "dynamodb_client", functools.cache(dynamodb_client))
        yield


@pytest.fixture
def environ() -> dict[str, str]:
    return cart_environ()


@pytest.fixture
def catalog() -> StandInCatalog:
    return StandInCatalog()


@pytest.fixture
def make_app(
    environ: dict[str, str], aws: None, catalog: StandInCatalog, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Flask]:
    """Build a cart app calling `catalog`; keyword arguments override settings of `environ`."""

    def build(**overrides: str) -> Flask:
        app = create_app({**environ, **overrides})
        client = app.extensions["cart"].catalog
        monkeypatch.setattr(client, "_pool", PerProcess(lambda: catalog))
        return app

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(app: Flask) -> CartStore:
    cart_store: CartStore = app.extensions["cart"].store
    return cart_store


# Helpers


def cart_url(cart_id: str) -> str:
    return f"{CARTS}/{cart_id}"


def item_url(cart_id: str, product_id: str) -> str:
    return f"{CARTS}/{cart_id}/items/{product_id}"


def new_cart(client: FlaskClient) -> Cart:
    response = client.post(CARTS)
    assert response.status_code == 201, response.get_data(as_text=True)
    created: Cart = response.get_json()
    return created


def read(client: FlaskClient, cart_id: str) -> Cart:
    response = client.get(cart_url(cart_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    found: Cart = response.get_json()
    return found


def put(client: FlaskClient, cart_id: str, product_id: str, quantity: int) -> Cart:
    response = client.put(item_url(cart_id, product_id), json={"quantity": quantity})
    assert response.status_code == 200, response.get_data(as_text=True)
    updated: Cart = response.get_json()
    return updated


def lines(cart: Cart) -> dict[str, int]:
    """The cart's lines as product id -> quantity."""
    return {item["productId"]: item["quantity"] for item in cart["items"]}
