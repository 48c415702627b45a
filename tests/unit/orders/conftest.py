"""Fixtures of the orders unit tests: the service on the Flask test client with moto's DynamoDB,
fakeredis, `tests.neighbours`' fake cart and catalog called through the app's own
`ServiceClient`s (their real selves are in the integration tests), and a loopback OpenID
Connect issuer whose ID tokens list orders."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws
from tests.clock import Clock
from tests.neighbours import FakeCart, FakeCatalog, catalog_product, connect
from tests.oidc_issuer import AUDIENCE, LocalIssuer
from tests.shoppers import checkout_body

import orders.app

TOKEN = "internal-token-for-tests"
HMAC_KEY = "hmac-key-for-unit-tests-0123456789abcdef"
STREAM = "emporium:orders:events"


@dataclasses.dataclass
class Shop:
    """The orders service as a test drives it: its app and client, the fake neighbours and the
    fake Redis behind it, and the calls a shopper makes. Not the DynamoDB store (OrdersStore),
    which is `shop.app.extensions["orders"].store`."""

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

    def stored(self, kind: str) -> list[dict[str, Any]]:
        """The table's items of one kind: "order", "idempotency" (a key's record) or "cart"."""
        return [item for item in self.items() if item["pk"]["S"].startswith(f"{kind}#")]

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
        # The tests run the relay themselves; its thread only waits, until the fixture stops it.
        "ORDERS_RELAY_INTERVAL_SECONDS": "3600",
        "OUTBOUND_BACKOFF_SECONDS": "0",  # retry the cart and catalog without waiting
    }


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer) -> Iterator[Shop]:
    server = fakeredis.FakeServer()
    monkeypatch.setattr(
        orders.app, "redis_client", lambda *a, **k: fakeredis.FakeRedis(server=server)
    )
    with mock_aws():
        app = orders.app.create_app(orders_environ(issuer))
        cart, clock = FakeCart(), Clock()
        catalog = FakeCatalog(
            catalog_product("mug", "Mug", 1200), catalog_product("kettle", "Kettle", 4500)
        )
        catalog.keep_cache()  # so that a test can move the table ahead of the cache
        wired = app.extensions["orders"]
        connect(wired.cart, cart)
        connect(wired.catalog, catalog)
        app.extensions["orders"] = dataclasses.replace(
            wired, store=dataclasses.replace(wired.store, clock=clock)
        )
        cart.carts["crt-1"] = [
            {"productId": "mug", "name": "Mug", "quantity": 2, "unitPrice": {"amount": 999}},
            {"productId": "kettle", "name": "Kettle", "quantity": 1},
        ]
        try:
            yield Shop(
                app,
                app.test_client(),
                cart,
                catalog,
                fakeredis.FakeRedis(server=server),
                server,
                issuer,
                clock,
            )
        finally:
            app.extensions["orders.relay"].stop()


def set_status(shop: Shop, order_id: str, status: str, token: str = TOKEN) -> Any:
    return shop.client.put(
        f"/internal/orders/{order_id}/status",
        json={"status": status},
        headers={"Authorization": f"Bearer {token}"},
    )
