"""Orders on fulfillment's stream and fulfillment's records of them, for the tests and the
benchmark that run a worker against a real Redis and the DynamoDB emulator (moto server):
`publish` places orders with orders' fake and puts their events on the stream in one round trip;
`fulfillment_records` reads back what the worker recorded."""

from __future__ import annotations

from typing import Any

import boto3
import redis
from tests.neighbours import FakeOrders, order_placed

STREAM = "emporium:orders:events"


def card_for(index: int) -> str:
    """Every seventh order pays with the card that is always declined."""
    return "0000" if index % 7 == 3 else f"{4000 + index % 1000:04d}"


def publish(client: redis.Redis, orders: FakeOrders, count: int, prefix: str) -> list[str]:
    order_ids = [f"{prefix}-{index:03d}" for index in range(count)]
    orders.place(*order_ids)
    with client.pipeline(transaction=False) as pipe:
        for index, order_id in enumerate(order_ids):
            pipe.xadd(STREAM, {"event": order_placed(order_id, card_for(index))})
        pipe.execute()
    return order_ids


def scan_table(dynamodb_url: str, table: str) -> list[dict[str, Any]]:
    """Every item of `table` on the emulator at `dynamodb_url`, as stored."""
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=dynamodb_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # the emulator takes any
    )
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [dict(item) for page in pages for item in page["Items"]]


def fulfillment_records(dynamodb_url: str, table: str, kind: str) -> dict[str, dict[str, Any]]:
    """The records of `kind` in fulfillment's table on the emulator at `dynamodb_url`."""
    return {
        item["orderId"]["S"]: item
        for item in scan_table(dynamodb_url, table)
        if item["pk"]["S"].startswith(f"{kind}#")
    }
