"""Only the test card, ending in 0000, is declined; cards merely ending in 0 or 00 are charged."""

from __future__ import annotations

import pytest
from tests.neighbours import FakeOrders, order_placed

from fulfillment.events import parse_event
from fulfillment.steps import Fulfillment
from fulfillment.store import FulfillmentStore


@pytest.mark.parametrize("last4", ["1000", "1200", "4240", "0001", "9000"])
def test_a_card_that_only_partly_ends_in_zeros_is_approved(
    fulfillment: Fulfillment, store: FulfillmentStore, orders: FakeOrders, last4: str
) -> None:
    orders.place("ord-7")
    fulfillment(parse_event({b"event": order_placed("ord-7", last4).encode()}))
    payment = store.get("payment", "ord-7")
    assert payment is not None
    assert payment["decision"] == "approved"
    assert store.get("shipment", "ord-7") is not None
