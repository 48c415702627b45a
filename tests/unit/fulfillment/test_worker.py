"""The consumer loop on fakeredis, with its records in moto's DynamoDB: acknowledge, retry, claim,
dead-letter, stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from tests.checks import Counter
from tests.neighbours import order_placed
from tests.unit.fulfillment.conftest import GROUP, STREAM, Rig
from tests.waits import eventually

from fulfillment.events import OrderPlaced, parse_event
from fulfillment.steps import Fulfillment, RetryLaterError
from fulfillment.store import FulfillmentStore, Kind

CountEvents = Callable[..., Counter]


@pytest.fixture
def events(counter: Callable[..., Counter]) -> CountEvents:
    """events("done") counts events_processed_total of STREAM's OrderPlaced with that outcome."""

    def count(outcome: str, type_: str = "OrderPlaced") -> Counter:
        return counter("events_processed_total", stream=STREAM, type=type_, outcome=outcome)

    return count


def test_new_messages_are_processed_and_acknowledged(rig: Rig, events: CountEvents) -> None:
    done = events("done")
    rig.publish("approved", "4242")
    rig.publish("declined", "0000")

    rig.worker(claim_idle_ms=60_000).poll()

    assert rig.orders.status("approved") == "SHIPPED"
    assert rig.orders.status("declined") == "PAYMENT_DECLINED"
    assert rig.pending() == []
    assert done.delta == 2


def test_the_same_order_twice_is_charged_and_shipped_once(
    rig: Rig, counter: Callable[..., Counter]
) -> None:
    charges = counter("fulfillment_effects_total", effect="charge")
    ships = counter("fulfillment_effects_total", effect="ship")
    rig.publish("twice")
    rig.publish("twice")  # at least once: orders published it again

    rig.worker().poll()

    assert (charges.delta, ships.delta) == (1, 1)
    assert (len(rig.records("payment")), len(rig.records("shipment"))) == (1, 1)
    assert rig.orders.applied == [("twice", "PAID"), ("twice", "SHIPPED")]
    # The second round of status calls is answered harmlessly (409 already SHIPPED, then 200).
    assert [(asked, answer) for _, asked, answer in rig.orders.puts] == [
        ("PAID", 200),
        ("SHIPPED", 200),
        ("PAID", 409),
        ("SHIPPED", 200),
    ]
    assert rig.pending() == []


class CrashAfterCharge(FulfillmentStore):
    """The table, seen by a worker process that dies right after recording the charge."""

    def add(self, kind: Kind, order_id: str, fields: Any) -> bool:
        super().add(kind, order_id, fields)
        raise SystemExit("killed between the charge and the status update")


def test_a_crash_between_charge_and_status_update_completes_once_on_redelivery(
    rig: Rig, counter: Callable[..., Counter]
) -> None:
    rig.publish("crashy")
    crashing = CrashAfterCharge(rig.store.client, rig.store.table)
    doomed = rig.worker(
        consumer="doomed",
        claim_idle_ms=60_000,
        process=Fulfillment(crashing, rig.fulfillment.orders),
    )
    with pytest.raises(SystemExit):
        doomed.poll()
    assert len(rig.records("payment")) == 1
    assert rig.orders.applied == []
    assert [entry["consumer"] for entry in rig.pending()] == [b"doomed"]

    charges = counter("fulfillment_effects_total", effect="charge")

    rig.worker(consumer="successor").poll()  # claims it: idle for longer than 0 ms

    assert charges.delta == 0  # the recorded decision was used: no second charge
    assert len(rig.records("payment")) == 1
    assert rig.orders.applied == [("crashy", "PAID"), ("crashy", "SHIPPED")]
    assert len(rig.records("shipment")) == 1
    assert rig.pending() == []


