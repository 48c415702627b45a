"""The orders table's own guarantees, written straight to the store as two racing checkouts
would: each has passed its reads (no earlier order for its key, its cart not claimed) before
either writes, so only the table's conditions stand between them and a second order."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.unit.orders.conftest import HMAC_KEY, Store

from orders.models import Order
from orders.store import OrdersStore, Written

KEY = "key-racing-0001"


def keyed(purpose: str, text: str) -> str:
    return hmac.new(HMAC_KEY.encode(), f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def orders_store(store: Store) -> OrdersStore:
    orders_store: OrdersStore = store.app.extensions["orders"].store
    return orders_store


def stored(store: Store) -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in store.items()}


def placed(store: Store) -> Order:
    """The order of a checkout of crt-1 with `KEY`, as the table holds it."""
    answer = store.checkout(key=KEY)
    assert answer.status_code == 201
    order = orders_store(store).get_order(answer.get_json()["id"])
    assert order is not None
    return order


def rival(order: Order, number: int) -> Order:
    """Another checkout's order: its own random id."""
    return order.model_copy(update={"id": f"ord-{number:032x}"})


def test_a_second_order_with_a_taken_key_is_refused_and_writes_nothing(store: Store) -> None:
    first = placed(store)
    before = stored(store)
    second = rival(first, 2)

    written = orders_store(store).create_order(
        second, key_id=keyed("idempotency-key", KEY), fingerprint="another", cart_id="crt-2"
    )

    assert written is Written.KEY_TAKEN
    assert stored(store) == before  # no second order, no claim of crt-2, the key still the first's
    assert orders_store(store).get_order(second.id) is None
    assert not orders_store(store).cart_checked_out("crt-2")
    prior = orders_store(store).checkout_of(keyed("idempotency-key", KEY))
    assert prior is not None
    assert prior.order.id == first.id


def test_a_second_order_of_a_claimed_cart_is_refused_and_writes_nothing(store: Store) -> None:
    first = placed(store)
    before = stored(store)
    second = rival(first, 2)

    written = orders_store(store).create_order(
        second, key_id=keyed("idempotency-key", "key-other-0001"), fingerprint="f", cart_id="crt-1"
    )

    assert written is Written.CART_TAKEN
    assert stored(store) == before
    assert orders_store(store).checkout_of(keyed("idempotency-key", "key-other-0001")) is None


def test_the_same_key_and_cart_again_is_the_key_taken(store: Store) -> None:
    first = placed(store)

    written = orders_store(store).create_order(
        rival(first, 2), key_id=keyed("idempotency-key", KEY), fingerprint="f", cart_id="crt-1"
    )

    assert written is Written.KEY_TAKEN  # a replay of the same checkout, not a cart taken
    assert [pk for pk in stored(store) if pk.startswith("order#")] == [f"order#{first.id}"]


def test_an_order_id_taken_already_is_an_error_not_an_overwrite(store: Store) -> None:
    first = placed(store)
    before = stored(store)
    again = first.model_copy(update={"total": first.total.model_copy(update={"amount": 1})})

    with pytest.raises(ClientError):
        orders_store(store).create_order(
            again, key_id=keyed("idempotency-key", "key-other-0002"), fingerprint="f", cart_id="c2"
        )

    assert stored(store) == before


def test_an_order_written_alone_is_in_the_outbox_leased_by_its_checkout(store: Store) -> None:
    order = rival(placed(store), 3)
    written = orders_store(store).create_order(
        order, key_id=keyed("idempotency-key", "key-alone-0001"), fingerprint="f", cart_id="crt-9"
    )

    assert written is Written.CREATED
    prior = orders_store(store).checkout_of(keyed("idempotency-key", "key-alone-0001"))
    assert prior is not None
    assert (prior.order, prior.fingerprint, prior.awaits_publication) == (order, "f", True)
    assert orders_store(store).cart_checked_out("crt-9")
    assert not orders_store(store).lease(order.id)  # its checkout holds it
    assert list(orders_store(store).unpublished()) == []
