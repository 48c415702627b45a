"""The whole store, every process running, through the edge: what a shopper does, and what
happens when parts of it fail."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tests.integration.conftest import Store
from tests.order_stream import fulfillment_records, scan_table
from tests.shoppers import checkout_body

pytestmark = pytest.mark.integration

ORDERS_TABLE = "emporium-orders"


def test_a_shopper_browses_fills_a_cart_checks_out_and_the_order_ships(
    store: Store,
) -> None:
    assert store.call("GET", "/").status_code == 200  # the UI, through the same edge
    categories = store.call("GET", "/api/catalog/categories").json()["items"]
    kitchen = store.call("GET", f"/api/catalog/products?category={categories[0]['id']}&limit=2")
    first, second = kitchen.json()["items"]
    cart_id = store.cart_with((first["id"], 2), (second["id"], 1))
    cart = store.call("GET", f"/api/cart/carts/{cart_id}").json()
    expected = 2 * first["price"]["amount"] + second["price"]["amount"]
    assert cart["subtotal"]["amount"] == expected

    dynamodb_url = f"http://127.0.0.1:{store.ports.dynamodb}"
    effects = {effect: store.fulfillment_effects(effect) for effect in ("charge", "ship")}
    orders_before = len(stored_orders(dynamodb_url))
    key = str(uuid.uuid4())
    placed = store.checkout(cart_id, key=key)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "PLACED"
    assert order["total"]["amount"] == expected
    assert store.call("GET", f"/api/cart/carts/{cart_id}").status_code == 404  # emptied: gone

    shipped = store.wait_final(order["id"])
    assert shipped["status"] == "SHIPPED"
    assert [change["status"] for change in shipped["statusHistory"]] == [
        "PLACED",
        "PAID",
        "SHIPPED",
    ]

    replay = store.checkout(cart_id, key=key)  # the same checkout, sent again
    assert replay.status_code == 201
    assert replay.json()["id"] == order["id"]
    signed_in = {"Authorization": f"Bearer {store.id_token('ada@example.com')}"}
    mine = store.call("GET", "/api/orders/orders?limit=100", headers=signed_in).json()["items"]
    assert [o["id"] for o in mine].count(order["id"]) == 1
    assert store.call("GET", "/api/orders/orders?limit=100").status_code == 401

    # Applied once, as its effects show: one charge and one shipment made...
    made = {kind: store.fulfillment_effects(kind) - before for kind, before in effects.items()}
    assert made == {"charge": 1, "ship": 1}
    for kind in ("payment", "shipment"):
        assert order["id"] in fulfillment_records(dynamodb_url, "emporium-fulfillment", kind)
    # ...and one order in orders' table, which keeps the card's last four digits, no more.
    assert len(stored_orders(dynamodb_url)) == orders_before + 1
    stored = scan_table(dynamodb_url, ORDERS_TABLE)
    (order_item,) = [item for item in stored if item["pk"]["S"] == f"order#{order['id']}"]
    keys = [item for item in stored if item["pk"]["S"].startswith("idempotency#")]
    assert [item["orderId"]["S"] for item in keys].count(order["id"]) == 1
    assert order_item["paymentLast4"]["S"] == "4242"
    assert "4242424242424242" not in json.dumps(stored)


def stored_orders(dynamodb_url: str) -> list[dict[str, Any]]:
    """The order items of orders' table, as stored (its other items record keys and carts)."""
    items = scan_table(dynamodb_url, ORDERS_TABLE)
    return [item for item in items if item["pk"]["S"].startswith("order#")]


