"""Fulfillment under gunicorn against a real redis-server, the DynamoDB emulator (moto server)
for its records, and orders' fake (`tests.neighbours`) served over HTTP.

The fake (`tests.neighbours.FakeOrders`, served over HTTP) answers the part of orders'
internal API fulfillment calls, with the contract's transition rules, and records every call;
the unit tests and the throughput benchmark use it too. The journey through the real orders
service is tested with orders.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from tests.integration.conftest import Served, metric, start_gunicorn, start_redis
from tests.neighbours import FINAL, ORDERS_TOKEN, FakeOrders, order_placed, serve
from tests.order_stream import STREAM, card_for, fulfillment_records, publish
from tests.waits import eventually

from devstack.processes import Group, free_port, http_status
from devstack.stack import Addresses, service_env

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    group: Group
    redis: redis.Redis
    redis_port: int
    orders: FakeOrders
    orders_url: str
    dynamodb_url: str
    table: str  # fulfillment's, of this test alone

    def env(self, **extra: str) -> dict[str, str]:
        where = Addresses(
            dynamodb=self.dynamodb_url,
            redis=f"redis://127.0.0.1:{self.redis_port}/0",
            services={"orders": self.orders_url},
        )
        base = {
            **os.environ,
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "GRACEFUL_TIMEOUT": "10",
            "FULFILLMENT_TABLE": self.table,
            "ORDERS_INTERNAL_TOKEN": ORDERS_TOKEN,
            # Short, so a new worker soon claims what a killed one left pending.
            "FULFILLMENT_CLAIM_IDLE_MS": "1000",
            **extra,
        }
        return service_env(where, base)

    def start_worker(self, **extra: str) -> Served:
        return start_gunicorn(
            self.group, "fulfillment", "fulfillment.app:create_app()", self.env(**extra)
        )

    def all_final(self, order_ids: list[str]) -> bool:
        return all(self.orders.status(order_id) in FINAL for order_id in order_ids)

    def pending(self) -> int:
        summary: Any = self.redis.xpending(STREAM, "fulfillment")
        return int(summary["pending"])

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every charge ("payment") or shipment recorded in the table, by order id."""
        return fulfillment_records(self.dynamodb_url, self.table, kind)


@pytest.fixture
def stack(dynamodb_url: str, request: pytest.FixtureRequest) -> Iterator[Stack]:
    table = "fulfillment-" + re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60]
    orders = FakeOrders()
    with Group() as group, serve(orders) as orders_url:
        port = free_port()
        start_redis(group, port)
        with redis.Redis(port=port) as client:
            yield Stack(group, client, port, orders, orders_url, dynamodb_url, table)


def check_each_order_completed_once(stack: Stack, order_ids: list[str]) -> None:
    declined = {order_id for index, order_id in enumerate(order_ids) if card_for(index) == "0000"}
    applied = stack.orders.applied_by_order()
    for order_id in order_ids:
        expected = ["PAYMENT_DECLINED"] if order_id in declined else ["PAID", "SHIPPED"]
        assert applied.get(order_id) == expected, (order_id, applied.get(order_id))
    payments = stack.records("payment")
    assert set(payments) == set(order_ids)
    assert set(stack.records("shipment")) == set(order_ids) - declined
    decisions = Counter(record["decision"]["S"] for record in payments.values())
    assert decisions == {"declined": len(declined), "approved": len(order_ids) - len(declined)}
    assert stack.redis.xlen(f"{STREAM}:dead") == 0


def test_every_order_is_charged_once_and_ends_shipped_or_declined(stack: Stack) -> None:
    _, url, metrics = stack.start_worker()
    order_ids = publish(stack.redis, stack.orders, 20, "twenty")

    eventually(lambda: stack.all_final(order_ids), "all final")
    eventually(lambda: stack.pending() == 0, "all acknowledged")

    check_each_order_completed_once(stack, order_ids)
    assert metric(metrics, "fulfillment_effects_total", effect="charge") == 20
    assert metric(metrics, "fulfillment_effects_total", effect="ship") == 17
    assert (
        metric(metrics, "events_processed_total", stream=STREAM, type="OrderPlaced", outcome="done")
        == 20
    )
    ready = requests.get(url + "/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "dynamodb": "ok", "consumer": "ok"}


def test_orders_redelivered_after_redis_lost_everything_are_not_charged_again(
    stack: Stack,
) -> None:
    metrics = stack.start_worker().metrics
    order_ids = publish(stack.redis, stack.orders, 8, "flushed")
    eventually(lambda: stack.all_final(order_ids), "all final")
    eventually(lambda: stack.pending() == 0, "all acknowledged")
    recorded = stack.records("payment")

    stack.redis.flushall()  # an eviction, or a failover to a replica that had not caught up
    with stack.redis.pipeline(transaction=False) as pipe:  # orders' relay publishes them again
        for index, order_id in enumerate(order_ids):
            pipe.xadd(STREAM, {"event": order_placed(order_id, card_for(index))})
        pipe.execute()

    done = ("events_processed_total", {"stream": STREAM, "type": "OrderPlaced", "outcome": "done"})
    eventually(lambda: metric(metrics, done[0], **done[1]) == 16, "the copies processed")
    check_each_order_completed_once(stack, order_ids)
    assert stack.records("payment") == recorded  # read back, not made again
    assert metric(metrics, "fulfillment_effects_total", effect="charge") == 8


def test_each_gunicorn_worker_consumes_from_its_fork_without_any_request(
    stack: Stack, tmp_path: Path
) -> None:
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:emporium.gunicorn_conf",
            "--bind", f"127.0.0.1:{free_port()}", "fulfillment.app:create_app()"]  # fmt: skip
    log = tmp_path / "fulfillment.log"
    master = stack.group.start("fulfillment", argv, stack.env(WEB_CONCURRENCY="2"), str(log))
    order_ids = publish(stack.redis, stack.orders, 20, "no-http")

    eventually(lambda: stack.all_final(order_ids), "all final")  # nothing called it over HTTP

    def consumer_pids() -> set[int]:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        return {
            int(line["consumer"].rsplit("-", 1)[1])
            for line in lines
            if line["message"] == "consumer started"
        }

    eventually(lambda: len(consumer_pids()) == 2, "one consumer per worker process")
    assert master.pid not in consumer_pids()  # and none in the master


