"""A minimal service of the shared library's own, "shop", wired the way every service wires
itself: `create_service_app`, an `Api` of validated and documented routes, DynamoDB's error
handlers, a critical DynamoDB readiness check and a non-critical Redis one. No service of the
store is involved.

    GET  /api/shop/items/<item_id>   an item, 404 if there is none
    POST /api/shop/items             create one from {"name", "quantity"} (unknown fields refused)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fakeredis
from flask import Flask, current_app
from pydantic import BaseModel, ConfigDict, Field

from emporium import dynamodb
from emporium.api import Api
from emporium.app import create_service_app, health
from emporium.config import Env, ServiceSettings
from emporium.dynamodb import (
    DynamoDBSettings,
    dynamodb_client,
    ensure_table,
    from_item,
    probe_table,
    to_item,
)
from emporium.problems import Problem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE = "shop-items"
ITEM = "/api/shop/items/<item_id>"
ITEMS = "/api/shop/items"
DYNAMODB = DynamoDBSettings(
    region="us-east-1", endpoint_url=None, connect_timeout=1.0, read_timeout=2.0, max_attempts=1
)
# Made once: a client loads botocore's model, and moto's mock intercepts it whenever made.
shared_dynamodb_client = functools.cache(lambda: dynamodb_client(DYNAMODB))


class ItemWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=2000)
    quantity: int = Field(ge=0)


class Item(ItemWrite):
    id: str


api = Api("shop", prefix="/api/shop", title="Shop", version="1.0.0")


@dataclass
class Shelf:
    """The shop's one table; `client` is what its routes call, for a test to replace."""

    client: Callable[[], Any]
    table: str = TABLE

    def ping(self) -> None:
        probe_table(self.client(), self.table, "id")


def _shelf() -> Shelf:
    shelf: Shelf = current_app.extensions["shop"]
    return shelf


@api.get("/items/<item_id>", summary="An item", response=Item, path={"item_id": r"[a-z0-9-]{1,64}"})
def get_item(item_id: str) -> Item:
    shelf = _shelf()
    found = shelf.client().get_item(TableName=shelf.table, Key={"id": {"S": item_id}})
    if "Item" not in found:
        raise Problem(404, f"There is no item {item_id}.", type_="not-found")
    return Item.model_validate(from_item(found["Item"]))


@api.post("/items", summary="Create an item", body=ItemWrite, response=Item, status=201)
def create_item(body: ItemWrite) -> Item:
    shelf = _shelf()
    item = Item(id=body.name.lower().replace(" ", "-")[:64], **body.model_dump())
    shelf.client().put_item(TableName=shelf.table, Item=to_item(item.model_dump()))
    return item


def create_shop(redis_server: fakeredis.FakeServer, environ: Mapping[str, str] = {}) -> Flask:
    """The shop app; `environ` holds the shared settings (MAX_BODY_BYTES, ...)."""
    app = create_service_app("shop", ServiceSettings.from_env(Env("", environ)))
    client: DynamoDBClient = shared_dynamodb_client()
    ensure_table(client, TABLE, key="id")
    shelf = app.extensions["shop"] = Shelf(shared_dynamodb_client)
    redis = fakeredis.FakeRedis(server=redis_server)
    app.register_blueprint(api.blueprint)
    dynamodb.init_app(app)
    health(app).add_check("dynamodb", shelf.ping)
    health(app).add_check("redis", redis.ping, critical=False)
    return app
