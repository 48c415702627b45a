"""Orders' internal API, as fulfillment uses it: status changes with the internal token."""

from __future__ import annotations

import pytest
from tests.unit.orders.conftest import Store, set_status


@pytest.mark.parametrize("status", ["PLACED", "CANCELLED", "paid", ""])
def test_a_status_the_internal_api_does_not_set_is_a_422_and_changes_nothing(
    store: Store, status: str
) -> None:
    order_id = store.checkout().get_json()["id"]
    answer = set_status(store, order_id, status)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["location"] == "body.status"
    assert store.client.get(f"/api/orders/orders/{order_id}").get_json()["status"] == "PLACED"


def test_a_body_with_more_than_the_status_is_a_422(store: Store) -> None:
    order_id = store.checkout().get_json()["id"]
    answer = store.client.put(
        f"/internal/orders/{order_id}/status",
        json={"status": "PAID", "paidBy": "someone"},
        headers={"Authorization": "Bearer internal-token-for-tests"},
    )
    assert answer.status_code == 422


def test_a_malformed_order_id_is_a_404_not_a_lookup(store: Store) -> None:
    assert set_status(store, "not-an-order", "PAID").status_code == 404


def test_a_declined_payment_is_final(store: Store) -> None:
    order_id = store.checkout().get_json()["id"]
    declined = set_status(store, order_id, "PAYMENT_DECLINED")
    assert declined.status_code == 200
    for later in ("PAID", "SHIPPED"):
        refused = set_status(store, order_id, later)
        assert refused.status_code == 409, later
        assert refused.get_json()["currentStatus"] == "PAYMENT_DECLINED"
    assert set_status(store, order_id, "PAYMENT_DECLINED").status_code == 200  # a repeat


def test_a_status_change_shows_in_the_customers_listing(store: Store) -> None:
    order_id = store.checkout().get_json()["id"]
    set_status(store, order_id, "PAID")
    (listed,) = store.mine().get_json()["items"]
    assert (listed["id"], listed["status"]) == (order_id, "PAID")
    assert [change["status"] for change in listed["statusHistory"]] == ["PLACED", "PAID"]
    assert all(change["at"].endswith("Z") for change in listed["statusHistory"])


def test_the_internal_api_has_its_own_document_with_the_token_required(store: Store) -> None:
    document = store.client.get("/internal/orders/openapi.json").get_json()
    operation = document["paths"]["/internal/orders/{order_id}/status"]["put"]
    assert operation["security"]
    assert not any(path.startswith("/api/") for path in document["paths"])
