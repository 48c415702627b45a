"""A minimal service of the shared library's own, "shop", wired the way every service wires
itself: `create_service_app`, DynamoDB's error handlers, a critical DynamoDB readiness check and
a non-critical Redis one. No service of the store is involved.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fakeredis
from flask import Flask

from emporium import dynamodb
from emporium.app import create_service_app, health
from emporium.config import Env, ServiceSettings
from emporium.dynamodb import (
    DynamoDBSettings,
    dynamodb_client,
    ensure_table,
    from_item,
    probe_table,
)
from emporium.problems import Problem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE = "shop-items"
ITEM = "/api/shop/items/<item_id>"
DYNAMODB = DynamoDBSettings(
    region="us-east-1", endpoint_url=None, connect_timeout=1.0, read_timeout=2.0, max_attempts=1
)
# Made once: a client loads botocore's model, and moto's mock intercepts it whenever made.
shared_dynamodb_client = functools.cache(lambda: dynamodb_client(DYNAMODB))


@dataclass
class Shelf:
    """The shop's one table; `client` is what its routes call, for a test to replace."""

    client: Callable[[], Any]
    table: str = TABLE

    def ping(self) -> None:
        probe_table(self.client(), self.table, "id")


def create_shop(redis_server: fakeredis.FakeServer) -> Flask:
    """A service with one table and one route: GET /api/shop/items/<item_id>."""
    app = create_service_app("shop", ServiceSettings.from_env(Env("", {})))
    client: DynamoDBClient = shared_dynamodb_client()
    ensure_table(client, TABLE, key="id")
    shelf = app.extensions["shop"] = Shelf(shared_dynamodb_client)
    redis = fakeredis.FakeRedis(server=redis_server)

    def item(item_id: str) -> dict[str, Any]:
        found = shelf.client().get_item(TableName=shelf.table, Key={"id": {"S": item_id}})
        if "Item" not in found:
            raise Problem(404, f"There is no item {item_id}.", type_="not-found")
        return from_item(found["Item"])

    app.add_url_rule(ITEM, "item", item)
    dynamodb.init_app(app)
    health(app).add_check("dynamodb", shelf.ping)
    health(app).add_check("redis", redis.ping, critical=False)
    return app
