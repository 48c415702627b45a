"""Fixtures of the orders unit tests: the service on the Flask test client with moto's DynamoDB,
fakeredis, stand-ins for the cart and catalog services (their real selves are in the
integration tests), and a loopback OpenID Connect issuer whose ID tokens list orders."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws
from tests.clock import Clock
from tests.oidc_issuer import AUDIENCE, LocalIssuer
from tests.shoppers import checkout_body

import orders.app
from emporium.outbound import DependencyUnavailableError, Reply

TOKEN = "internal-token-for-tests"
HMAC_KEY = "hmac-key-for-unit-tests-0123456789abcdef"
STREAM = "emporium:orders:events"
PRICES = {"mug": 1200, "kettle": 4500}


class FakeCatalog:
    """Catalog's product reads: `/internal/catalog/products/{id}` from its table (`prices`, the
    current data), `/api/catalog/products/{id}` through its cache (`cached`, which a test may
    leave behind the table)."""

    def __init__(self) -> None:
        self.prices = dict(PRICES)
        self.cached = dict(PRICES)
        # Checkouts wait here for each other, so that all of them race for the same write.
        self.rendezvous: threading.Barrier | None = None

    def get(self, path: str, params: Any = None) -> Reply:
        if self.rendezvous is not None:
            self.rendezvous.wait(timeout=10)
        route, _, product_id = path.rpartition("/")
        prices = {"/internal/catalog/products": self.prices, "/api/catalog/products": self.cached}
        if product_id not in prices[route]:
            return Reply(404, {}, b"{}")
        body = {
            "id": product_id,
            "name": product_id.title(),
            "price": {"amount": prices[route][product_id], "currency": "USD"},
        }
        return Reply(200, {}, json.dumps(body).encode())


class FakeCart:
    def __init__(self) -> None:
        self.carts: dict[str, list[dict[str, Any]]] = {}
        self.down = False
        # What deleting a cart does instead of deleting it: raise this, or answer this status.
        self.delete_fails: Exception | int | None = None

    def get(self, path: str, params: Any = None) -> Reply:
        if self.down:
            raise DependencyUnavailableError("cart", 1)
        cart_id = path.rsplit("/", 1)[1]
        if cart_id not in self.carts:
            return Reply(404, {}, b"{}")
        return Reply(200, {}, json.dumps({"id": cart_id, "items": self.carts[cart_id]}).encode())

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        assert method == "DELETE"
        if isinstance(self.delete_fails, Exception):
            raise self.delete_fails
        if self.delete_fails is not None:
            return Reply(self.delete_fails, {}, b"{}")
        self.carts.pop(path.rsplit("/", 1)[1], None)
        return Reply(204, {}, b"")


@dataclasses.dataclass
class Store:
    app: Flask
    client: FlaskClient
    cart: FakeCart
    catalog: FakeCatalog
    redis: fakeredis.FakeRedis
    server: fakeredis.FakeServer
    issuer: LocalIssuer
    clock: Clock

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(fields[b"event"]) for _, fields in self.redis.xrange(STREAM)]

    def checkout(self, key: str = "key-00000001", **changes: Any) -> Any:
        return self.client.post(
            "/api/orders/orders", json=checkout_body(**changes), headers={"Idempotency-Key": key}
        )

    def items(self) -> list[dict[str, Any]]:
        """Every item of the orders table, as stored."""
        orders_store = self.app.extensions["orders"].store
        return list(orders_store.client().scan(TableName=orders_store.table)["Items"])

    def mine(self, customer: str = "ada@example.com", **params: Any) -> Any:
        """GET the orders of the customer whose email is `customer`, with their ID token."""
        return self.client.get(
            "/api/orders/orders",
            query_string=params,
            headers={"Authorization": f"Bearer {self.issuer.token(customer)}"},
        )


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


def orders_environ(issuer: LocalIssuer) -> dict[str, str]:
    return {
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "DYNAMODB_CREATE_TABLES": "true",
        "ORDERS_CART_URL": "http://cart.invalid",
        "ORDERS_CATALOG_URL": "http://catalog.invalid",
        "ORDERS_INTERNAL_TOKEN": TOKEN,
        "ORDERS_HMAC_KEY": HMAC_KEY,
        "ORDERS_OIDC_ISSUER": issuer.url,
        "ORDERS_OIDC_AUDIENCE": AUDIENCE,
        # Each app's relay thread outlives its test; the tests run the relay themselves.
        "ORDERS_RELAY_INTERVAL_SECONDS": "3600",
    }


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer) -> Iterator[Store]:
    server = fakeredis.FakeServer()
    monkeypatch.setattr(
        orders.app, "redis_client", lambda *a, **k: fakeredis.FakeRedis(server=server)
    )
    with mock_aws():
        app = orders.app.create_app(orders_environ(issuer))
        cart, catalog, clock = FakeCart(), FakeCatalog(), Clock()
        wired = app.extensions["orders"]
        app.extensions["orders"] = dataclasses.replace(
            wired, cart=cart, catalog=catalog, store=dataclasses.replace(wired.store, clock=clock)
        )
        cart.carts["crt-1"] = [
            {"productId": "mug", "name": "Mug", "quantity": 2, "unitPrice": {"amount": 999}},
            {"productId": "kettle", "name": "Kettle", "quantity": 1},
        ]
        yield Store(
            app,
            app.test_client(),
            cart,
            catalog,
            fakeredis.FakeRedis(server=server),
            server,
            issuer,
            clock,
        )


def set_status(store: Store, order_id: str, status: str, token: str = TOKEN) -> Any:
    return store.client.put(
        f"/internal/orders/{order_id}/status",
        json={"status": status},
        headers={"Authorization": f"Bearer {token}"},
    )