def test_a_cart_becomes_one_order_at_the_total_the_shopper_saw(store: Store) -> None:
    cart_id = store.cart_with(("cast-iron-skillet", 1))
    subtotal = store.call("GET", f"/api/cart/carts/{cart_id}").json()["subtotal"]
    body = {**checkout_body(cart_id), "expectedTotal": {**subtotal, "amount": 1}}
    changed = store.call(
        "POST", "/api/orders/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert changed.status_code == 409, changed.text
    assert changed.json()["type"].endswith("/total-changed")
    assert changed.json()["total"] == subtotal  # nothing written: the cart is still there
    placed = store.call(
        "POST",
        "/api/orders/orders",
        json={**body, "expectedTotal": changed.json()["total"]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 201, placed.text
    again = store.checkout(cart_id)  # another key: the cart made its order already
    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("/cart-checked-out")
    assert placed.json()["id"] not in again.text


def test_a_card_ending_0000_is_declined(store: Store) -> None:
    order = store.checkout(store.cart_with(("cast-iron-skillet", 1)), card="4000000000000000")
    assert order.status_code == 201, order.text
    final = store.wait_final(order.json()["id"])
    assert final["status"] == "PAYMENT_DECLINED"
    assert [change["status"] for change in final["statusHistory"]] == ["PLACED", "PAYMENT_DECLINED"]


def test_with_catalog_down_adding_to_a_cart_is_a_503_and_changes_nothing(store: Store) -> None:
    cart_id = store.cart_with(("cast-iron-skillet", 1))
    before = store.call("GET", f"/api/cart/carts/{cart_id}").json()
    store.child("catalog").stop()
    try:
        added = store.call(
            "PUT", f"/api/cart/carts/{cart_id}/items/bamboo-bath-mat", json={"quantity": 1}
        )
        assert added.status_code == 503
        assert added.headers["Content-Type"] == "application/problem+json"
        assert int(added.headers["Retry-After"]) >= 1
        assert store.call("GET", f"/api/cart/carts/{cart_id}").json() == before
    finally:
        store.restart("catalog")


def test_a_worker_killed_mid_stream_still_completes_every_order_exactly_once(store: Store) -> None:
    cards = ["4000000000000000" if n % 10 == 0 else "4242424242424242" for n in range(100)]
    dynamodb_url = f"http://127.0.0.1:{store.ports.dynamodb}"

    def recorded(kind: str) -> set[str]:  # the orders fulfillment charged or shipped
        return set(fulfillment_records(dynamodb_url, "emporium-fulfillment", kind))

    with ThreadPoolExecutor(max_workers=8) as pool:
        charged_before = len(recorded("payment"))
        placing = [
            pool.submit(
                lambda card: store.checkout(store.cart_with(("linen-tea-towels", 1)), card), card
            )
            for card in cards
        ]
        deadline = time.monotonic() + 60
        while len(recorded("payment")) < charged_before + 20:
            assert time.monotonic() < deadline, "fulfillment did not start on the orders"
            time.sleep(0.05)
        worker = store.child("fulfillment")
        os.killpg(worker.pid, signal.SIGKILL)  # master and worker, in the middle of the stream
        worker.popen.wait()
        store.restart("fulfillment")  # a new consumer claims what the dead one held

        orders = [future.result().json()["id"] for future in placing]
        finals = list(pool.map(lambda order_id: store.wait_final(order_id, 120), orders))
        payments, shipments = recorded("payment"), recorded("shipment")
        charged = [order_id in payments for order_id in orders]
        shipped = [order_id in shipments for order_id in orders]

    expected = ["PAYMENT_DECLINED" if card.endswith("0000") else "SHIPPED" for card in cards]
    assert [order["status"] for order in finals] == expected
    for order in finals:  # every step applied once: no status twice in an order's history
        steps = [change["status"] for change in order["statusHistory"]]
        assert steps in (["PLACED", "PAID", "SHIPPED"], ["PLACED", "PAYMENT_DECLINED"]), steps
    assert all(charged)  # one charge decision per order, recorded once (a conditional put)
    assert shipped == [status == "SHIPPED" for status in expected]


def test_concurrent_additions_to_one_cart_keep_every_line(store: Store) -> None:
    products = [
        p["id"] for p in store.call("GET", "/api/catalog/products?limit=12").json()["items"]
    ]
    cart_id = store.cart_with()
    with ThreadPoolExecutor(max_workers=len(products)) as pool:
        answers = list(
            pool.map(
                lambda product: store.call(
                    "PUT", f"/api/cart/carts/{cart_id}/items/{product}", json={"quantity": 1}
                ),
                products,
            )
        )
    assert {answer.status_code for answer in answers} <= {200, 409}  # 409: retry later, said so
    added = {p for p, answer in zip(products, answers, strict=True) if answer.status_code == 200}
    lines = store.call("GET", f"/api/cart/carts/{cart_id}").json()["items"]
    assert {line["productId"] for line in lines} == added  # no acknowledged line was lost
    assert len(added) >= len(products) // 2, len(added)
