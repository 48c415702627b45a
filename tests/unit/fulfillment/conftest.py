"""Fixtures of fulfillment's unit tests: Redis is fakeredis (streams and consumer groups
included); DynamoDB, where charges and shipments are recorded, is moto's in-memory mock;
orders is `tests.neighbours.FakeOrders`, called in process through fulfillment's own
`ServiceClient`.

Workers are driven turn by turn (`Worker.poll`, `Worker.handle`) with tiny block and claim
times; a test that needs the loop itself runs `Worker.run` in a thread and stops it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fakeredis
import pytest
import redis
from redis.typing import EncodableT, FieldT
from tests.neighbours import ORDERS_TOKEN, FakeOrders, connect, order_placed

from emporium.dynamodb import DynamoDBSettings, dynamodb_client, from_item
from emporium.outbound import OutboundSettings, ServiceClient
from fulfillment.steps import Fulfillment, OrdersClient
from fulfillment.store import FulfillmentStore, Kind
from fulfillment.worker import Worker

STREAM = "test:orders:events"
DEAD_LETTERS = f"{STREAM}:dead"
GROUP = "fulfillment"
TABLE = "test-fulfillment"
DYNAMODB = DynamoDBSettings(
    region="us-east-1", endpoint_url=None, connect_timeout=1.0, read_timeout=2.0, max_attempts=1
)
# One client for every test: making one loads botocore's model, and moto's mock intercepts
# the calls of a client whenever it was made. Made first inside a test's mock (its credentials).
shared_dynamodb_client = functools.cache(lambda: dynamodb_client(DYNAMODB))

# No retries and no pauses: each status call is one HTTP request, and failures show at once.
OUTBOUND = OutboundSettings(
    connect_timeout=0.5,
    read_timeout=2.0,
    retries=0,
    backoff_base=0.0,
    backoff_cap=0.0,
    breaker_failures=1000,
    breaker_reset=1.0,
)


@dataclass
class Rig:
    """A stream in fakeredis, orders' fake, and what tests do with them."""

    server: fakeredis.FakeServer
    client: redis.Redis
    orders: FakeOrders
    store: FulfillmentStore
    fulfillment: Fulfillment

    def worker(self, **overrides: Any) -> Worker:
        """A worker on STREAM: consumer "c1", claims messages idle 0 ms at every turn, at most
        3 deliveries, no pauses; keyword arguments override any of it."""
        options: dict[str, Any] = {
            "client": self.client,
            "process": self.fulfillment,
            "stream": STREAM,
            "group": GROUP,
            "consumer": "c1",
            "claim_idle_ms": 0,
            "max_deliveries": 3,
            "stop": threading.Event(),
            "block_ms": 5,
            "claim_every": 0.0,
            "backoff": (0.0, 0.0),
        }
        options.update(overrides)
        return Worker(options.pop("client"), options.pop("process"), **options)

    def publish(self, order_id: str, last4: str = "4242", **fields: str) -> bytes:
        """XADD an OrderPlaced for `order_id`, placed at orders' fake too (or XADD `fields`)."""
        self.orders.place(order_id)
        message: dict[FieldT, EncodableT] = {"event": order_placed(order_id, last4)}
        if fields:
            message = dict(fields.items())
        message_id: Any = self.client.xadd(STREAM, message)
        return bytes(message_id)

    def deliver(self, consumer: str) -> list[bytes]:
        """Deliver the new messages to `consumer`, which never acknowledges them: a dead one."""
        reply: Any = self.client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=100)
        return [message_id for _, entries in reply or [] for message_id, _ in entries]

    def pending(self) -> list[dict[str, Any]]:
        """The group's pending entries: message_id, consumer, times_delivered, ..."""
        entries: Any = self.client.xpending_range(STREAM, GROUP, "-", "+", 100)
        return list(entries)

    def dead_letters(self) -> list[dict[bytes, bytes]]:
        entries: Any = self.client.xrange(DEAD_LETTERS)
        return [fields for _, fields in entries]

    def records(self, kind: Kind) -> dict[str, dict[str, Any]]:
        return records(self.store, kind)


def records(store: FulfillmentStore, kind: Kind) -> dict[str, dict[str, Any]]:
    """Every record of `kind` in the table, by order id."""
    found: dict[str, dict[str, Any]] = {}
    for page in store.client().get_paginator("scan").paginate(TableName=store.table):
        for item in page["Items"]:
            record = from_item(item)
            if record["pk"].startswith(f"{kind}#"):
                found[record["orderId"]] = record
    return found


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def client(redis_server: fakeredis.FakeServer) -> Iterator[redis.Redis]:
    with fakeredis.FakeRedis(server=redis_server) as connection:
        yield connection


@pytest.fixture
def orders() -> Iterator[FakeOrders]:
    orders = FakeOrders()
    yield orders
    orders.closing()  # a call still held gives up


def orders_client_of(orders: FakeOrders, token: str = ORDERS_TOKEN) -> OrdersClient:
    """Fulfillment's client of orders' status API, calling `orders` in process."""
    client = ServiceClient("orders", "http://orders.test", OUTBOUND)
    connect(client, orders)
    return OrdersClient(client, token)


@pytest.fixture
def orders_client(orders: FakeOrders) -> OrdersClient:
    return orders_client_of(orders)


@pytest.fixture
def store(aws: None) -> FulfillmentStore:
    """Fulfillment's table, empty, in moto's in-memory DynamoDB."""
    store = FulfillmentStore(shared_dynamodb_client, TABLE)
    store.create_table()
    return store


@pytest.fixture
def fulfillment(store: FulfillmentStore, orders_client: OrdersClient) -> Fulfillment:
    return Fulfillment(store, orders_client, clock=lambda: "2025-06-01T12:00:00.000Z")


@pytest.fixture
def rig(
    redis_server: fakeredis.FakeServer,
    client: redis.Redis,
    orders: FakeOrders,
    store: FulfillmentStore,
    fulfillment: Fulfillment,
) -> Rig:
    return Rig(redis_server, client, orders, store, fulfillment)