def test_a_worker_killed_mid_stream_loses_no_order_and_repeats_no_step(stack: Stack) -> None:
    first = stack.start_worker().child
    stack.orders.hold_after(60)  # a third of the way through the status calls
    order_ids = publish(stack.redis, stack.orders, 100, "killed")
    eventually(stack.orders.held.is_set, "holding a status call")

    first.signal(signal.SIGKILL)  # the whole process group: gunicorn's master and its worker
    first.popen.wait(timeout=10)
    assert stack.pending() > 0  # the dead worker's messages
    stack.orders.release.set()  # the call it was waiting for is applied after all

    stack.start_worker()  # a new consumer, which claims what the dead one left
    eventually(lambda: stack.all_final(order_ids), "all final")
    eventually(lambda: stack.pending() == 0, "all acknowledged")

    check_each_order_completed_once(stack, order_ids)


def test_sigterm_finishes_the_messages_in_hand_then_reads_nothing_new(stack: Stack) -> None:
    stack.orders.hold_after(2)
    order_ids = publish(stack.redis, stack.orders, 5, "in-hand")  # read in one batch
    worker = stack.start_worker().child
    eventually(stack.orders.held.is_set, "holding a status call")

    worker.popen.send_signal(signal.SIGTERM)
    # gunicorn's worker leaves its request loop only after DRAINING is set.
    eventually(lambda: "Worker exiting" in worker.output(), "draining")
    later = publish(stack.redis, stack.orders, 3, "after-sigterm")
    stack.orders.release.set()

    assert worker.popen.wait(timeout=15) == 0
    assert stack.all_final(order_ids)
    assert [stack.orders.status(order_id) for order_id in later] == ["PLACED"] * 3
    assert stack.pending() == 0  # nothing left half-done: the later events were never read
    assert '"consumer stopped"' in worker.output()


def test_readiness_follows_redis_and_the_loop_resumes_after_a_redis_restart(stack: Stack) -> None:
    worker, url, _ = stack.start_worker()
    redis_child = stack.group.children[0]
    redis_child.stop()
    eventually(lambda: http_status(url + "/readyz") == 503, "unready without Redis")

    start_redis(stack.group, stack.redis_port)  # empty: the stream and the group are gone too
    eventually(lambda: http_status(url + "/readyz") == 200, "ready again")
    order_ids = publish(stack.redis, stack.orders, 3, "after-restart")
    eventually(lambda: stack.all_final(order_ids), "all final")
    assert worker.running()


def test_python_m_fulfillment_consumes_in_the_foreground_until_sigterm(stack: Stack) -> None:
    child = stack.group.start("fulfillment-cli", [sys.executable, "-m", "fulfillment"], stack.env())
    order_ids = publish(stack.redis, stack.orders, 3, "cli")
    eventually(lambda: stack.all_final(order_ids), "all final")

    child.popen.send_signal(signal.SIGTERM)
    assert child.popen.wait(timeout=10) == 0
    assert '"consumer stopped"' in child.output()


def test_the_dead_letter_stream_stays_about_its_cap(stack: Stack) -> None:
    stack.redis.config_set("stream-node-max-entries", 5)  # `~` trims whole nodes: small ones
    metrics = stack.start_worker(FULFILLMENT_DEAD_LETTER_MAX_LENGTH="10").metrics
    with stack.redis.pipeline(transaction=False) as pipe:
        for _ in range(40):
            pipe.xadd(STREAM, {"event": "{not json"})
        published = pipe.execute()

    eventually(lambda: metric(metrics, "dead_letters_total", stream=STREAM) == 40, "dead-lettered")
    letters: Any = stack.redis.xrange(f"{STREAM}:dead")
    assert 10 <= len(letters) < 15
    kept = [fields[b"originalId"] for _, fields in letters]
    # The oldest went first (a batch's messages are handled side by side, in any order).
    assert len(set(kept)) == len(kept)
    assert set(kept) <= set(published[20:])
