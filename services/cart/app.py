"""Wiring: the cart's settings, clients and routes, assembled by `create_app`.

gunicorn -c python:emporium.gunicorn_conf 'cart.app:create_app()'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask

from cart.routes import CartDependencies, api
from cart.store import CartStore
from emporium import dynamodb
from emporium.app import create_service_app, health
from emporium.background import PerProcess
from emporium.config import Env, ServiceSettings
from emporium.dynamodb import TABLE_NAME, DynamoDBSettings, dynamodb_client
from emporium.outbound import OutboundSettings, ServiceClient

SECONDS_PER_DAY = 24 * 60 * 60


@dataclass(frozen=True)
class CartSettings:
    table: str
    catalog_url: str
    ttl_days: int
    max_lines: int
    service: ServiceSettings
    dynamodb: DynamoDBSettings
    outbound: OutboundSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CartSettings:
        own, shared = Env("CART_", environ), Env("", environ)
        return cls(
            table=own.text("TABLE", "emporium-carts", pattern=TABLE_NAME),
            catalog_url=own.url("CATALOG_URL", schemes=("http", "https")),
            ttl_days=own.integer("TTL_DAYS", 7, min=1, max=90),
            max_lines=own.integer("MAX_LINES", 50, min=1, max=200),
            service=ServiceSettings.from_env(shared),
            dynamodb=DynamoDBSettings.from_env(shared),
            outbound=OutboundSettings.from_env(shared),
        )


def create_store(settings: CartSettings) -> CartStore:
    return CartStore(
        PerProcess(lambda: dynamodb_client(settings.dynamodb)).get,
        settings.table,
        ttl_seconds=settings.ttl_days * SECONDS_PER_DAY,
        max_lines=settings.max_lines,
    )


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the cart app from `environ` (the process environment by default)."""
    settings = CartSettings.from_env(environ)
    app = create_service_app("cart", settings.service)

    store = create_store(settings)
    if settings.service.dynamodb_create_tables:
        store.create_table()
    app.extensions["cart"] = CartDependencies(
        store=store, catalog=ServiceClient("catalog", settings.catalog_url, settings.outbound)
    )

    dynamodb.init_app(app)
    # Only DynamoDB: with the catalog down, carts can still be read and emptied.
    health(app).add_check("dynamodb", store.ping)
    app.register_blueprint(api.blueprint)
    return app
