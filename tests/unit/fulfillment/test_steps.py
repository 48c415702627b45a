"""The business steps: charge and ship exactly once (recorded in DynamoDB), and how orders'
answers are read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.checks import Counter
from tests.neighbours import ORDERS_TOKEN, FakeOrders, Neighbour, connect, order_placed
from tests.unit.fulfillment.conftest import (
    OUTBOUND,
    orders_client_of,
    records,
    shared_dynamodb_client,
)
from werkzeug import Request, Response

from emporium.outbound import ServiceClient
from fulfillment.events import OrderPlaced, parse_event
from fulfillment.steps import (
    Fulfillment,
    OrdersClient,
    RetryLaterError,
    StepRefusedError,
)
from fulfillment.store import FulfillmentStore, Kind


def event(order_id: str, last4: str = "4242") -> OrderPlaced:
    return parse_event({b"event": order_placed(order_id, last4).encode()})


def record(store: FulfillmentStore, kind: Kind, order_id: str) -> dict[str, Any]:
    found = store.get(kind, order_id)
    assert found is not None, f"no {kind} recorded for {order_id}"
    return found


def test_an_approved_order_is_charged_marked_paid_and_shipped(
    fulfillment: Fulfillment,
    store: FulfillmentStore,
    orders: FakeOrders,
    counter: Callable[..., Counter],
) -> None:
    charges, shipments = (
        counter("fulfillment_effects_total", effect="charge"),
        counter("fulfillment_effects_total", effect="ship"),
    )
    orders.place("ord-1")

    fulfillment(event("ord-1"))

    payment = record(store, "payment", "ord-1")
    assert payment["decision"] == "approved"
    assert (payment["amount"], payment["currency"]) == (4299, "USD")
    assert payment["chargeId"].startswith("ch_")
    assert record(store, "shipment", "ord-1")["trackingNumber"].startswith("EMP")
    assert orders.applied == [("ord-1", "PAID"), ("ord-1", "SHIPPED")]
    assert (charges.delta, shipments.delta) == (1, 1)


def test_a_card_ending_in_0000_is_declined_and_nothing_ships(
    fulfillment: Fulfillment,
    store: FulfillmentStore,
    orders: FakeOrders,
    counter: Callable[..., Counter],
) -> None:
    shipments = counter("fulfillment_effects_total", effect="ship")
    orders.place("ord-2")

    fulfillment(event("ord-2", last4="0000"))

    assert record(store, "payment", "ord-2")["decision"] == "declined"
    assert store.get("shipment", "ord-2") is None
    assert orders.applied == [("ord-2", "PAYMENT_DECLINED")]
    assert shipments.delta == 0


def test_running_the_steps_again_charges_and_ships_nothing_more(
    fulfillment: Fulfillment,
    store: FulfillmentStore,
    orders: FakeOrders,
    counter: Callable[..., Counter],
) -> None:
    charges = counter("fulfillment_effects_total", effect="charge")
    orders.place("ord-3")
    fulfillment(event("ord-3"))
    first = (record(store, "payment", "ord-3"), record(store, "shipment", "ord-3"))

    fulfillment(event("ord-3"))

    assert (record(store, "payment", "ord-3"), record(store, "shipment", "ord-3")) == first
    assert charges.delta == 1
    assert orders.applied == [("ord-3", "PAID"), ("ord-3", "SHIPPED")]
    # The repeated calls were answered harmlessly: PAID with 409 (already SHIPPED), SHIPPED 200.
    assert [answer for _, _, answer in orders.puts] == [200, 200, 409, 200]


def test_a_recorded_decision_is_used_even_if_the_card_would_now_decide_otherwise(
    fulfillment: Fulfillment, store: FulfillmentStore, orders: FakeOrders
) -> None:
    orders.place("ord-4")
    fulfillment(event("ord-4", last4="0000"))
    fulfillment(event("ord-4", last4="4242"))  # a later event must not charge the order again
    assert record(store, "payment", "ord-4")["decision"] == "declined"
    assert orders.applied == [("ord-4", "PAYMENT_DECLINED")]


def test_each_record_is_one_item_keyed_by_kind_and_order(
    fulfillment: Fulfillment, store: FulfillmentStore, orders: FakeOrders
) -> None:
    orders.place("ord-5")
    fulfillment(event("ord-5"))
    items = store.client().scan(TableName=store.table)["Items"]
    assert sorted(item["pk"]["S"] for item in items) == ["payment#ord-5", "shipment#ord-5"]
    assert set(records(store, "payment")) == set(records(store, "shipment")) == {"ord-5"}


def test_a_charge_recorded_by_another_worker_first_is_read_back_not_made_again(
    fulfillment: Fulfillment,
    store: FulfillmentStore,
    orders: FakeOrders,
    counter: Callable[..., Counter],
) -> None:
    charges = counter("fulfillment_effects_total", effect="charge")
    orders.place("ord-6")
    elsewhere = {
        "decision": "approved",
        "chargeId": "ch_from_the_other_worker",
        "amount": 4299,
        "currency": "USD",
        "time": "2025-06-01T11:59:59.000Z",
    }
    assert store.add("payment", "ord-6", elsewhere)
    assert not store.add("payment", "ord-6", {**elsewhere, "chargeId": "ch_second"})

    assert fulfillment.charge(event("ord-6")).chargeId == "ch_from_the_other_worker"
    assert record(store, "payment", "ord-6") == {"orderId": "ord-6", **elsewhere}
    assert charges.delta == 0


def test_dynamodb_failing_means_retry_later_and_charges_nothing(
    orders_client: OrdersClient, orders: FakeOrders, aws: None
) -> None:
    missing = FulfillmentStore(shared_dynamodb_client, "no-such-table")  # never created
    orders.place("ord-7")
    with pytest.raises(RetryLaterError, match="DynamoDB table is unavailable"):
        Fulfillment(missing, orders_client)(event("ord-7"))
    assert orders.puts == []


@pytest.mark.parametrize(
    ("answer", "asked"),
    [
        ((200, {"id": "o", "status": "PAID"}), "PAID"),
        ((409, {"currentStatus": "SHIPPED"}), "PAID"),  # paid and shipped by an earlier delivery
        ((409, {"currentStatus": "PAID"}), "PAID"),
        ((409, {"currentStatus": "SHIPPED"}), "SHIPPED"),
        ((409, {"currentStatus": "PAYMENT_DECLINED"}), "PAYMENT_DECLINED"),
    ],
)
def test_a_transition_made_now_or_before_is_done(
    orders_client: OrdersClient, orders: FakeOrders, answer: tuple[int, Any], asked: Any
) -> None:
    orders.script.append(answer)
    orders_client.set_status("o", asked)
    assert orders.puts == [("o", asked, answer[0])]


@pytest.mark.parametrize(
    ("answer", "asked", "reason"),
    [
        ((409, {"currentStatus": "PAYMENT_DECLINED"}), "PAID", "it is PAYMENT_DECLINED"),
        ((409, {"currentStatus": "PLACED"}), "SHIPPED", "it is PLACED"),
        ((409, {}), "SHIPPED", "it is unknown"),
        ((404, {}), "PAID", "HTTP 404"),
        ((400, {}), "PAID", "HTTP 400"),
    ],
)
def test_a_refused_transition_is_a_step_failure(
    orders_client: OrdersClient, orders: FakeOrders, answer: Any, asked: Any, reason: str
) -> None:
    orders.script.append(answer)
    with pytest.raises(StepRefusedError, match=reason):
        orders_client.set_status("o", asked)


# The shared client reports every 5xx as the service being unavailable.
@pytest.mark.parametrize("answer", [503, 502, 500, 429])
def test_orders_unavailable_or_busy_means_retry_later(
    orders_client: OrdersClient, orders: FakeOrders, answer: int
) -> None:
    orders.script.append((answer, {}))
    with pytest.raises(RetryLaterError):
        orders_client.set_status("o", "PAID")


def test_orders_unreachable_means_retry_later(orders: FakeOrders) -> None:
    orders.down = True
    client = orders_client_of(orders)
    with pytest.raises(RetryLaterError, match="orders is unavailable"):
        client.set_status("o", "PAID")


def test_a_refused_token_means_retry_later_not_a_failed_order(orders: FakeOrders) -> None:
    orders.place("o")
    client = orders_client_of(orders, token="wrong-token-wrong")
    with pytest.raises(RetryLaterError, match="FULFILLMENT_ORDERS_TOKEN"):
        client.set_status("o", "PAID")
    assert orders.puts == [("o", "PAID", 403)]


class Conflict(Neighbour):
    """Something in front of orders answering every PUT with a 409 of its own body."""

    def __init__(self, body: str, mimetype: str) -> None:
        super().__init__()
        self.body, self.mimetype = body, mimetype

    def answer(self, request: Request) -> Response:
        return Response(self.body, status=409, mimetype=self.mimetype)


@pytest.mark.parametrize(
    ("body", "mimetype"),
    [
        ("<html><body>409 Conflict</body></html>", "text/html"),  # not JSON
        ('["SHIPPED"]', "application/json"),  # JSON, not an object
        ('"SHIPPED"', "application/json"),
    ],
)
def test_a_409_without_a_problem_document_is_a_step_failure(body: str, mimetype: str) -> None:
    client = ServiceClient("orders", "http://orders.test", OUTBOUND)
    connect(client, Conflict(body, mimetype))
    with pytest.raises(StepRefusedError, match="it is unknown"):
        OrdersClient(client, ORDERS_TOKEN).set_status("o", "SHIPPED")


@pytest.mark.parametrize("answer", [401, 403])
def test_orders_refusing_the_credentials_means_retry_later(
    orders_client: OrdersClient, orders: FakeOrders, answer: int
) -> None:
    orders.script.append((answer, {}))
    with pytest.raises(RetryLaterError, match=f"HTTP {answer}.*FULFILLMENT_ORDERS_TOKEN"):
        orders_client.set_status("o", "PAID")
