"""The business steps: charge and ship exactly once, and how orders' answers are read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from tests.integration.test_fulfillment import OrdersStandIn, order_placed
from tests.unit.conftest import Counter
from tests.unit.fulfillment.conftest import OUTBOUND

from devstack.processes import free_port
from emporium.outbound import ServiceClient
from fulfillment.events import OrderPlaced, parse_event
from fulfillment.steps import (
    PAYMENTS_KEY,
    SHIPMENTS_KEY,
    Fulfillment,
    OrdersClient,
    RetryLaterError,
    StepRefusedError,
)


def event(order_id: str, last4: str = "4242") -> OrderPlaced:
    return parse_event({b"event": order_placed(order_id, last4).encode()})


def record(client: redis.Redis, key: str, order_id: str) -> dict[str, Any]:
    value: Any = client.hget(key, order_id)
    assert value is not None, f"nothing recorded in {key} for {order_id}"
    document: dict[str, Any] = json.loads(value)
    return document


def test_an_approved_order_is_charged_marked_paid_and_shipped(
    fulfillment: Fulfillment,
    client: redis.Redis,
    orders: OrdersStandIn,
    counter: Callable[..., Counter],
) -> None:
    charges, shipments = (
        counter("fulfillment_effects_total", effect="charge"),
        counter("fulfillment_effects_total", effect="ship"),
    )
    orders.place("ord-1")

    fulfillment(event("ord-1"))

    payment = record(client, PAYMENTS_KEY, "ord-1")
    assert payment["decision"] == "approved"
    assert (payment["amount"], payment["currency"]) == (4299, "USD")
    assert payment["chargeId"].startswith("ch_")
    assert record(client, SHIPMENTS_KEY, "ord-1")["trackingNumber"].startswith("EMP")
    assert orders.applied == [("ord-1", "PAID"), ("ord-1", "SHIPPED")]
    assert (charges.delta, shipments.delta) == (1, 1)


def test_a_card_ending_in_0000_is_declined_and_nothing_ships(
    fulfillment: Fulfillment,
    client: redis.Redis,
    orders: OrdersStandIn,
    counter: Callable[..., Counter],
) -> None:
    shipments = counter("fulfillment_effects_total", effect="ship")
    orders.place("ord-2")

    fulfillment(event("ord-2", last4="0000"))

    assert record(client, PAYMENTS_KEY, "ord-2")["decision"] == "declined"
    assert client.hget(SHIPMENTS_KEY, "ord-2") is None
    assert orders.applied == [("ord-2", "PAYMENT_DECLINED")]
    assert shipments.delta == 0


def test_running_the_steps_again_charges_and_ships_nothing_more(
    fulfillment: Fulfillment,
    client: redis.Redis,
    orders: OrdersStandIn,
    counter: Callable[..., Counter],
) -> None:
    charges = counter("fulfillment_effects_total", effect="charge")
    orders.place("ord-3")
    fulfillment(event("ord-3"))
    first = (record(client, PAYMENTS_KEY, "ord-3"), record(client, SHIPMENTS_KEY, "ord-3"))

    fulfillment(event("ord-3"))

    assert (record(client, PAYMENTS_KEY, "ord-3"), record(client, SHIPMENTS_KEY, "ord-3")) == first
    assert charges.delta == 1
    assert orders.applied == [("ord-3", "PAID"), ("ord-3", "SHIPPED")]
    # The repeated calls were answered harmlessly: PAID with 409 (already SHIPPED), SHIPPED 200.
    assert [answer for _, _, answer in orders.puts] == [200, 200, 409, 200]


def test_a_recorded_decision_is_used_even_if_the_card_would_now_decide_otherwise(
    fulfillment: Fulfillment, client: redis.Redis, orders: OrdersStandIn
) -> None:
    orders.place("ord-4")
    fulfillment(event("ord-4", last4="0000"))
    fulfillment(event("ord-4", last4="4242"))  # a later event must not charge the order again
    assert record(client, PAYMENTS_KEY, "ord-4")["decision"] == "declined"
    assert orders.applied == [("ord-4", "PAYMENT_DECLINED")]


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
    orders_client: OrdersClient, orders: OrdersStandIn, answer: tuple[int, Any], asked: Any
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
    orders_client: OrdersClient, orders: OrdersStandIn, answer: Any, asked: Any, reason: str
) -> None:
    orders.script.append(answer)
    with pytest.raises(StepRefusedError, match=reason):
        orders_client.set_status("o", asked)


# The shared client reports every 5xx as the service being unavailable.
@pytest.mark.parametrize("answer", [503, 502, 500, 429])
def test_orders_unavailable_or_busy_means_retry_later(
    orders_client: OrdersClient, orders: OrdersStandIn, answer: int
) -> None:
    orders.script.append((answer, {}))
    with pytest.raises(RetryLaterError):
        orders_client.set_status("o", "PAID")


def test_orders_unreachable_means_retry_later() -> None:
    client = OrdersClient(
        ServiceClient("orders", f"http://127.0.0.1:{free_port()}", OUTBOUND), "t" * 16
    )
    with pytest.raises(RetryLaterError, match="orders is unavailable"):
        client.set_status("o", "PAID")


def test_a_refused_token_means_retry_later_not_a_failed_order(orders: OrdersStandIn) -> None:
    orders.place("o")
    client = OrdersClient(ServiceClient("orders", orders.url, OUTBOUND), "wrong-token-wrong")
    with pytest.raises(RetryLaterError, match="FULFILLMENT_ORDERS_TOKEN"):
        client.set_status("o", "PAID")
    assert orders.puts == [("o", "PAID", 403)]
