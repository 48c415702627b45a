"""The OrderPlaced schema: what parses, and why what does not is malformed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.neighbours import order_placed

from emporium.models import Money
from fulfillment.events import MalformedEventError, parse_event
from orders.events import order_placed as orders_event
from orders.models import Address, Customer, Order, OrderItem, StatusChange


def document(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(order_placed("ord-1"))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = event
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return event


def fields(event: dict[str, Any]) -> dict[bytes, bytes]:
    return {b"event": json.dumps(event).encode()}


def test_an_order_placed_event_parses() -> None:
    event = parse_event(fields(document()))
    assert (event.type, event.version, event.orderId) == ("OrderPlaced", 1, "ord-1")
    assert event.payload.total.amount == 4299
    assert event.payload.paymentLast4 == "4242"
    assert event.payload.items[0].productId == "cast-iron-skillet"


def test_fields_added_within_a_version_are_ignored() -> None:
    event = parse_event(fields(document(channel="web", payload__giftWrap=True)))
    assert event.orderId == "ord-1"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({}, "no 'event' field"),
        ({b"event": b"{not json"}, "not an event document"),
        ({b"event": b"[1, 2]"}, "not an event document"),
        (fields(document(type="OrderCancelled")), "unknown event type 'OrderCancelled' version 1"),
        (fields(document(version=2)), "unknown event type 'OrderPlaced' version 2"),
        (fields(document(orderId=...)), "orderId: Field required"),
        (fields(document(time="2025-06-01T12:00:00")), "time: "),  # no UTC offset
        (fields(document(payload__paymentLast4="42")), "payload.paymentLast4"),
        (fields(document(payload__total__amount="4299")), "payload.total.amount"),
        (fields(document(payload__total__amount=-1)), "payload.total.amount"),
        (fields(document(payload__items=[])), "payload.items"),
    ],
)
def test_a_message_that_is_not_a_known_event_is_malformed(
    message: dict[bytes, bytes], reason: str
) -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_event(message)
    assert reason in str(caught.value)


def test_the_reason_names_fields_but_not_their_values() -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_event(fields(document(payload__customerEmail=["ada@example.com"])))
    assert "payload.customerEmail" in str(caught.value)
    assert "ada@example.com" not in str(caught.value)


def test_fulfillment_reads_the_event_orders_makes() -> None:
    """The consumer's side of the contract: the schema is orders' (`orders.events`)."""
    money = Money(amount=2400, currency="USD")
    order = Order(
        id="ord-" + "0" * 32,
        status="PLACED",
        items=[
            OrderItem(productId="mug", name="Mug", quantity=2, unitPrice=money, lineTotal=money)
        ],
        total=money,
        customer=Customer(
            email="ada@example.com",
            name="Ada Lovelace",
            address=Address(
                line1="1 Analytical St", city="London", postalCode="N1 9GU", country="GB"
            ),
        ),
        paymentLast4="4242",
        createdAt="2026-11-27T06:00:00.000Z",
        statusHistory=[StatusChange(status="PLACED", at="2026-11-27T06:00:00.000Z")],
    )
    event = parse_event(fields(orders_event(order)))
    assert (event.type, event.version, event.orderId) == ("OrderPlaced", 1, order.id)
    assert (event.payload.total.amount, event.payload.items[0].quantity) == (2400, 2)
    assert event.payload.customerEmail == "ada@example.com"
