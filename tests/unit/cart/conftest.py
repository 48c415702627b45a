"""Fixtures of the cart's unit tests: the cart app in one process, DynamoDB emulated by moto's
in-memory mock (the `aws` fixture of tests/unit/conftest.py) and the catalog by
`tests.neighbours.FakeCatalog`, called through the app's own `ServiceClient`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.neighbours import FakeCatalog, catalog_product, connect

import cart.app
from cart.app import create_app
from cart.store import CartStore
from emporium.dynamodb import dynamodb_client

CARTS = "/api/cart/carts"
CATALOG_URL = "http://catalog.test:8080"

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
def catalog() -> FakeCatalog:
    """The catalog with two named products and sixty numbered ones."""
    return FakeCatalog(
        catalog_product("cast-iron-skillet", "Cast Iron Skillet", 3999),
        catalog_product("linen-tea-towels", "Linen Tea Towels", 1800),
        *(catalog_product(f"product-{n:02}", f"Product {n}", 100 + n) for n in range(1, 61)),
    )


@pytest.fixture
def make_app(environ: dict[str, str], aws: None, catalog: FakeCatalog) -> Callable[..., Flask]:
    """Build a cart app calling `catalog`; keyword arguments override settings of `environ`."""

    def build(**overrides: str) -> Flask:
        app = create_app({**environ, **overrides})
        connect(app.extensions["cart"].catalog, catalog)
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
