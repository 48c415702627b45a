"""The orders table's own guarantees: the conditions of an order's write, the outbox lease,
paging, strongly consistent reads and status changes.

The conditional writes are tested straight on the store, as the second of two racing checkouts
would write: each has passed its reads (no earlier order for its key, its cart not claimed)
before either writes, so only the table's conditions stand between them and a second order."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib.util
import logging
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.unit.orders.conftest import HMAC_KEY, Shop, set_status
from tests.unit.orders.test_checkout import orders_of, place_while_redis_is_down

import orders.store
from orders.checkout import relay_unpublished
from orders.models import Order
from orders.store import OrdersStore, Written

KEY = "key-racing-0001"


def keyed(purpose: str, text: str) -> str:
    return hmac.new(HMAC_KEY.encode(), f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def orders_store(shop: Shop) -> OrdersStore:
    orders_store: OrdersStore = shop.app.extensions["orders"].store
    return orders_store


def stored(shop: Shop) -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in shop.items()}


def placed(shop: Shop) -> Order:
    """The order of a checkout of crt-1 with `KEY`, as the table holds it."""
    answer = shop.checkout(key=KEY)
    assert answer.status_code == 201
    order = orders_store(shop).get_order(answer.get_json()["id"])
    assert order is not None
    return order


def rival(order: Order, number: int) -> Order:
    """Another checkout's order: its own random id."""
    return order.model_copy(update={"id": f"ord-{number:032x}"})


def test_a_second_order_with_a_taken_key_is_refused_and_writes_nothing(shop: Shop) -> None:
    first = placed(shop)
    before = stored(shop)
    second = rival(first, 2)

    written = orders_store(shop).create_order(
        second, key_id=keyed("idempotency-key", KEY), fingerprint="another", cart_id="crt-2"
    )

    assert written is Written.KEY_TAKEN
    assert stored(shop) == before  # no second order, no claim of crt-2, the key still the first's
    assert orders_store(shop).get_order(second.id) is None
    assert not orders_store(shop).cart_checked_out("crt-2")
    prior = orders_store(shop).checkout_of(keyed("idempotency-key", KEY))
    assert prior is not None
    assert prior.order.id == first.id


def test_a_second_order_of_a_claimed_cart_is_refused_and_writes_nothing(shop: Shop) -> None:
    first = placed(shop)
    before = stored(shop)
    second = rival(first, 2)

    written = orders_store(shop).create_order(
        second, key_id=keyed("idempotency-key", "key-other-0001"), fingerprint="f", cart_id="crt-1"
    )

    assert written is Written.CART_TAKEN
    assert stored(shop) == before
    assert orders_store(shop).checkout_of(keyed("idempotency-key", "key-other-0001")) is None


def test_the_same_key_and_cart_again_is_the_key_taken(shop: Shop) -> None:
    first = placed(shop)

    written = orders_store(shop).create_order(
        rival(first, 2), key_id=keyed("idempotency-key", KEY), fingerprint="f", cart_id="crt-1"
    )

    assert written is Written.KEY_TAKEN  # a replay of the same checkout, not a cart taken
    assert [pk for pk in stored(shop) if pk.startswith("order#")] == [f"order#{first.id}"]


def test_an_order_id_taken_already_is_an_error_not_an_overwrite(shop: Shop) -> None:
    first = placed(shop)
    before = stored(shop)
    again = first.model_copy(update={"total": first.total.model_copy(update={"amount": 1})})

    with pytest.raises(ClientError):
        orders_store(shop).create_order(
            again, key_id=keyed("idempotency-key", "key-other-0002"), fingerprint="f", cart_id="c2"
        )

    assert stored(shop) == before


def test_an_order_written_alone_is_in_the_outbox_leased_by_its_checkout(shop: Shop) -> None:
    order = rival(placed(shop), 3)
    written = orders_store(shop).create_order(
        order, key_id=keyed("idempotency-key", "key-alone-0001"), fingerprint="f", cart_id="crt-9"
    )

    assert written is Written.CREATED
    prior = orders_store(shop).checkout_of(keyed("idempotency-key", "key-alone-0001"))
    assert prior is not None
    assert (prior.order, prior.fingerprint, prior.awaits_publication) == (order, "f", True)
    assert orders_store(shop).cart_checked_out("crt-9")
    assert not orders_store(shop).lease(order.id)  # its checkout holds it
    assert list(orders_store(shop).unpublished()) == []