def test_an_order_redelivered_after_redis_lost_everything_is_charged_and_shipped_once(
    rig: Rig, counter: Callable[..., Counter]
) -> None:
    charges = counter("fulfillment_effects_total", effect="charge")
    ships = counter("fulfillment_effects_total", effect="ship")
    rig.publish("evicted")
    rig.worker().poll()
    first = (rig.records("payment"), rig.records("shipment"))

    rig.client.flushall()  # an eviction, or a failover to a replica that had not caught up
    rig.client.xadd(STREAM, {"event": order_placed("evicted")})  # orders' relay sends it again
    rig.worker().poll()

    assert (charges.delta, ships.delta) == (1, 1)
    assert (rig.records("payment"), rig.records("shipment")) == first
    assert rig.orders.applied == [("evicted", "PAID"), ("evicted", "SHIPPED")]
    assert rig.pending() == []


def test_dynamodb_failing_holds_the_message_without_spending_deliveries(
    rig: Rig, events: CountEvents, aws: None
) -> None:
    deferred = events("deferred")
    message_id = rig.publish("no-table")
    stop = threading.Event()
    stop.set()  # let the message go at the first failure instead of holding it
    missing = FulfillmentStore(rig.store.client, "no-such-table")
    worker = rig.worker(stop=stop, process=Fulfillment(missing, rig.fulfillment.orders))
    worker.ensure_group()
    [message] = worker.read_new()

    assert worker.handle(message) == "deferred"

    assert [(e["message_id"], e["times_delivered"]) for e in rig.pending()] == [(message_id, 1)]
    assert rig.dead_letters() == []
    assert rig.orders.puts == []
    assert deferred.delta == 1


def test_a_409_showing_the_order_already_shipped_counts_as_done(
    rig: Rig, events: CountEvents
) -> None:
    done = events("done")
    rig.publish("shipped-before")
    worker = rig.worker()
    worker.ensure_group()
    [message_id] = rig.deliver("died-before-ack")
    entries: Any = rig.client.xrange(STREAM, message_id, message_id)
    [(_, fields)] = entries
    rig.fulfillment(parse_event(fields))  # that consumer did every step, then died before XACK

    worker.poll()

    assert [(asked, answer) for _, asked, answer in rig.orders.puts] == [
        ("PAID", 200),
        ("SHIPPED", 200),
        ("PAID", 409),
        ("SHIPPED", 200),
    ]
    assert rig.orders.applied == [("shipped-before", "PAID"), ("shipped-before", "SHIPPED")]
    assert rig.pending() == []
    assert done.delta == 1


def test_orders_unavailable_leaves_the_message_pending_when_stopping(
    rig: Rig, events: CountEvents
) -> None:
    deferred = events("deferred")
    message_id = rig.publish("during-outage")
    rig.orders.script.append((503, {"title": "Service Unavailable"}))
    stop = threading.Event()
    stop.set()  # SIGTERM arrived: do not wait for orders to come back
    worker = rig.worker(stop=stop)
    worker.ensure_group()
    [message] = worker.read_new()

    assert worker.handle(message) == "deferred"

    assert [(e["message_id"], e["times_delivered"]) for e in rig.pending()] == [(message_id, 1)]
    assert rig.orders.status("during-outage") == "PLACED"
    assert deferred.delta == 1

    rig.worker(consumer="next").poll()  # orders is back: the message was not lost
    assert rig.orders.status("during-outage") == "SHIPPED"
    assert rig.pending() == []


def test_orders_unavailable_holds_the_message_without_spending_deliveries(
    rig: Rig, events: CountEvents
) -> None:
    deferred, failed = events("deferred"), events("failed")
    rig.publish("outage")
    rig.orders.script.extend([(503, {})] * 5)  # more attempts than max_deliveries (3)
    worker = rig.worker()
    worker.ensure_group()
    [message] = worker.read_new()

    assert worker.handle(message) == "done"

    assert rig.orders.status("outage") == "SHIPPED"
    assert (deferred.delta, failed.delta) == (5, 0)
    assert rig.dead_letters() == []


