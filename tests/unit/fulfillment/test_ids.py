"""The ids fulfillment gives a charge and a shipment: derived from the order id alone, as a
payment provider's or carrier's idempotency key would be, so every worker and every release
makes the same ones for an order, and a tracking number is always "EMP" and twelve digits."""

from __future__ import annotations

import re

import pytest
from tests.neighbours import FakeOrders, order_placed

from fulfillment.events import OrderPlaced, parse_event
from fulfillment.steps import Fulfillment
from fulfillment.store import FulfillmentStore

TRACKING_NUMBER = re.compile(r"EMP[0-9]{12}")
CHARGE_ID = re.compile(r"ch_[0-9a-f]{24}")


# Known ids: a change of how they are derived would give an order charged or shipped before the
# change a second, different id if its record had to be made again.
@pytest.mark.parametrize(
    ("order_id", "ids"),
    [
        ("ord-1", ("ch_142e7056d0652ac2029c24e4", "EMP765877198563")),
        ("ord-5", ("ch_d0135e912413bb58a8c6f399", "EMP563621228719")),
    ],
)
def test_an_order_gets_the_charge_id_and_tracking_number_derived_from_its_id(
    fulfillment: Fulfillment,
    store: FulfillmentStore,
    orders: FakeOrders,
    order_id: str,
    ids: tuple[str, str],
) -> None:
    orders.place(order_id)
    fulfillment(_event(order_id))
    payment, shipment = store.get("payment", order_id), store.get("shipment", order_id)
    assert payment is not None
    assert shipment is not None
    assert (payment["chargeId"], shipment["trackingNumber"]) == ids


def test_tracking_numbers_are_twelve_digits_spread_over_the_whole_range(
    fulfillment: Fulfillment,
) -> None:
    numbers = [fulfillment.ship(_event(f"ord-{n}")).trackingNumber for n in range(200)]
    assert all(TRACKING_NUMBER.fullmatch(number) for number in numbers), numbers
    assert len(set(numbers)) == 200
    assert {number[3] for number in numbers} == set("0123456789")  # every leading digit
    charge = fulfillment.charge(_event("ord-0")).chargeId
    assert CHARGE_ID.fullmatch(charge), charge


def _event(order_id: str) -> OrderPlaced:
    return parse_event({b"event": order_placed(order_id).encode()})
