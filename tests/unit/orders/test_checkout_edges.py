"""Checkout at its edges: what it keeps of a card, how long it retries a write, what it says
of a changed total, a cart it cannot read, a fingerprint beyond ASCII, and the relay's log."""

from __future__ import annotations

import json
import logging

import pytest
from tests.neighbours import json_answer
from tests.unit.orders.conftest import Shop
from tests.unit.orders.test_checkout import (
    REASONS,
    cleanup_failures,
    conflicting,
    keyed,
    orders_of,
    place_while_redis_is_down,
)

from orders.checkout import relay_unpublished
from orders.store import OUTBOX_LEASE_SECONDS


def test_an_order_keeps_the_cards_last_four_digits_only(shop: Shop) -> None:
    placed = shop.checkout(payment={"card": "4000056655665556"})
    assert placed.status_code == 201
    order_id = placed.get_json()["id"]
    assert placed.get_json()["paymentLast4"] == "5556"
    assert shop.client.get(f"/api/orders/orders/{order_id}").get_json()["paymentLast4"] == "5556"
    (stored,) = [item for item in shop.items() if item["pk"]["S"] == f"order#{order_id}"]
    assert stored["paymentLast4"] == {"S": "5556"}


def test_a_conflict_through_three_attempts_is_a_409_and_the_retry_places_the_order(
    shop: Shop,
) -> None:
    conflicting(shop, conflicts=3)  # every attempt of one checkout
    answer = shop.checkout()
    assert answer.status_code == 409
    assert answer.get_json()["type"].endswith("/checkout-in-progress")
    assert shop.items() == []
    retried = shop.checkout()  # the other transaction is done: the same key again
    assert retried.status_code == 201
    assert retried.headers.get("Idempotent-Replayed") is None
    assert len(shop.mine().get_json()["items"]) == 1


def test_an_emptied_cart_is_no_cleanup_failure(shop: Shop) -> None:
    before = [cleanup_failures(reason) for reason in REASONS]
    assert shop.checkout().status_code == 201
    assert "crt-1" not in shop.cart.carts
    assert [cleanup_failures(reason) for reason in REASONS] == before


def test_a_changed_total_is_named_in_the_answer(shop: Shop) -> None:
    shop.catalog.set_price("kettle", 4905)
    answer = shop.checkout(expectedTotal={"amount": 2 * 1200 + 4500, "currency": "USD"})
    assert answer.status_code == 409
    assert answer.get_json()["detail"].startswith(
        "The total is now 73.05 USD, not the 69.00 USD shown;"
    )


def test_a_cart_the_cart_service_refuses_to_show_is_a_502_and_no_order(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shop.cart, "answer", lambda request: json_answer(403, {"status": 403}))
    answer = shop.checkout()
    assert answer.status_code == 502
    assert shop.items() == []


def test_a_cart_line_naming_no_product_is_a_422_and_no_catalog_call(shop: Shop) -> None:
    shop.cart.carts["crt-1"] = [{"productId": "../internal/admin", "quantity": 1}]
    answer = shop.checkout()
    assert answer.status_code == 422
    assert shop.catalog.calls == []
    assert shop.items() == []


def test_the_fingerprint_of_a_name_beyond_ascii_is_its_utf8_json(shop: Shop) -> None:
    """The form of the stored fingerprints is fixed: a retry after a deploy must still match."""
    customer = {
        "email": "zoe@example.com",
        "name": "Zoë Ångström",
        "address": {"line1": "1 Rue", "city": "Brûlon", "postalCode": "72350", "country": "FR"},
    }
    assert shop.checkout(customer=customer).status_code == 201
    request = {
        "cartId": "crt-1",
        "customer": customer,
        "payment": {"cardLast4": "4242"},
    }
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert keyed("checkout-request", canonical) in json.dumps(shop.items())


def test_a_relay_logs_what_it_published_and_nothing_when_it_had_nothing(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    place_while_redis_is_down(shop, 2)
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    with caplog.at_level(logging.INFO, logger="orders.checkout"):
        assert relay_unpublished(orders_of(shop)) == 2
        assert relay_unpublished(orders_of(shop)) == 0  # every few seconds in each worker
    relayed = [record for record in caplog.records if record.getMessage() == "outbox relayed"]
    assert [record.__dict__["events"] for record in relayed] == [2]


def test_an_order_another_relay_took_meanwhile_is_skipped_and_the_rest_published(
    shop: Shop,
) -> None:
    # The outbox index is ordered by order id: the relay meets `taken` first.
    taken, rest = sorted(place_while_redis_is_down(shop, 2))
    shop.clock.advance(OUTBOX_LEASE_SECONDS + 1)
    orders = orders_of(shop)
    leased: list[str] = []

    def another_relay_is_quicker() -> bool:
        # Called before each order's lease: another worker's relay leases `taken` just then.
        if not leased:
            assert orders.store.lease(taken)
            leased.append(taken)
        return False

    assert relay_unpublished(orders, another_relay_is_quicker) == 1
    assert [event["orderId"] for event in shop.events()] == [rest]
