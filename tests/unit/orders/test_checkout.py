"""Checkout's business rules, seen through the API and the table it writes."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fakeredis
import pytest
import urllib3
from botocore.exceptions import ClientError
from moto.dynamodb.responses import DynamoHandler
from prometheus_client import REGISTRY
from tests.shoppers import checkout_body
from tests.unit.orders.conftest import HMAC_KEY, STREAM, Shop

from orders.checkout import OrdersDependencies, relay_unpublished
from orders.events import EventPublisher
from orders.models import Checkout, Order
from orders.store import OUTBOX_LEASE_SECONDS


def keyed(purpose: str, text: str) -> str:
    return hmac.new(HMAC_KEY.encode(), f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def test_order_ids_are_random_not_derived_from_the_idempotency_key(shop: Shop) -> None:
    cart = list(shop.cart.carts["crt-1"])
    first = shop.checkout(key="the-same-key-0001").get_json()["id"]
    orders_store = shop.app.extensions["orders"].store
    for item in shop.items():  # an empty table: the key is new again
        orders_store.client().delete_item(TableName=orders_store.table, Key={"pk": item["pk"]})
    shop.cart.carts["crt-1"] = cart
    second = shop.checkout(key="the-same-key-0001").get_json()["id"]
    assert re.fullmatch(r"ord-[0-9a-f]{32}", first)
    assert re.fullmatch(r"ord-[0-9a-f]{32}", second)
    assert first != second  # nothing to compute an order's id from


def test_the_idempotency_key_is_stored_only_keyed_by_the_server_secret(shop: Shop) -> None:
    key = "a-shoppers-key-0001"
    order = shop.checkout(key=key).get_json()
    items = {item["pk"]["S"]: item for item in shop.items()}
    idempotency = items[f"idempotency#{keyed('idempotency-key', key)}"]
    assert idempotency["orderId"]["S"] == order["id"]
    assert key not in json.dumps(list(items.values()))
    assert hashlib.sha256(f"checkout:{key}".encode()).hexdigest()[:24] not in order["id"]


def test_the_stored_request_fingerprint_gives_away_no_card_number(shop: Shop) -> None:
    card = "4242424242424242"
    body = checkout_body(payment={"card": card})
    shop.client.post("/api/orders/orders", json=body, headers={"Idempotency-Key": "key-00000001"})
    stored = json.dumps(shop.items())
    assert card not in stored
    assert hashlib.sha256(card.encode()).hexdigest() not in stored
    # An attacker with the table and every other field tries each card: the plain hash of the
    # body, as it was stored before, would confirm the right one.
    assert (
        hashlib.sha256(Checkout.model_validate(body).model_dump_json().encode()).hexdigest()
        not in stored
    )
    last4 = {**body, "payment": {"cardLast4": "4242"}}
    canonical = json.dumps(last4, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert keyed("checkout-request", canonical) in stored


def test_a_checked_out_cart_is_not_checked_out_again_with_another_key(shop: Shop) -> None:
    lines = list(shop.cart.carts["crt-1"])
    first = shop.checkout(key="key-first-0001").get_json()
    for cart_still_there in (False, True):  # deleted, or its deletion failed
        if cart_still_there:
            shop.cart.carts["crt-1"] = lines
        again = shop.checkout(key="key-second-0001")
        assert again.status_code == 409
        problem = again.get_json()
        assert problem["type"].endswith("/cart-checked-out")
        assert first["id"] not in again.get_data(as_text=True)  # not the other buyer's link
    assert [order["id"] for order in shop.mine().get_json()["items"]] == [first["id"]]
    assert len(shop.events()) == 1


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each call atomically; moto's in-memory backend does not (a transaction
    checks its conditions, then writes, unlocked), so concurrent tests serialise its calls."""
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic(self: DynamoHandler) -> Any:
        with lock:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)


