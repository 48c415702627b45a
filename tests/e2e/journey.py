"""The shopper's journey on a release in the cluster, whoever released it (helm install, or
skaffold run): browse, cart, checkout to SHIPPED, sign in and see the order, a forced decline,
an idempotent replay."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from tests.e2e.conftest import KindStore, figure


def shipped_after(order: dict[str, Any]) -> float:
    """Seconds from the order's PLACED to its SHIPPED, from its status history."""
    at = {c["status"]: datetime.fromisoformat(c["at"]) for c in order["statusHistory"]}
    return (at["SHIPPED"] - at["PLACED"]).total_seconds()


def shopping_journey(store: KindStore, released_by: str) -> None:
    """The whole journey through the edge; its figures are named after `released_by`."""
    assert store.call("GET", "/").status_code == 200  # the UI, through the same edge
    categories = store.call("GET", "/api/catalog/categories").json()["items"]
    listing = store.call("GET", f"/api/catalog/products?category={categories[0]['id']}&limit=2")
    first, second = listing.json()["items"]
    cart_id = store.cart_with((first["id"], 2), (second["id"], 1))
    expected = 2 * first["price"]["amount"] + second["price"]["amount"]
    assert store.call("GET", f"/api/cart/carts/{cart_id}").json()["subtotal"]["amount"] == expected

    key = str(uuid.uuid4())
    sent = time.monotonic()
    placed = store.checkout(cart_id, key=key)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["total"]["amount"] == expected
    shipped = store.wait_final(order["id"], timeout=60)
    figure(
        f"checkout sent to SHIPPED seen (through the port-forward; {released_by})",
        time.monotonic() - sent,
    )
    assert shipped["status"] == "SHIPPED"
    assert [c["status"] for c in shipped["statusHistory"]] == ["PLACED", "PAID", "SHIPPED"]
    figure(f"PLACED to SHIPPED (the order's own history; {released_by})", shipped_after(shipped))

    signed_in = {"Authorization": f"Bearer {store.id_token('ada@example.com')}"}
    mine = store.call("GET", "/api/orders/orders?limit=100", headers=signed_in)
    assert mine.status_code == 200, mine.text
    assert [o["id"] for o in mine.json()["items"]].count(order["id"]) == 1
    assert store.call("GET", "/api/orders/orders?limit=100").status_code == 401  # not signed in

    declined = store.checkout(store.cart_with(("cast-iron-skillet", 1)), card="4000000000000000")
    assert declined.status_code == 201, declined.text  # a card ending 0000 is declined
    final = store.wait_final(declined.json()["id"], timeout=60)
    assert [c["status"] for c in final["statusHistory"]] == ["PLACED", "PAYMENT_DECLINED"]

    replay = store.checkout(cart_id, key=key)  # the first checkout, sent again
    assert replay.status_code == 201, replay.text
    assert replay.json()["id"] == order["id"]
    mine = store.call("GET", "/api/orders/orders?limit=100", headers=signed_in)
    assert [o["id"] for o in mine.json()["items"]].count(order["id"]) == 1  # still one order
