"""Wiring: the orders service's settings, clients and routes, assembled by `create_app`.

gunicorn -c python:emporium.gunicorn_conf 'orders.app:create_app()'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask

from emporium import dynamodb
from emporium.app import create_service_app, health
from emporium.background import PeriodicTask, PerProcess
from emporium.config import Env, RedisSettings, ServiceSettings
from emporium.dynamodb import TABLE_NAME, DynamoDBSettings, dynamodb_client
from emporium.oidc import IdTokenVerifier, OidcSettings
from emporium.outbound import OutboundSettings, ServiceClient
from emporium.pagination import Cursors
from emporium.redis import redis_client
from orders.checkout import OrdersDependencies, relay_unpublished
from orders.events import EventPublisher
from orders.routes import blueprints
from orders.store import OrdersStore


@dataclass(frozen=True)
class OrdersSettings:
    table: str
    cart_url: str
    catalog_url: str
    internal_token: str
    hmac_key: str
    events_stream: str
    relay_interval: float
    oidc: OidcSettings
    service: ServiceSettings
    dynamodb: DynamoDBSettings
    redis: RedisSettings
    outbound: OutboundSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrdersSettings:
        own, shared = Env("ORDERS_", environ), Env("", environ)
        urls = ("http", "https")
        return cls(
            table=own.text("TABLE", "emporium-orders", pattern=TABLE_NAME),
            cart_url=own.url("CART_URL", schemes=urls),
            catalog_url=own.url("CATALOG_URL", schemes=urls),
            internal_token=own.secret("INTERNAL_TOKEN"),
            hmac_key=own.secret("HMAC_KEY", min_length=32),
            events_stream=own.text("EVENTS_STREAM", "emporium:orders:events"),
            relay_interval=own.number("RELAY_INTERVAL_SECONDS", 5.0, min=0.1),
            oidc=OidcSettings.from_env(own),  # ORDERS_OIDC_ISSUER, _AUDIENCE, _JWKS_URL
            service=ServiceSettings.from_env(shared),
            dynamodb=DynamoDBSettings.from_env(shared),
            redis=RedisSettings.from_env(shared),
            outbound=OutboundSettings.from_env(shared),
        )


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the orders app from `environ` (the process environment by default)."""
    settings = OrdersSettings.from_env(environ)
    app = create_service_app("orders", settings.service)
    app.config["INTERNAL_TOKEN"] = settings.internal_token  # fulfillment's, for status changes

    store = OrdersStore(PerProcess(lambda: dynamodb_client(settings.dynamodb)).get, settings.table)
    if settings.service.dynamodb_create_tables:
        store.create_table()
    redis = redis_client(settings.redis, client_name="orders")
    orders = OrdersDependencies(
        store=store,
        cart=ServiceClient("cart", settings.cart_url, settings.outbound),
        catalog=ServiceClient("catalog", settings.catalog_url, settings.outbound),
        events=EventPublisher(redis, settings.events_stream),
        secret=settings.hmac_key.encode(),
    )
    app.extensions["orders"] = orders
    # A customer's own orders are listed by the email of their verified ID token.
    app.extensions["orders.id_tokens"] = IdTokenVerifier(
        settings.oidc, timeout=settings.outbound.read_timeout
    )
    app.extensions["orders.cursors"] = Cursors(settings.hmac_key, "orders")

    # Publishes the events that a failure kept in the outbox; started in each worker, each one
    # leasing what it publishes. It stops mid-backlog when the worker starts draining.
    relay = PeriodicTask(
        "outbox-relay",
        settings.relay_interval,
        lambda: relay_unpublished(orders, relay.stopping),
    )
    app.extensions["orders.relay"] = relay  # relay.stop() ends its thread (a test's app)
    app.before_request(relay.ensure_started)

    dynamodb.init_app(app)
    health(app).add_check("dynamodb", store.ping)
    # Redis away only delays events (the outbox keeps them), so it degrades orders, no more.
    health(app).add_check("redis", redis.ping, critical=False)
    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    return app