def race(shop: Shop, keys: list[str]) -> list[Any]:
    """Check out crt-1 once per key, all at once: each passes its reads before any writes."""
    shop.catalog.rendezvous = threading.Barrier(len(keys))
    clients = [shop.app.test_client() for _ in keys]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return list(
            pool.map(
                lambda pair: pair[0].post(
                    "/api/orders/orders", json=checkout_body(), headers={"Idempotency-Key": pair[1]}
                ),
                zip(clients, keys, strict=True),
            )
        )


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_checkouts_of_one_cart_with_different_keys_make_one_order(
    shop: Shop,
) -> None:
    answers = race(shop, [f"key-racer-{n:04d}" for n in range(6)])
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409, 409, 409, 409], statuses
    placed = next(answer.get_json() for answer in answers if answer.status_code == 201)
    losers = [answer.get_json() for answer in answers if answer.status_code == 409]
    assert all(problem["type"].endswith("/cart-checked-out") for problem in losers)
    assert [order["id"] for order in shop.mine().get_json()["items"]] == [placed["id"]]
    assert [event["orderId"] for event in shop.events()] == [placed["id"]]


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_checkouts_with_the_same_key_all_answer_the_same_order(shop: Shop) -> None:
    answers = race(shop, ["key-same-0001"] * 5)
    assert [answer.status_code for answer in answers] == [201] * 5
    assert len({answer.get_json()["id"] for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 4
    assert len(shop.mine().get_json()["items"]) == 1
    assert len(shop.events()) == 1
    assert len(shop.stored("order")) == 1  # in the table itself, not only as listed
    assert len(shop.stored("idempotency")) == 1


class ConflictingClient:
    """The DynamoDB client, but the next `conflicts` transactions lose an item to another
    transaction, as DynamoDB cancels one of two racing transactions."""

    def __init__(self, real: Any, conflicts: int) -> None:
        self.real = real
        self.conflicts = conflicts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def transact_write_items(self, **request: Any) -> Any:
        if self.conflicts:
            self.conflicts -= 1
            reasons = [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}]
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**request)


def conflicting(shop: Shop, conflicts: int) -> None:
    orders = shop.app.extensions["orders"]
    client = ConflictingClient(orders.store.client(), conflicts)
    shop.app.extensions["orders"] = dataclasses.replace(
        orders, store=dataclasses.replace(orders.store, client=lambda: client)
    )


def test_a_transaction_conflict_is_tried_again(shop: Shop) -> None:
    conflicting(shop, conflicts=2)
    assert shop.checkout().status_code == 201
    assert len(shop.mine().get_json()["items"]) == 1


def test_a_lasting_conflict_is_a_409_to_retry_and_writes_nothing(shop: Shop) -> None:
    conflicting(shop, conflicts=100)
    answer = shop.checkout()
    assert answer.status_code == 409
    assert answer.get_json()["type"].endswith("/checkout-in-progress")
    assert shop.items() == []
    assert "crt-1" in shop.cart.carts
    assert shop.events() == []


TOTAL = 2 * 1200 + 4500  # crt-1 at the catalog's prices


def test_the_total_the_shopper_saw_is_the_total_charged(shop: Shop) -> None:
    expected = {"amount": TOTAL, "currency": "USD"}
    placed = shop.checkout(expectedTotal=expected)
    assert placed.status_code == 201
    assert placed.get_json()["total"] == expected


def test_a_total_that_changed_is_asked_about_and_nothing_is_written(shop: Shop) -> None:
    shop.catalog.set_price("kettle", 4900)  # repriced since the shopper looked
    answer = shop.checkout(expectedTotal={"amount": TOTAL, "currency": "USD"})
    assert answer.status_code == 409
    problem = answer.get_json()
    assert problem["type"].endswith("/total-changed")
    assert problem["total"] == {"amount": 2 * 1200 + 4900, "currency": "USD"}
    assert shop.items() == []
    assert "crt-1" in shop.cart.carts
    assert shop.events() == []
    # Agreeing to the new total, with a new key, places the order.
    again = shop.checkout(key="key-00000002", expectedTotal=problem["total"])
    assert again.status_code == 201
    assert again.get_json()["total"] == problem["total"]


def test_without_an_expected_total_the_current_total_is_charged(shop: Shop) -> None:
    shop.catalog.set_price("kettle", 4900)
    placed = shop.checkout()
    assert placed.status_code == 201
    assert placed.get_json()["total"]["amount"] == 2 * 1200 + 4900


@pytest.mark.parametrize(
    "expected",
    [
        {"amount": "6900", "currency": "USD"},
        {"amount": TOTAL, "currency": "EUR"},
        {"amount": -1, "currency": "USD"},
        {"amount": TOTAL, "currency": "USD", "note": "x"},
        {"amount": TOTAL},
    ],
)
def test_a_malformed_expected_total_is_a_422(shop: Shop, expected: dict[str, Any]) -> None:
    answer = shop.checkout(expectedTotal=expected)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["location"].startswith("body.expectedTotal")
    assert shop.items() == []


