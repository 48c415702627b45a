"""Checkout's business rules, seen through the API and the table it writes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from tests.unit.orders.conftest import HMAC_KEY, Store, checkout_body

from orders.models import Checkout


def keyed(purpose: str, text: str) -> str:
    return hmac.new(HMAC_KEY.encode(), f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def test_order_ids_are_random_not_derived_from_the_idempotency_key(store: Store) -> None:
    cart = list(store.cart.carts["crt-1"])
    first = store.checkout(key="the-same-key-0001").get_json()["id"]
    orders_store = store.app.extensions["orders"].store
    for item in store.items():  # an empty table: the key is new again
        orders_store.client().delete_item(TableName=orders_store.table, Key={"pk": item["pk"]})
    store.cart.carts["crt-1"] = cart
    second = store.checkout(key="the-same-key-0001").get_json()["id"]
    assert re.fullmatch(r"ord-[0-9a-f]{32}", first)
    assert re.fullmatch(r"ord-[0-9a-f]{32}", second)
    assert first != second  # nothing to compute an order's id from


def test_the_idempotency_key_is_stored_only_keyed_by_the_server_secret(store: Store) -> None:
    key = "a-shoppers-key-0001"
    order = store.checkout(key=key).get_json()
    items = {item["pk"]["S"]: item for item in store.items()}
    idempotency = items[f"idempotency#{keyed('idempotency-key', key)}"]
    assert idempotency["orderId"]["S"] == order["id"]
    assert key not in json.dumps(list(items.values()))
    assert hashlib.sha256(f"checkout:{key}".encode()).hexdigest()[:24] not in order["id"]


def test_the_stored_request_fingerprint_gives_away_no_card_number(store: Store) -> None:
    card = "4242424242424242"
    body = checkout_body(payment={"card": card})
    store.client.post("/api/orders/orders", json=body, headers={"Idempotency-Key": "key-00000001"})
    stored = json.dumps(store.items())
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