def test_a_message_held_too_long_is_let_go_as_a_failure(rig: Rig, events: CountEvents) -> None:
    failed = events("failed")
    rig.publish("stuck")
    rig.orders.script.append((500, {}))  # a 5xx for this order, say
    worker = rig.worker(hold_seconds=0.0)
    worker.ensure_group()
    [message] = worker.read_new()

    assert worker.handle(message) == "failed"

    assert [entry["times_delivered"] for entry in rig.pending()] == [1]
    assert failed.delta == 1


def test_a_held_message_acknowledged_elsewhere_is_let_go(rig: Rig) -> None:
    calls: list[str] = []

    def process(event: OrderPlaced) -> None:
        calls.append(event.orderId)
        rig.client.xack(STREAM, GROUP, message.id)  # another consumer finished it meanwhile
        raise RetryLaterError("orders is unavailable")

    rig.publish("elsewhere")
    worker = rig.worker(process=process)
    worker.ensure_group()
    [message] = worker.read_new()

    assert worker.handle(message) == "deferred"
    assert calls == ["elsewhere"]


@pytest.mark.parametrize(
    "fields",
    [{"event": "{not json"}, {"event": '{"type": "OrderShipped", "version": 1}'}, {"x": "y"}],
)
def test_a_malformed_message_goes_straight_to_the_dead_letter_stream(
    rig: Rig, events: CountEvents, counter: Callable[..., Counter], fields: dict[str, str]
) -> None:
    moved = counter("dead_letters_total", stream=STREAM)
    malformed = events("dead-lettered", type_="unknown")
    message_id = rig.publish("malformed", **fields)

    rig.worker().poll()

    [letter] = rig.dead_letters()
    assert {key.encode(): value.encode() for key, value in fields.items()}.items() <= letter.items()
    assert letter[b"originalId"] == message_id
    assert letter[b"deliveries"] == b"1"
    assert letter[b"error"].startswith(b"malformed event: ")
    assert rig.pending() == []
    assert (moved.delta, malformed.delta) == (1, 1)


def test_the_dead_letter_stream_is_capped_keeping_the_newest_letters(rig: Rig) -> None:
    # Redis trims `MAXLEN ~` by whole nodes of the stream: small nodes make a small cap visible.
    rig.client.config_set("stream-node-max-entries", 5)
    worker = rig.worker(dead_letter_max_length=10)
    published = [rig.publish(f"bad-{n}", event="{not json") for n in range(40)]
    for _ in range(4):
        worker.poll()  # 10 messages a turn, each dead-lettered at once

    assert rig.pending() == []
    letters = rig.dead_letters()
    assert 10 <= len(letters) < 15  # about the cap, never below it
    assert [letter[b"originalId"] for letter in letters] == published[-len(letters) :]


def test_a_message_delivered_too_often_is_dead_lettered_unprocessed(
    rig: Rig, counter: Callable[..., Counter]
) -> None:
    moved = counter("dead_letters_total", stream=STREAM)
    message_id = rig.publish("poison")
    worker = rig.worker()  # max_deliveries=3
    worker.ensure_group()
    rig.deliver("killed-1")
    for consumer in ("killed-2", "killed-3"):  # each claimed it, then died
        rig.client.xclaim(STREAM, GROUP, consumer, 0, [message_id])

    worker.poll()  # the 4th delivery

    [letter] = rig.dead_letters()
    assert letter[b"deliveries"] == b"4"
    assert b"more than the 3 FULFILLMENT_MAX_DELIVERIES allows" in letter[b"error"]
    assert rig.orders.puts == []
    assert rig.records("payment") == {}
    assert rig.pending() == []
    assert moved.delta == 1


