"""The orders service's settings and wiring."""

from __future__ import annotations

import json

import fakeredis
import pytest
from moto import mock_aws
from tests.oidc_issuer import LocalIssuer
from tests.shoppers import checkout_body
from tests.unit.orders.conftest import STREAM, Shop, orders_environ

import orders.app
from emporium.config import ConfigError
from orders.app import OrdersSettings
from orders.models import Order
from orders.store import OrdersStore


@pytest.mark.parametrize("variable", ["ORDERS_OIDC_ISSUER", "ORDERS_OIDC_AUDIENCE"])
def test_a_missing_sign_in_setting_stops_start_up_naming_it(
    issuer: LocalIssuer, variable: str
) -> None:
    environ = orders_environ(issuer)
    del environ[variable]
    with pytest.raises(ConfigError, match=f"^{variable} is required but not set$"):
        OrdersSettings.from_env(environ)


def test_the_keys_url_is_optional_and_checked(issuer: LocalIssuer) -> None:
    environ = orders_environ(issuer)
    assert OrdersSettings.from_env(environ).oidc.jwks_url is None
    environ["ORDERS_OIDC_JWKS_URL"] = "http://issuer.auth.svc.cluster.local/jwks"
    assert OrdersSettings.from_env(environ).oidc.jwks_url == environ["ORDERS_OIDC_JWKS_URL"]
    environ["ORDERS_OIDC_JWKS_URL"] = "file:///etc/passwd"
    with pytest.raises(ConfigError, match=r"^ORDERS_OIDC_JWKS_URL="):
        OrdersSettings.from_env(environ)


def test_the_hmac_key_is_a_required_secret(issuer: LocalIssuer) -> None:
    environ = orders_environ(issuer)
    del environ["ORDERS_HMAC_KEY"]
    with pytest.raises(ConfigError, match=r"^ORDERS_HMAC_KEY is required but not set$"):
        OrdersSettings.from_env(environ)
    environ["ORDERS_HMAC_KEY"] = "short-key-1234567"
    with pytest.raises(ConfigError, match=r"^ORDERS_HMAC_KEY is too short") as refused:
        OrdersSettings.from_env(environ)
    assert "short-key-1234567" not in str(refused.value)


def test_orders_stays_ready_while_redis_is_away(shop: Shop) -> None:
    assert shop.client.get("/readyz").get_json()["checks"] == {"dynamodb": "ok", "redis": "ok"}
    shop.server.connected = False
    ready = shop.client.get("/readyz")
    assert ready.status_code == 200  # checkouts still place orders; the outbox keeps the events
    assert ready.get_json()["checks"] == {"dynamodb": "ok", "redis": "degraded"}
    assert shop.checkout().status_code == 201


def test_orders_is_not_ready_without_its_table(shop: Shop) -> None:
    assert shop.client.get("/readyz").status_code == 200
    orders_store: OrdersStore = shop.app.extensions["orders"].store
    orders_store.client().delete_table(TableName=orders_store.table)
    ready = shop.client.get("/readyz")
    assert ready.status_code == 503  # taken out of the load balancer: no checkout can succeed
    assert ready.get_json()["checks"] == {"dynamodb": "failing", "redis": "ok"}


def an_order(order_id: str) -> Order:
    customer = checkout_body()["customer"]
    at = "2026-01-02T03:04:05.000Z"
    return Order.model_validate(
        {
            "id": order_id,
            "status": "PLACED",
            "items": [],
            "total": {"amount": 1200, "currency": "USD"},
            "customer": customer,
            "paymentLast4": "4242",
            "createdAt": at,
            "statusHistory": [{"status": "PLACED", "at": at}],
        }
    )


def test_a_serving_app_publishes_what_its_outbox_holds_without_being_asked(
    monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer
) -> None:
    """The relay runs in each process that serves (started by its first request, as in each
    gunicorn worker after the fork), every ORDERS_RELAY_INTERVAL_SECONDS."""
    server = fakeredis.FakeServer()
    monkeypatch.setattr(
        orders.app, "redis_client", lambda *a, **k: fakeredis.FakeRedis(server=server)
    )
    environ = {**orders_environ(issuer), "ORDERS_RELAY_INTERVAL_SECONDS": "0.1"}
    with mock_aws():
        app = orders.app.create_app(environ)
        orders_store: OrdersStore = app.extensions["orders"].store
        order = an_order("ord-" + "ab" * 16)
        orders_store.create_order(order, key_id="k", fingerprint="f", cart_id="crt-1")
        orders_store.client().update_item(  # its checkout stopped before publishing, long ago
            TableName=orders_store.table,
            Key={"pk": {"S": f"order#{order.id}"}},
            UpdateExpression="REMOVE outboxLeaseUntil",
        )
        assert app.test_client().get("/healthz").status_code == 200
        redis = fakeredis.FakeRedis(server=server)
        try:
            # Waits for the stream's first entry; 60 s is far beyond a few relay intervals.
            redis.xread({STREAM: "0-0"}, count=1, block=60_000)
            events = [json.loads(fields[b"event"]) for _, fields in redis.xrange(STREAM)]
            assert [event["orderId"] for event in events] == [order.id]
            assert list(orders_store.unpublished()) == []
        finally:
            app.extensions["orders.relay"].stop()
