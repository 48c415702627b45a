"""Wiring: fulfillment's settings, its consumer loop, and the app that hosts it.

gunicorn -c python:emporium.gunicorn_conf 'fulfillment.app:create_app()'   (WEB_CONCURRENCY=1)

The worker has no public API; its app serves /healthz, /readyz (Redis and its DynamoDB table
reachable, the loop running, not draining) and /metrics, all three on the metrics port (its
Service's only port: the probes and `helm test` reach it there), while the loop runs in a
background thread of each gunicorn worker process. `python -m fulfillment` runs the loop alone,
in the foreground.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace

from flask import Flask

from emporium.app import create_service_app, health
from emporium.background import PerProcess
from emporium.config import Env, RedisSettings, ServiceSettings
from emporium.dynamodb import TABLE_NAME, DynamoDBSettings, dynamodb_client
from emporium.health import DRAINING
from emporium.outbound import OutboundSettings, ServiceClient
from emporium.redis import redis_client
from fulfillment.steps import Fulfillment, OrdersClient
from fulfillment.store import FulfillmentStore
from fulfillment.worker import ConsumerThread, Worker

STREAM_PATTERN = r"[A-Za-z0-9_.:{}-]{1,200}"
GROUP_PATTERN = r"[A-Za-z0-9_.:-]{1,100}"
BLOCK_MS = 1000  # how long one read waits for new messages; also how soon a stop is noticed


@dataclass(frozen=True)
class FulfillmentSettings:
    orders_url: str
    orders_token: str
    table: str
    stream: str
    group: str
    claim_idle_ms: int
    max_deliveries: int
    concurrency: int
    dead_letter_max_length: int
    service: ServiceSettings
    dynamodb: DynamoDBSettings
    redis: RedisSettings
    outbound: OutboundSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FulfillmentSettings:
        own, shared = Env("FULFILLMENT_", environ), Env("", environ)
        return cls(
            orders_url=own.url("ORDERS_URL", schemes=("http", "https")),
            orders_token=own.secret("ORDERS_TOKEN"),
            table=own.text("TABLE", "emporium-fulfillment", pattern=TABLE_NAME),
            # Unprefixed: orders publishes on the same stream.
            stream=shared.text(
                "ORDERS_EVENTS_STREAM", "emporium:orders:events", pattern=STREAM_PATTERN
            ),
            group=own.text("GROUP", "fulfillment", pattern=GROUP_PATTERN),
            claim_idle_ms=own.integer("CLAIM_IDLE_MS", 30_000, min=100),
            max_deliveries=own.integer("MAX_DELIVERIES", 5, min=1, max=1000),
            concurrency=own.integer("CONCURRENCY", 8, min=1, max=64),
            dead_letter_max_length=own.integer("DEAD_LETTER_MAX_LENGTH", 100_000, min=1),
            service=ServiceSettings.from_env(shared),
            dynamodb=DynamoDBSettings.from_env(shared),
            redis=RedisSettings.from_env(shared),
            outbound=OutboundSettings.from_env(shared),
        )


def consumer_name() -> str:
    """Unique per process: each gunicorn worker is a consumer of its own."""
    return f"{socket.gethostname()}-{os.getpid()}"


def create_store(settings: FulfillmentSettings) -> FulfillmentStore:
    """The table of charges and shipments; created first when DYNAMODB_CREATE_TABLES is set."""
    store = FulfillmentStore(
        PerProcess(lambda: dynamodb_client(settings.dynamodb)).get, settings.table
    )
    if settings.service.dynamodb_create_tables:
        store.create_table()
    return store


def create_worker(
    settings: FulfillmentSettings, store: FulfillmentStore, stop: threading.Event
) -> Worker:
    """The consumer of this process, stopping when `stop` is set."""
    # Reads block for up to BLOCK_MS, so the loop's client waits that much longer for replies.
    blocking = replace(
        settings.redis, socket_timeout=settings.redis.socket_timeout + BLOCK_MS / 1000
    )
    client = redis_client(blocking, client_name="fulfillment-worker")
    orders = ServiceClient("orders", settings.orders_url, settings.outbound)
    return Worker(
        client,
        Fulfillment(store, OrdersClient(orders, settings.orders_token)),
        stream=settings.stream,
        group=settings.group,
        consumer=consumer_name(),
        claim_idle_ms=settings.claim_idle_ms,
        max_deliveries=settings.max_deliveries,
        stop=stop,
        block_ms=BLOCK_MS,
        concurrency=settings.concurrency,
        dead_letter_max_length=settings.dead_letter_max_length,
    )


def create_app(environ: Mapping[str, str] | None = None, *, consume: bool = True) -> Flask:
    """Build the app from `environ` (the process environment by default).

    With `consume` (the default) the consumer loop starts in every process forked from this
    one, gunicorn's workers, and on the first request of a process that was not forked.
    """
    settings = FulfillmentSettings.from_env(environ)
    app = create_service_app("fulfillment", settings.service, health_on_metrics_port=True)
    store = create_store(settings)
    redis = redis_client(settings.redis, client_name="fulfillment")
    health(app).add_check("redis", redis.ping)
    health(app).add_check("dynamodb", store.ping)  # where charges and shipments are recorded

    consumer = ConsumerThread(lambda: create_worker(settings, store, DRAINING))
    app.extensions["fulfillment"] = consumer
    if consume:
        consumer.start_after_fork()
        app.before_request(consumer.ensure_started)
        health(app).add_check("consumer", consumer.check)
    return app