def test_the_openapi_documents_the_expected_total_and_its_409(shop: Shop) -> None:
    document = shop.client.get("/api/orders/openapi.json").get_json()
    checkout = document["components"]["schemas"]["Checkout"]
    assert "expectedTotal" in checkout["properties"]
    assert "expectedTotal" not in checkout.get("required", [])
    assert "409" in document["paths"]["/api/orders/orders"]["post"]["responses"]


# The outbox relay.


def orders_of(shop: Shop) -> OrdersDependencies:
    orders: OrdersDependencies = shop.app.extensions["orders"]
    return orders


def place_while_redis_is_down(shop: Shop, count: int) -> list[str]:
    """`count` orders whose events Redis did not take: in the outbox, leased by their checkout."""
    shop.server.connected = False
    ids = []
    for number in range(count):
        shop.cart.carts[f"crt-{number}"] = [{"productId": "mug", "quantity": 1}]
        placed = shop.checkout(key=f"key-outbox-{number:04d}", cartId=f"crt-{number}")
        assert placed.status_code == 201  # the order stands
        ids.append(placed.get_json()["id"])
    shop.server.connected = True
    return ids


def published(shop: Shop) -> list[str]:
    return [event["orderId"] for event in shop.events()]


def test_an_event_redis_did_not_take_is_published_by_the_relay_once_its_lease_ends(
    shop: Shop,
) -> None:
    (order_id,) = place_while_redis_is_down(shop, 1)
    assert relay_unpublished(orders_of(shop)) == 0  # the checkout's lease still holds it
    assert shop.events() == []
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    assert relay_unpublished(orders_of(shop)) == 1
    assert relay_unpublished(orders_of(shop)) == 0  # nothing left: no second event
    assert published(shop) == [order_id]


class Interleaved:
    """An event publisher that runs `meanwhile` in the middle of its first publication, as a
    relay in another worker would run at the same moment."""

    def __init__(self, real: EventPublisher, meanwhile: Callable[[], object]) -> None:
        self.real = real
        self.meanwhile: Callable[[], object] | None = meanwhile

    def publish_order_placed(self, order: Order) -> None:
        self.real.publish_order_placed(order)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()


def test_two_relays_over_one_table_publish_each_event_once(shop: Shop) -> None:
    ids = place_while_redis_is_down(shop, 5)
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    other = orders_of(shop)  # another worker: the same table and stream
    first = dataclasses.replace(
        other, events=Interleaved(other.events, lambda: relay_unpublished(other))
    )
    relay_unpublished(first)
    assert sorted(published(shop)) == sorted(ids)  # each once


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_relays_publish_each_event_once(shop: Shop) -> None:
    ids = place_while_redis_is_down(shop, 12)
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    workers = [  # each its own Redis connection, as worker processes have
        dataclasses.replace(
            orders_of(shop),
            events=EventPublisher(fakeredis.FakeRedis(server=shop.server), STREAM),
        )
        for _ in range(4)
    ]
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        list(pool.map(relay_unpublished, workers))
    assert sorted(published(shop)) == sorted(ids)


def test_a_backlog_larger_than_a_page_drains_in_one_run(shop: Shop) -> None:
    ids = place_while_redis_is_down(shop, 23)
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    orders = orders_of(shop)
    paged = dataclasses.replace(orders, store=dataclasses.replace(orders.store, outbox_page=5))
    assert relay_unpublished(paged) == 23
    assert sorted(published(shop)) == sorted(ids)


def test_the_relay_stops_at_the_first_event_redis_refuses(shop: Shop) -> None:
    ids = place_while_redis_is_down(shop, 3)
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    shop.server.connected = False
    assert relay_unpublished(orders_of(shop)) == 0
    shop.server.connected = True
    assert relay_unpublished(orders_of(shop)) == 2  # the one it tried waits for its lease
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    assert relay_unpublished(orders_of(shop)) == 1
    assert sorted(published(shop)) == sorted(ids)


