"""Wiring: the catalog's settings, clients and routes, assembled by `create_app`.

gunicorn -c python:emporium.gunicorn_conf 'catalog.app:create_app()'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask
from redis import Redis

from catalog.cache import ReadThroughCache
from catalog.routes import CatalogDependencies, blueprints
from catalog.store import CatalogStore, longest_write_seconds
from emporium import dynamodb
from emporium.app import create_service_app, health
from emporium.background import PerProcess
from emporium.config import Env, RedisSettings, ServiceSettings
from emporium.dynamodb import TABLE_NAME, DynamoDBSettings, dynamodb_client
from emporium.pagination import Cursors
from emporium.redis import redis_client


@dataclass(frozen=True)
class CatalogSettings:
    table: str
    admin_token: str
    hmac_key: str  # signs page cursors
    product_ttl: int
    list_ttl: int
    near_cache_seconds: float  # 0: off; else the longest a process keeps a product in memory
    service: ServiceSettings
    dynamodb: DynamoDBSettings
    redis: RedisSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CatalogSettings:
        own, shared = Env("CATALOG_", environ), Env("", environ)
        return cls(
            table=own.text("TABLE", "emporium-catalog", pattern=TABLE_NAME),
            admin_token=own.secret("ADMIN_TOKEN"),
            hmac_key=own.secret("HMAC_KEY", min_length=32),
            product_ttl=own.integer("CACHE_TTL_SECONDS", 300, min=1),
            list_ttl=own.integer("LIST_CACHE_TTL_SECONDS", 30, min=1),
            near_cache_seconds=own.number("NEAR_CACHE_SECONDS", 10.0),
            service=ServiceSettings.from_env(shared),
            dynamodb=DynamoDBSettings.from_env(shared),
            redis=RedisSettings.from_env(shared),
        )


def create_store(table: str, settings: DynamoDBSettings) -> CatalogStore:
    return CatalogStore(PerProcess(lambda: dynamodb_client(settings)).get, table)


def create_cache(
    redis: Redis, settings: DynamoDBSettings, near_seconds: float = 0.0
) -> ReadThroughCache:
    # A write's marks must outlast the write, whatever the SDK's retries make of it.
    marker_ms = int((longest_write_seconds(settings) + 1.0) * 1000)
    return ReadThroughCache(
        redis, namespace="catalog", marker_ms=marker_ms, near_seconds=near_seconds
    )


def create_app(environ: Mapping[str, str] | None = None) -> Flask:
    """Build the catalog app from `environ` (the process environment by default)."""
    settings = CatalogSettings.from_env(environ)
    app = create_service_app("catalog", settings.service)
    app.config["ADMIN_TOKEN"] = settings.admin_token

    store = create_store(settings.table, settings.dynamodb)
    if settings.service.dynamodb_create_tables:
        store.create_table()
    redis = redis_client(settings.redis, client_name="catalog")
    app.extensions["catalog"] = CatalogDependencies(
        store=store,
        cache=create_cache(redis, settings.dynamodb, settings.near_cache_seconds),
        cursors=Cursors(settings.hmac_key, "products"),
        product_ttl=settings.product_ttl,
        list_ttl=settings.list_ttl,
    )

    dynamodb.init_app(app)
    health(app).add_check("dynamodb", store.ping)
    health(app).add_check("redis", redis.ping, critical=False)  # reads fall back to DynamoDB
    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    return app