def test_an_event_its_checkout_could_not_publish_goes_out_30_seconds_later(shop: Shop) -> None:
    """The checkout's lease lasts 30 s: the relay leaves the order alone that long (the
    checkout may still be publishing it), and not longer."""
    (order_id,) = place_while_redis_is_down(shop, 1)
    shop.clock.advance(29.9)
    assert relay_unpublished(orders_of(shop)) == 0
    shop.clock.advance(0.2)
    assert relay_unpublished(orders_of(shop)) == 1
    assert [event["orderId"] for event in shop.events()] == [order_id]


def test_a_page_that_ends_the_orders_has_no_next_cursor(shop: Shop) -> None:
    for number in range(2):
        shop.cart.carts[f"crt-{number}"] = [{"productId": "mug", "quantity": 1}]
        assert shop.checkout(key=f"key-{number:08d}", cartId=f"crt-{number}").status_code == 201
    page = shop.mine(limit=2).get_json()
    assert len(page["items"]) == 2
    assert page["nextCursor"] is None  # no empty page to ask for


class RecordingClient:
    """The DynamoDB client, recording the request of every call to one of its operations."""

    def __init__(self, real: Any, operation: str) -> None:
        self.real = real
        self.operation = operation
        self.requests: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)
        if name != self.operation:
            return method

        def recorded(**request: Any) -> Any:
            self.requests.append(request)
            return method(**request)

        return recorded


def recording(shop: Shop, operation: str) -> list[dict[str, Any]]:
    """The requests of `operation` (get_item, query) the orders app sends to DynamoDB from now."""
    orders = orders_of(shop)
    client = RecordingClient(orders.store.client(), operation)
    shop.app.extensions["orders"] = dataclasses.replace(
        orders, store=dataclasses.replace(orders.store, client=lambda: client)
    )
    return client.requests


def test_a_checkout_reads_the_table_strongly_consistently(shop: Shop) -> None:
    """An eventually consistent read could miss the order a retry's first attempt wrote a
    moment ago, or a claim of its cart, and write a second order."""
    reads = recording(shop, "get_item")
    assert shop.checkout().status_code == 201
    assert shop.checkout().headers["Idempotent-Replayed"] == "true"
    assert len(reads) >= 4  # the key, the cart's claim; the key and its order again
    assert all(read.get("ConsistentRead") is True for read in reads)


def test_a_status_change_is_logged_once_and_its_repetition_not(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = shop.checkout().get_json()["id"]
    with caplog.at_level(logging.INFO, logger="orders.routes"):
        assert set_status(shop, order_id, "PAID").status_code == 200
        assert set_status(shop, order_id, "PAID").status_code == 200
    changes = [r for r in caplog.records if r.getMessage() == "order status changed"]
    assert [(r.__dict__["orderId"], r.__dict__["status"]) for r in changes] == [(order_id, "PAID")]


def test_the_store_needs_no_type_stubs_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stubs are a development dependency: the images do not have them."""
    monkeypatch.setitem(sys.modules, "mypy_boto3_dynamodb", None)  # as if not installed
    spec = importlib.util.spec_from_file_location("orders_store_alone", orders.store.__file__)
    assert spec is not None
    assert spec.loader is not None
    alone = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, alone)  # dataclasses look their module up
    spec.loader.exec_module(alone)
    assert alone.OrdersStore.__name__ == "OrdersStore"


def test_the_next_page_starts_after_the_last_order_listed(shop: Shop) -> None:
    """DynamoDB continues a query from a key it gave out: the whole key of the page's last
    order (the table's and the index's), not one made up."""
    for number in range(3):
        shop.cart.carts[f"crt-{number}"] = [{"productId": "mug", "quantity": 1}]
        assert shop.checkout(key=f"key-{number:08d}", cartId=f"crt-{number}").status_code == 201
    queries = recording(shop, "query")
    first = shop.mine(limit=2).get_json()
    last = first["items"][-1]
    second = shop.mine(limit=2, cursor=first["nextCursor"]).get_json()
    assert len(second["items"]) == 1
    assert queries[-1]["ExclusiveStartKey"] == {
        "pk": {"S": f"order#{last['id']}"},
        "email": {"S": "ada@example.com"},
        "createdKey": {"S": f"{last['createdAt']}#{last['id']}"},
    }
