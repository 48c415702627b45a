"""Orders' internal API, as fulfillment uses it: status changes with the internal token."""

from __future__ import annotations

import pytest
from tests.unit.orders.conftest import Shop, set_status


@pytest.mark.parametrize("status", ["PLACED", "CANCELLED", "paid", ""])
def test_a_status_the_internal_api_does_not_set_is_a_422_and_changes_nothing(
    shop: Shop, status: str
) -> None:
    order_id = shop.checkout().get_json()["id"]
    answer = set_status(shop, order_id, status)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["location"] == "body.status"
    assert shop.client.get(f"/api/orders/orders/{order_id}").get_json()["status"] == "PLACED"


def test_a_body_with_more_than_the_status_is_a_422(shop: Shop) -> None:
    order_id = shop.checkout().get_json()["id"]
    answer = shop.client.put(
        f"/internal/orders/{order_id}/status",
        json={"status": "PAID", "paidBy": "someone"},
        headers={"Authorization": "Bearer internal-token-for-tests"},
    )
    assert answer.status_code == 422


def test_a_malformed_order_id_is_a_404_not_a_lookup(shop: Shop) -> None:
    assert set_status(shop, "not-an-order", "PAID").status_code == 404


def test_a_declined_payment_is_final(shop: Shop) -> None:
    order_id = shop.checkout().get_json()["id"]
    declined = set_status(shop, order_id, "PAYMENT_DECLINED")
    assert declined.status_code == 200
    for later in ("PAID", "SHIPPED"):
        refused = set_status(shop, order_id, later)
        assert refused.status_code == 409, later
        assert refused.get_json()["currentStatus"] == "PAYMENT_DECLINED"
    assert set_status(shop, order_id, "PAYMENT_DECLINED").status_code == 200  # a repeat


def test_a_status_change_shows_in_the_customers_listing(shop: Shop) -> None:
    order_id = shop.checkout().get_json()["id"]
    set_status(shop, order_id, "PAID")
    (listed,) = shop.mine().get_json()["items"]
    assert (listed["id"], listed["status"]) == (order_id, "PAID")
    assert [change["status"] for change in listed["statusHistory"]] == ["PLACED", "PAID"]
    assert all(change["at"].endswith("Z") for change in listed["statusHistory"])


def test_the_internal_api_has_its_own_document_with_the_token_required(shop: Shop) -> None:
    document = shop.client.get("/internal/orders/openapi.json").get_json()
    operation = document["paths"]["/internal/orders/{order_id}/status"]["put"]
    assert operation["security"]
    assert not any(path.startswith("/api/") for path in document["paths"])