def test_a_message_failing_on_its_last_delivery_is_dead_lettered_with_the_error(
    rig: Rig, events: CountEvents
) -> None:
    failed = events("failed")
    rig.publish("unknown-to-orders")
    del rig.orders.orders["unknown-to-orders"]  # orders answers 404
    worker = rig.worker()

    worker.poll()  # delivery 1: fails, stays pending
    worker.poll()  # delivery 2 (claimed: idle for longer than 0 ms): fails again
    assert [entry["times_delivered"] for entry in rig.pending()] == [2]
    worker.poll()  # delivery 3 of 3

    [letter] = rig.dead_letters()
    assert letter[b"error"].startswith(b"StepRefusedError: orders answered HTTP 404")
    assert letter[b"deliveries"] == b"3"
    assert rig.pending() == []
    assert failed.delta == 2


def test_idle_messages_of_a_dead_consumer_are_claimed_and_processed(rig: Rig) -> None:
    patient = rig.worker(consumer="patient", claim_idle_ms=60_000)
    patient.ensure_group()
    rig.publish("orphan")
    rig.deliver("dead")

    patient.poll()  # idle for less than a minute: left to its consumer
    assert [entry["consumer"] for entry in rig.pending()] == [b"dead"]

    eager = rig.worker(consumer="eager", claim_idle_ms=1)

    def claimed() -> bool:
        eager.poll()
        return rig.pending() == []

    eventually(claimed, "claimed")
    assert rig.orders.status("orphan") == "SHIPPED"


def test_one_claim_pass_takes_every_page_of_idle_messages(rig: Rig) -> None:
    worker = rig.worker(consumer="survivor")
    worker.ensure_group()
    order_ids = [f"many-{index}" for index in range(25)]
    for order_id in order_ids:
        rig.publish(order_id)
    rig.deliver("dead")

    worker.claim_idle()  # in pages of 10

    assert {rig.orders.status(order_id) for order_id in order_ids} == {"SHIPPED"}
    assert rig.pending() == []


def test_stopping_finishes_the_message_in_hand_and_reads_nothing_new(rig: Rig) -> None:
    in_hand, go_on = threading.Event(), threading.Event()

    def slow_process(event: OrderPlaced) -> None:
        in_hand.set()
        assert go_on.wait(timeout=60)
        rig.fulfillment(event)

    stop = threading.Event()
    worker = rig.worker(stop=stop, process=slow_process, claim_idle_ms=60_000)
    loop = threading.Thread(target=worker.run)
    loop.start()
    try:
        rig.publish("in-hand")
        assert in_hand.wait(timeout=60)
        stop.set()  # what SIGTERM does to DRAINING
        late = rig.publish("too-late")
    finally:
        go_on.set()
        loop.join(timeout=60)
    assert not loop.is_alive()

    assert rig.pending() == []  # the message in hand was finished and acknowledged
    assert rig.orders.status("in-hand") == "SHIPPED"
    assert rig.deliver("other") == [late]  # never read by the stopped worker


def test_the_loop_pauses_while_redis_is_down_and_resumes(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.publish("after-outage")
    rig.server.connected = False
    stop = threading.Event()
    loop = threading.Thread(target=rig.worker(stop=stop, backoff=(0.01, 0.05)).run)
    with caplog.at_level(logging.WARNING, logger="fulfillment.worker"):
        loop.start()
        try:
            eventually(lambda: "Redis failed; pausing" in caplog.messages, "noticed")
            assert rig.orders.status("after-outage") == "PLACED"
            rig.server.connected = True
            eventually(lambda: rig.orders.status("after-outage") == "SHIPPED", "resumed")
        finally:
            stop.set()
            loop.join(timeout=60)
    assert not loop.is_alive()


def test_the_group_starts_at_the_beginning_of_the_stream(rig: Rig) -> None:
    rig.publish("before-the-group")  # published before fulfillment ever ran
    worker = rig.worker()
    worker.poll()
    worker.ensure_group()  # again: an existing group is fine
    assert rig.orders.status("before-the-group") == "SHIPPED"
    groups: Any = rig.client.xinfo_groups(STREAM)
    assert [group["name"] for group in groups] == [GROUP.encode()]