def test_a_replay_does_not_publish_what_its_first_attempt_is_publishing(shop: Shop) -> None:
    (order_id,) = place_while_redis_is_down(shop, 1)
    replay = shop.checkout(key="key-outbox-0000", cartId="crt-0")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert shop.events() == []  # the first attempt's lease holds it
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    shop.checkout(key="key-outbox-0000", cartId="crt-0")  # cut short long ago: publish it
    assert published(shop) == [order_id]
    assert relay_unpublished(orders_of(shop)) == 0


# Emptying the cart, after the order is written.


REASONS = ("unavailable", "refused", "error")


def cleanup_failures(reason: str) -> float:
    sample = "orders_cart_cleanup_failures_total"
    return REGISTRY.get_sample_value(sample, {"reason": reason}) or 0.0


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (503, "unavailable"),  # the client gave up: 5xx, timeouts, circuit open
        (urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), "unavailable"),
        (RuntimeError("anything else"), "error"),
        (409, "refused"),
    ],
    ids=["a-5xx", "a-timeout", "an-exception", "a-4xx"],
)
def test_a_placed_order_is_a_201_whatever_becomes_of_its_cart(
    shop: Shop, failure: Exception | int, reason: str
) -> None:
    shop.cart.delete_fails = failure
    before = cleanup_failures(reason)
    placed = shop.checkout()
    assert placed.status_code == 201
    order = placed.get_json()
    assert shop.client.get(f"/api/orders/orders/{order['id']}").status_code == 200
    assert published(shop) == [order["id"]]  # and fulfillment hears of it
    assert cleanup_failures(reason) == before + 1
    # The cart is left, but it cannot become a second order.
    shop.cart.delete_fails = None
    assert shop.checkout(key="key-00000002").status_code == 409


def test_a_cart_already_gone_is_no_cleanup_failure(shop: Shop) -> None:
    shop.cart.delete_fails = 404
    before = [cleanup_failures(reason) for reason in REASONS]
    assert shop.checkout().status_code == 201
    assert [cleanup_failures(reason) for reason in REASONS] == before


# Prices.


def test_lines_are_priced_from_catalogs_current_data_not_its_cache(shop: Shop) -> None:
    shop.catalog.set_price("mug", 1500)  # written a moment ago; the cached read still says 1200
    order = shop.checkout().get_json()
    assert [(item["productId"], item["unitPrice"]["amount"]) for item in order["items"]] == [
        ("mug", 1500),
        ("kettle", 4500),
    ]
    assert order["total"]["amount"] == 2 * 1500 + 4500


def test_a_product_catalog_no_longer_has_is_a_422_even_if_still_cached(shop: Shop) -> None:
    del shop.catalog.products["kettle"]
    answer = shop.checkout()
    assert answer.status_code == 422
    assert answer.get_json()["type"].endswith("/product-unavailable")
    assert answer.get_json()["productId"] == "kettle"
    assert shop.items() == []


class ThrottledOutbox:
    """The DynamoDB client, but taking an order out of the outbox is throttled."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def update_item(self, **request: Any) -> Any:
        if request.get("UpdateExpression", "").startswith("REMOVE outbox"):
            error = {"Code": "ThrottlingException", "Message": "slow down"}
            raise ClientError({"Error": error}, "UpdateItem")
        return self.real.update_item(**request)


def test_a_placed_order_is_a_201_when_its_outbox_entry_cannot_be_cleared(shop: Shop) -> None:
    orders = orders_of(shop)
    client = ThrottledOutbox(orders.store.client())
    shop.app.extensions["orders"] = dataclasses.replace(
        orders, store=dataclasses.replace(orders.store, client=lambda: client)
    )
    placed = shop.checkout()
    assert placed.status_code == 201
    assert published(shop) == [placed.get_json()["id"]]


# The relay when nothing failed.


def test_an_order_published_at_checkout_leaves_the_relay_nothing_to_do(shop: Shop) -> None:
    order_id = shop.checkout().get_json()["id"]
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    assert relay_unpublished(orders_of(shop)) == 0
    assert published(shop) == [order_id]


def test_a_relay_told_to_stop_publishes_nothing(shop: Shop) -> None:
    place_while_redis_is_down(shop, 2)
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    assert relay_unpublished(orders_of(shop), stop=lambda: True) == 0
    assert shop.events() == []
    assert relay_unpublished(orders_of(shop)) == 2  # the next run takes them
