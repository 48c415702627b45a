"""A checkout replayed with its Idempotency-Key after its first attempt could not publish:
the replay answers the same order and publishes its event, once. Once is counted in the
effects, not only read from the answers: the events in the stream and the items in the table
(one order, one record of the key, one claim of the cart), the card kept as its last four
digits only."""

from __future__ import annotations

import json

from tests.unit.orders.conftest import Shop

from orders.store import OUTBOX_LEASE_SECONDS


def test_a_replay_publishes_the_event_its_first_attempt_could_not(shop: Shop) -> None:
    shop.server.connected = False  # Redis refuses the first attempt's event
    first = shop.checkout(key="key-replay-0001")
    assert first.status_code == 201
    shop.server.connected = True
    assert shop.events() == []
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)  # the first attempt's lease has ended

    again = shop.checkout(key="key-replay-0001")

    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert [event["orderId"] for event in shop.events()] == [first.get_json()["id"]]
    assert shop.checkout(key="key-replay-0001").status_code == 201
    assert len(shop.events()) == 1  # a second replay publishes nothing more

    order_id = first.get_json()["id"]
    (order,) = shop.stored("order")  # three attempts, one order
    assert order["pk"]["S"] == f"order#{order_id}"
    (record,) = shop.stored("idempotency")
    assert record["orderId"]["S"] == order_id
    (claim,) = shop.stored("cart")
    assert claim["pk"]["S"] == "cart#crt-1"
    assert order["paymentLast4"]["S"] == "4242"
    assert "4242424242424242" not in json.dumps(shop.items())
