"""The orders HTTP API on the Flask test client: what a shopper and fulfillment see."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.shoppers import checkout_body
from tests.unit.orders.conftest import Shop, set_status


def test_checkout_places_a_repriced_order_empties_the_cart_and_publishes(shop: Shop) -> None:
    response = shop.checkout()
    assert response.status_code == 201
    order = response.get_json()
    assert order["status"] == "PLACED"
    assert response.headers["Location"] == f"/api/orders/orders/{order['id']}"
    assert [(i["productId"], i["quantity"], i["unitPrice"]["amount"]) for i in order["items"]] == [
        ("mug", 2, 1200),  # the catalog's price now, not the cart's 999
        ("kettle", 1, 4500),
    ]
    assert order["total"] == {"amount": 2 * 1200 + 4500, "currency": "USD"}
    assert order["paymentLast4"] == "4242"
    assert "4242424242424242" not in json.dumps(order)
    assert "crt-1" not in shop.cart.carts
    (event,) = shop.events()
    assert event["type"] == "OrderPlaced"
    assert event["version"] == 1
    assert event["orderId"] == order["id"]
    assert event["payload"]["paymentLast4"] == "4242"
    assert event["payload"]["total"] == order["total"]
    assert shop.client.get(f"/api/orders/orders/{order['id']}").get_json() == order


def test_a_replayed_checkout_returns_the_same_order_and_no_second_event(shop: Shop) -> None:
    first = shop.checkout().get_json()
    shop.cart.carts["crt-1"] = [{"productId": "mug", "quantity": 5}]  # even if the cart changed
    replay = shop.checkout()
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first
    assert len(shop.events()) == 1
    listed = shop.mine().get_json()["items"]
    assert [order["id"] for order in listed] == [first["id"]]


def test_the_same_key_with_another_body_is_refused(shop: Shop) -> None:
    shop.checkout()
    other = shop.checkout(payment={"card": "4000000000000000"})
    assert other.status_code == 422
    assert other.get_json()["type"].endswith("/idempotency-key-reused")


@pytest.mark.parametrize(("key", "status"), [(None, 428), ("short", 400), ("bad key!!", 400)])
def test_a_checkout_without_a_good_idempotency_key_is_refused(
    shop: Shop, key: str | None, status: int
) -> None:
    headers = {} if key is None else {"Idempotency-Key": key}
    response = shop.client.post("/api/orders/orders", json=checkout_body(), headers=headers)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert shop.events() == []


@pytest.mark.parametrize(
    ("cart", "kind"),
    [
        (None, "unknown-cart"),
        ([], "empty-cart"),
        ([{"productId": "gone", "quantity": 1}], "product-unavailable"),
    ],
)
def test_a_cart_that_cannot_be_ordered_is_a_422(
    shop: Shop, cart: list[dict[str, Any]] | None, kind: str
) -> None:
    if cart is None:
        del shop.cart.carts["crt-1"]
    else:
        shop.cart.carts["crt-1"] = cart
    response = shop.checkout()
    assert response.status_code == 422
    assert response.get_json()["type"].endswith(kind)
    assert shop.events() == []


@pytest.mark.parametrize(
    "change",
    [
        {"payment": {"card": "4242-4242"}},
        {
            "customer": {
                "email": "not-an-email",
                "name": "A",
                "address": {"line1": "x", "city": "y", "postalCode": "12345", "country": "US"},
            }
        },
        {"cartId": 7},
    ],
)
def test_a_malformed_checkout_is_a_422_naming_the_field(shop: Shop, change: dict[str, Any]) -> None:
    response = shop.checkout(**change)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["location"].startswith("body.")


def test_cart_service_down_is_a_503_and_no_order(shop: Shop) -> None:
    shop.cart.down = True
    response = shop.checkout()
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    assert shop.mine().get_json()["items"] == []
    shop.cart.down = False
    assert shop.checkout().status_code == 201  # the same key works once the cart is back


def test_orders_of_a_customer_come_newest_first_a_page_at_a_time(shop: Shop) -> None:
    ids = []
    for number in range(5):
        shop.cart.carts[f"crt-{number}"] = [{"productId": "mug", "quantity": number + 1}]
        ids.append(shop.checkout(key=f"key-{number:08d}", cartId=f"crt-{number}").get_json()["id"])
    seen, cursor = [], None
    while True:
        page = shop.mine(limit=2, **({"cursor": cursor} if cursor else {})).get_json()
        seen += [order["id"] for order in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_a_page_cursor_of_another_customer_is_refused(shop: Shop) -> None:
    for number in range(3):
        shop.cart.carts[f"crt-{number}"] = [{"productId": "mug", "quantity": 1}]
        shop.checkout(key=f"key-{number:08d}", cartId=f"crt-{number}")
    cursor = shop.mine(limit=1).get_json()["nextCursor"]
    assert cursor
    other = shop.mine("bob@example.com", cursor=cursor)
    assert other.status_code == 400
    assert other.get_json()["type"].endswith("/invalid-cursor")


def test_a_customer_lists_only_their_own_orders(shop: Shop) -> None:
    mine = shop.checkout(key="key-ada-0001").get_json()["id"]
    shop.cart.carts["crt-2"] = [{"productId": "mug", "quantity": 1}]
    bob = checkout_body(cartId="crt-2")
    bob["customer"] = {**bob["customer"], "email": "bob@example.com"}
    theirs = shop.client.post(
        "/api/orders/orders", json=bob, headers={"Idempotency-Key": "key-bob-0001"}
    ).get_json()["id"]
    assert [order["id"] for order in shop.mine().get_json()["items"]] == [mine]
    assert [order["id"] for order in shop.mine("bob@example.com").get_json()["items"]] == [theirs]


def test_there_is_no_naming_another_customers_email(shop: Shop) -> None:
    shop.cart.carts["crt-2"] = [{"productId": "mug", "quantity": 1}]
    bob = checkout_body(cartId="crt-2")
    bob["customer"] = {**bob["customer"], "email": "bob@example.com"}
    shop.client.post("/api/orders/orders", json=bob, headers={"Idempotency-Key": "key-bob-0001"})
    asked = shop.mine("ada@example.com", email="bob@example.com")
    assert asked.status_code == 422
    assert asked.get_json()["errors"][0]["location"] == "query.email"
    anonymous = shop.client.get("/api/orders/orders?email=bob@example.com")
    assert anonymous.status_code == 422  # the query is refused before the token is looked at
    assert "items" not in anonymous.get_json()


def test_emails_match_whatever_their_case(shop: Shop) -> None:
    body = checkout_body()
    body["customer"] = {**body["customer"], "email": "Ada.Lovelace@Example.COM"}
    placed = shop.client.post(
        "/api/orders/orders", json=body, headers={"Idempotency-Key": "key-case-0001"}
    ).get_json()
    assert placed["customer"]["email"] == "Ada.Lovelace@Example.COM"  # kept as it was typed
    listed = shop.mine("ada.lovelace@example.com").get_json()["items"]
    assert [order["id"] for order in listed] == [placed["id"]]


def test_listing_without_a_token_is_a_401_challenge(shop: Shop) -> None:
    shop.checkout()
    answer = shop.client.get("/api/orders/orders")
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="emporium"'


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": -3600},
        {"aud": "another-client"},
        {"iss": "https://another-issuer.example"},
        {"email_verified": False},
    ],
)
def test_listing_with_a_refused_token_is_a_401(shop: Shop, claims: dict[str, Any]) -> None:
    shop.checkout()
    token = shop.issuer.token("ada@example.com", **claims)
    answer = shop.client.get("/api/orders/orders", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="emporium", error="invalid_token"'
    assert answer.get_json()["type"].endswith("/invalid-token")
    assert "items" not in answer.get_json()


def test_listing_while_the_issuer_is_out_of_reach_is_a_503(shop: Shop) -> None:
    shop.issuer.jwks_status = 500
    try:
        answer = shop.mine()
    finally:
        shop.issuer.jwks_status = 200
    assert answer.status_code == 503
    assert answer.mimetype == "application/problem+json"
    assert "Retry-After" in answer.headers


def test_an_order_stays_readable_by_its_id_without_a_token(shop: Shop) -> None:
    order = shop.checkout().get_json()
    assert shop.client.get(f"/api/orders/orders/{order['id']}").get_json() == order


def test_unknown_order_is_a_404(shop: Shop) -> None:
    assert shop.client.get("/api/orders/orders/ord-" + "0" * 24).status_code == 404
    assert shop.client.get("/api/orders/orders/nope").status_code == 404


def test_status_moves_forward_once_and_refuses_to_skip_or_go_back(shop: Shop) -> None:
    order_id = shop.checkout().get_json()["id"]
    assert set_status(shop, order_id, "SHIPPED").status_code == 409
    paid = set_status(shop, order_id, "PAID")
    assert paid.status_code == 200
    assert paid.get_json()["status"] == "PAID"
    again = set_status(shop, order_id, "PAID")
    assert again.status_code == 200  # a repeated transition is a no-op
    assert [c["status"] for c in again.get_json()["statusHistory"]] == ["PLACED", "PAID"]
    declined = set_status(shop, order_id, "PAYMENT_DECLINED")
    assert declined.status_code == 409
    assert declined.get_json()["currentStatus"] == "PAID"
    shipped = set_status(shop, order_id, "SHIPPED").get_json()
    assert [c["status"] for c in shipped["statusHistory"]] == ["PLACED", "PAID", "SHIPPED"]


def test_status_changes_need_the_internal_token(shop: Shop) -> None:
    order_id = shop.checkout().get_json()["id"]
    anonymous = shop.client.put(f"/internal/orders/{order_id}/status", json={"status": "PAID"})
    assert anonymous.status_code == 401
    assert set_status(shop, order_id, "PAID", token="wrong-token-000000").status_code == 403
    assert set_status(shop, "ord-" + "1" * 24, "PAID").status_code == 404
    assert shop.client.get(f"/api/orders/orders/{order_id}").get_json()["status"] == "PLACED"


def test_the_openapi_documents_checkout_with_its_idempotency_key(shop: Shop) -> None:
    document = shop.client.get("/api/orders/openapi.json").get_json()
    checkout = document["paths"]["/api/orders/orders"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= checkout["parameters"][0].items()
    assert "/api/orders/orders/{order_id}" in document["paths"]


def test_the_openapi_documents_what_listing_answers(shop: Shop) -> None:
    listing = shop.client.get("/api/orders/openapi.json").get_json()["paths"]["/api/orders/orders"]
    assert {"200", "400", "401", "422", "503"} <= set(listing["get"]["responses"])
    assert [p["name"] for p in listing["get"]["parameters"]] == ["limit", "cursor"]


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        (
            "/api/orders/orders",
            "post",
            {"201", "400", "409", "413", "415", "422", "428", "502", "503"},
        ),
        ("/api/orders/orders", "get", {"200", "400", "401", "422", "503"}),
        ("/api/orders/orders/{order_id}", "get", {"200", "404", "503"}),
    ],
)
def test_the_openapi_documents_every_status_a_route_answers(
    shop: Shop, path: str, method: str, statuses: set[str]
) -> None:
    document = shop.client.get("/api/orders/openapi.json").get_json()
    assert statuses <= set(document["paths"][path][method]["responses"])


def test_the_internal_openapi_documents_every_status_of_a_status_change(shop: Shop) -> None:
    document = shop.client.get("/internal/orders/openapi.json").get_json()
    put = document["paths"]["/internal/orders/{order_id}/status"]["put"]
    assert {"200", "401", "403", "404", "409", "422", "503"} <= set(put["responses"])


# Placing, replaying, and what a shopper is told.


def test_a_placed_order_says_where_it_lives_and_a_replay_says_it_is_one(shop: Shop) -> None:
    placed = shop.checkout(key="key-located-01")
    assert placed.status_code == 201
    assert placed.headers["Location"] == f"/api/orders/orders/{placed.get_json()['id']}"
    assert "Idempotent-Replayed" not in placed.headers
    replayed = shop.checkout(key="key-located-01")
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == placed.get_json()


def test_catalog_out_of_reach_is_a_503_and_nothing_is_written(shop: Shop) -> None:
    shop.catalog.down = True
    answer = shop.checkout()
    assert answer.status_code == 503
    assert "Retry-After" in answer.headers
    assert shop.items() == []
    assert shop.events() == []
    assert "crt-1" in shop.cart.carts


def test_catalog_answering_what_it_never_should_is_a_502_and_nothing_is_written(
    shop: Shop,
) -> None:
    shop.catalog.status = 403
    answer = shop.checkout()
    assert answer.status_code == 502
    assert shop.items() == []
    assert "crt-1" in shop.cart.carts


# Listing: what is refused.


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_page_size_out_of_bounds_is_a_422(shop: Shop, limit: str) -> None:
    answer = shop.mine(limit=limit)
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["location"] == "query.limit"


def test_a_cursor_not_shaped_like_one_is_a_422(shop: Shop) -> None:
    answer = shop.mine(cursor="not a cursor!")
    assert answer.status_code == 422
    assert answer.get_json()["errors"][0]["location"] == "query.cursor"


def test_a_customer_without_orders_gets_an_empty_last_page(shop: Shop) -> None:
    assert shop.mine("grace@example.com").get_json() == {"items": [], "nextCursor": None}
