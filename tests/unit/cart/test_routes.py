"""The cart's HTTP API: carts and their lines, prices from the catalog, expiry, the catalog
failing, and concurrent changes of one cart."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from flask import Flask
from flask.testing import FlaskClient
from tests.neighbours import FakeCatalog
from tests.unit.cart.conftest import (
    CARTS,
    Cart,
    cart_url,
    item_url,
    lines,
    new_cart,
    put,
    read,
)

import cart.store
from cart.models import CatalogProduct
from cart.store import CartStore, StoredCart
from emporium.models import Money

Problem = Callable[..., dict[str, Any]]

DAY = 24 * 60 * 60
CART_ID = re.compile(r"crt-[0-9a-f]{24}")
ITEM_FIELDS = {"productId", "name", "quantity", "unitPrice", "lineTotal"}


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def seconds_left(cart: Cart) -> float:
    return datetime.fromisoformat(cart["expiresAt"]).timestamp() - time.time()


def set_expiry(store: CartStore, cart_id: str, expires_at: int) -> None:
    """Move the cart's stored expiry, as time passing would."""
    store.client().update_item(
        TableName=store.table,
        Key={"id": {"S": cart_id}},
        UpdateExpression="SET expiresAt = :at",
        ExpressionAttributeValues={":at": {"N": str(expires_at)}},
    )


def stored(store: CartStore, cart_id: str) -> StoredCart:
    cart = store.get(cart_id)
    assert cart is not None
    return cart


@pytest.fixture
def cart_id(client: FlaskClient) -> str:
    cart_id: str = new_cart(client)["id"]
    return cart_id


# Creating and reading


def test_create_answers_201_with_location_and_an_empty_cart_for_7_days(
    client: FlaskClient,
) -> None:
    response = client.post(CARTS)
    assert response.status_code == 201
    cart = response.get_json()
    assert set(cart) == {"id", "items", "subtotal", "expiresAt"}
    assert CART_ID.fullmatch(cart["id"])
    assert response.headers["Location"] == cart_url(cart["id"])
    assert cart["items"] == []
    assert cart["subtotal"] == usd(0)
    assert cart["expiresAt"].endswith("Z")
    assert 7 * DAY - 60 < seconds_left(cart) <= 7 * DAY


def test_a_created_cart_reads_back_the_same(client: FlaskClient) -> None:
    created = new_cart(client)
    response = client.get(cart_url(created["id"]))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == created


def test_each_cart_has_its_own_id(client: FlaskClient) -> None:
    assert len({new_cart(client)["id"] for _ in range(5)}) == 5


def test_a_post_with_a_body_still_creates_an_empty_cart(client: FlaskClient) -> None:
    response = client.post(CARTS, json={"items": [{"productId": "cast-iron-skillet"}]})
    assert response.status_code == 201
    assert response.get_json()["items"] == []


def test_an_unknown_cart_is_a_404_problem(client: FlaskClient, problem: Problem) -> None:
    document = problem(client.get(cart_url("crt-" + "0" * 24)), 404)
    assert document["type"].endswith("/not-found")


@pytest.mark.parametrize(
    "cart_id", ["abc", "crt-0123", "crt-" + "A" * 24, "crt-" + "0" * 25, "cast-iron-skillet"]
)
def test_an_id_outside_the_cart_id_pattern_is_a_404(
    client: FlaskClient, problem: Problem, cart_id: str
) -> None:
    problem(client.get(cart_url(cart_id)), 404)
    problem(client.put(item_url(cart_id, "cast-iron-skillet"), json={"quantity": 1}), 404)
    problem(client.delete(item_url(cart_id, "cast-iron-skillet")), 404)
    problem(client.delete(cart_url(cart_id)), 404)


def test_a_product_id_outside_the_catalog_pattern_is_a_404(
    client: FlaskClient, problem: Problem, cart_id: str, catalog: FakeCatalog
) -> None:
    problem(client.put(item_url(cart_id, "Not_A_Product"), json={"quantity": 1}), 404)
    problem(client.delete(item_url(cart_id, "-dash-first")), 404)
    assert catalog.calls == []


# Lines, priced by the catalog


def test_adding_a_product_prices_the_line_from_the_catalog(
    client: FlaskClient, cart_id: str
) -> None:
    cart = put(client, cart_id, "cast-iron-skillet", 2)
    assert cart["id"] == cart_id
    assert cart["items"] == [
        {
            "productId": "cast-iron-skillet",
            "name": "Cast Iron Skillet",
            "quantity": 2,
            "unitPrice": usd(3999),
            "lineTotal": usd(7998),
        }
    ]
    assert cart["subtotal"] == usd(7998)
    assert read(client, cart_id) == cart


def test_the_subtotal_is_the_sum_of_the_line_totals_in_the_order_added(
    client: FlaskClient, cart_id: str
) -> None:
    put(client, cart_id, "linen-tea-towels", 3)
    cart = put(client, cart_id, "cast-iron-skillet", 1)
    assert [item["productId"] for item in cart["items"]] == [
        "linen-tea-towels",
        "cast-iron-skillet",
    ]
    assert [item["lineTotal"] for item in cart["items"]] == [usd(5400), usd(3999)]
    assert cart["subtotal"] == usd(9399)
    assert all(set(item) == ITEM_FIELDS for item in cart["items"])


def test_putting_a_product_again_changes_its_quantity_at_the_price_it_was_added_at(
    client: FlaskClient, cart_id: str, catalog: FakeCatalog
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    catalog.products["cast-iron-skillet"]["price"]["amount"] = 4999
    catalog.products["cast-iron-skillet"]["name"] = "Renamed Skillet"
    cart = put(client, cart_id, "cast-iron-skillet", 3)
    assert cart["items"] == [
        {
            "productId": "cast-iron-skillet",
            "name": "Cast Iron Skillet",
            "quantity": 3,
            "unitPrice": usd(3999),
            "lineTotal": usd(11997),
        }
    ]
    assert cart["subtotal"] == usd(11997)


def test_a_product_added_after_a_price_change_gets_the_new_price(
    client: FlaskClient, cart_id: str, catalog: FakeCatalog
) -> None:
    catalog.products["linen-tea-towels"]["price"]["amount"] = 1500
    cart = put(client, cart_id, "linen-tea-towels", 2)
    assert cart["items"][0]["unitPrice"] == usd(1500)
    assert cart["subtotal"] == usd(3000)


def test_removing_a_line_answers_the_cart_without_it(client: FlaskClient, cart_id: str) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    put(client, cart_id, "linen-tea-towels", 2)
    response = client.delete(item_url(cart_id, "cast-iron-skillet"))
    assert response.status_code == 200
    cart = response.get_json()
    assert lines(cart) == {"linen-tea-towels": 2}
    assert cart["subtotal"] == usd(3600)
    assert read(client, cart_id) == cart


def test_removing_a_line_that_is_not_there_answers_the_cart(
    client: FlaskClient, cart_id: str, catalog: FakeCatalog
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    response = client.delete(item_url(cart_id, "linen-tea-towels"))
    assert response.status_code == 200
    assert lines(response.get_json()) == {"cast-iron-skillet": 1}
    catalog.down = True  # removing needs no price
    assert client.delete(item_url(cart_id, "cast-iron-skillet")).get_json()["items"] == []


def test_changing_a_cart_that_does_not_exist_is_a_404(
    client: FlaskClient, problem: Problem, catalog: FakeCatalog
) -> None:
    missing = "crt-" + "1" * 24
    problem(client.put(item_url(missing, "cast-iron-skillet"), json={"quantity": 1}), 404)
    problem(client.delete(item_url(missing, "cast-iron-skillet")), 404)
    assert catalog.calls == []  # the cart is looked up before the catalog is asked
    assert client.get(cart_url(missing)).status_code == 404  # and nothing created it


def test_an_unknown_product_is_a_422_problem_and_changes_nothing(
    client: FlaskClient, problem: Problem, cart_id: str, store: CartStore
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    before = stored(store, cart_id)
    document = problem(client.put(item_url(cart_id, "no-such-product"), json={"quantity": 1}), 422)
    assert document["type"] == "https://emporium.dev/problems/unknown-product"
    assert "no-such-product" in document["detail"]
    assert stored(store, cart_id) == before


def test_a_product_the_catalog_dropped_cannot_change_quantity_but_can_be_removed(
    client: FlaskClient, problem: Problem, cart_id: str, catalog: FakeCatalog
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    del catalog.products["cast-iron-skillet"]
    problem(client.put(item_url(cart_id, "cast-iron-skillet"), json={"quantity": 2}), 422)
    assert lines(read(client, cart_id)) == {"cast-iron-skillet": 1}
    assert client.delete(item_url(cart_id, "cast-iron-skillet")).get_json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": 100},
        {"quantity": -1},
        {"quantity": "1"},
        {"quantity": 1.5},
        {"quantity": True},
        {"quantity": None},
        {},
        {"quantity": 1, "unitPrice": {"amount": 1, "currency": "USD"}},
        [1],
    ],
)
def test_a_bad_quantity_is_a_422_and_changes_nothing(
    client: FlaskClient, problem: Problem, catalog: FakeCatalog, store: CartStore, body: Any
) -> None:
    cart_id = new_cart(client)["id"]
    put(client, cart_id, "cast-iron-skillet", 1)
    before, calls = stored(store, cart_id), len(catalog.calls)
    document = problem(client.put(item_url(cart_id, "cast-iron-skillet"), json=body), 422)
    assert document["type"].endswith("/validation-error")
    assert document["errors"]
    assert stored(store, cart_id) == before
    assert len(catalog.calls) == calls


def test_a_whole_number_written_with_a_decimal_point_is_that_number(
    client: FlaskClient, cart_id: str
) -> None:
    # JSON has one number type: 2.0 is the integer 2, as the OpenAPI document's `integer` says.
    response = client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 2.0})
    assert response.status_code == 200
    assert lines(response.get_json()) == {"linen-tea-towels": 2}


@pytest.mark.parametrize("quantity", [1, 99])
def test_quantities_1_and_99_are_accepted(client: FlaskClient, cart_id: str, quantity: int) -> None:
    assert lines(put(client, cart_id, "linen-tea-towels", quantity)) == {
        "linen-tea-towels": quantity
    }


def test_a_body_that_is_not_json_is_a_415_or_400(
    client: FlaskClient, problem: Problem, cart_id: str
) -> None:
    url = item_url(cart_id, "cast-iron-skillet")
    problem(client.put(url, data="quantity=1", content_type="text/plain"), 415)
    problem(client.put(url, data="{", content_type="application/json"), 400)


def test_a_51st_product_is_a_422_but_lines_already_there_still_change(
    client: FlaskClient, problem: Problem, cart_id: str, store: CartStore
) -> None:
    for n in range(1, 51):
        cart = put(client, cart_id, f"product-{n:02}", 1)
    assert len(cart["items"]) == 50
    before = stored(store, cart_id)
    document = problem(client.put(item_url(cart_id, "product-51"), json={"quantity": 1}), 422)
    assert document["type"].endswith("/too-many-lines")
    assert document["maxLines"] == 50
    assert stored(store, cart_id) == before
    assert lines(put(client, cart_id, "product-50", 5))["product-50"] == 5
    client.delete(item_url(cart_id, "product-01"))
    assert len(put(client, cart_id, "product-51", 1)["items"]) == 50


def test_cart_max_lines_sets_the_limit(make_app: Callable[..., Flask], problem: Problem) -> None:
    client = make_app(CART_MAX_LINES="2").test_client()
    cart_id = new_cart(client)["id"]
    put(client, cart_id, "product-01", 1)
    put(client, cart_id, "product-02", 1)
    problem(client.put(item_url(cart_id, "product-03"), json={"quantity": 1}), 422)


# Deleting


def test_deleting_a_cart_is_204_and_it_is_gone(
    client: FlaskClient, problem: Problem, cart_id: str
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    response = client.delete(cart_url(cart_id))
    assert response.status_code == 204
    assert response.data == b""
    problem(client.get(cart_url(cart_id)), 404)
    problem(client.put(item_url(cart_id, "cast-iron-skillet"), json={"quantity": 1}), 404)


def test_deleting_a_missing_cart_is_204_too(client: FlaskClient, cart_id: str) -> None:
    assert client.delete(cart_url(cart_id)).status_code == 204
    assert client.delete(cart_url(cart_id)).status_code == 204
    assert client.delete(cart_url("crt-" + "f" * 24)).status_code == 204


# Expiry


def test_the_table_expires_carts_by_their_expires_at_attribute(store: CartStore) -> None:
    ttl = store.client().describe_time_to_live(TableName=store.table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == "expiresAt"


def test_the_stored_expiry_is_the_one_the_api_shows(
    client: FlaskClient, cart_id: str, store: CartStore
) -> None:
    item = store.client().get_item(TableName=store.table, Key={"id": {"S": cart_id}})["Item"]
    expires_at = int(item["expiresAt"]["N"])
    assert datetime.fromisoformat(read(client, cart_id)["expiresAt"]).timestamp() == expires_at


def test_an_expired_cart_is_gone_before_dynamodb_deletes_it(
    client: FlaskClient, problem: Problem, cart_id: str, store: CartStore
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    set_expiry(store, cart_id, int(time.time()) - 1)
    problem(client.get(cart_url(cart_id)), 404)
    problem(client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1}), 404)
    problem(client.delete(item_url(cart_id, "cast-iron-skillet")), 404)
    assert client.delete(cart_url(cart_id)).status_code == 204


def test_a_cart_is_gone_at_the_very_second_shown_as_its_expiry(
    client: FlaskClient,
    problem: Problem,
    cart_id: str,
    store: CartStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expires_at = int(time.time()) + 3600
    set_expiry(store, cart_id, expires_at)
    clock = {"now": expires_at - 0.001}
    monkeypatch.setattr(cart.store, "time", SimpleNamespace(time=lambda: clock["now"]))
    assert read(client, cart_id)["items"] == []
    clock["now"] = float(expires_at)
    problem(client.get(cart_url(cart_id)), 404)


def test_cart_ttl_days_sets_the_expiry(make_app: Callable[..., Flask]) -> None:
    cart = new_cart(make_app(CART_TTL_DAYS="2").test_client())
    assert 2 * DAY - 60 < seconds_left(cart) <= 2 * DAY


@pytest.mark.parametrize("change", ["put", "delete"])
def test_every_change_extends_the_expiry(
    client: FlaskClient, cart_id: str, store: CartStore, change: str
) -> None:
    set_expiry(store, cart_id, int(time.time()) + 60)
    assert seconds_left(read(client, cart_id)) <= 60
    if change == "put":
        cart = put(client, cart_id, "cast-iron-skillet", 1)
    else:
        cart = client.delete(item_url(cart_id, "cast-iron-skillet")).get_json()
    assert seconds_left(cart) > 7 * DAY - 60
    assert read(client, cart_id)["expiresAt"] == cart["expiresAt"]


# The catalog failing


def test_catalog_down_is_a_503_with_retry_after_and_changes_nothing(
    client: FlaskClient, problem: Problem, cart_id: str, catalog: FakeCatalog, store: CartStore
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    before, seen = stored(store, cart_id), read(client, cart_id)
    catalog.down = True
    response = client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1})
    document = problem(response, 503)
    assert document["type"].endswith("/dependency-unavailable")
    assert document["dependency"] == "catalog"
    assert int(response.headers["Retry-After"]) >= 1
    # and an update of a line already there does not go ahead without the catalog either
    problem(client.put(item_url(cart_id, "cast-iron-skillet"), json={"quantity": 5}), 503)
    assert stored(store, cart_id) == before
    assert read(client, cart_id) == seen


def test_catalog_calls_are_retried_before_giving_up(
    client: FlaskClient, problem: Problem, cart_id: str, catalog: FakeCatalog
) -> None:
    catalog.down = True
    problem(client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1}), 503)
    assert catalog.product_calls() == 3  # OUTBOUND_RETRIES defaults to 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 400, 401])
def test_a_catalog_answering_an_error_is_a_503_and_changes_nothing(
    client: FlaskClient, problem: Problem, catalog: FakeCatalog, store: CartStore, status: int
) -> None:
    cart_id = new_cart(client)["id"]
    before = stored(store, cart_id)
    catalog.status = status
    response = client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1})
    problem(response, 503)
    assert "Retry-After" in response.headers
    assert stored(store, cart_id) == before


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", b'{"id": "linen-tea-towels", "name": "x", "price": 5}']
)
def test_a_catalog_answer_of_another_shape_is_a_503(
    client: FlaskClient, problem: Problem, cart_id: str, catalog: FakeCatalog, body: bytes
) -> None:
    catalog.status, catalog.body = 200, body
    problem(client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1}), 503)
    assert read(client, cart_id)["items"] == []


def test_an_open_circuit_answers_503_without_calling_the_catalog(
    client: FlaskClient, problem: Problem, cart_id: str, catalog: FakeCatalog
) -> None:
    catalog.down = True
    for _ in range(2):  # 3 attempts each: the breaker opens after 5 failures in a row
        problem(client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1}), 503)
    catalog.down = False
    calls = catalog.product_calls()
    response = client.put(item_url(cart_id, "linen-tea-towels"), json={"quantity": 1})
    problem(response, 503)
    assert catalog.product_calls() == calls
    assert int(response.headers["Retry-After"]) >= 1


def test_the_request_id_is_passed_on_to_the_catalog(
    client: FlaskClient, cart_id: str, catalog: FakeCatalog
) -> None:
    client.put(
        item_url(cart_id, "linen-tea-towels"),
        json={"quantity": 1},
        headers={"X-Request-ID": "req-cart-0001"},
    )
    ((method, path, headers),) = catalog.calls
    assert (method, path) == ("GET", "/api/catalog/products/linen-tea-towels")
    assert headers["X-Request-ID"] == "req-cart-0001"
    assert headers["traceparent"].startswith("00-")


def test_readiness_depends_on_dynamodb_not_the_catalog(
    client: FlaskClient, problem: Problem, catalog: FakeCatalog, store: CartStore
) -> None:
    catalog.down = True
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"dynamodb": "ok"}}
    store.client().delete_table(TableName=store.table)
    assert problem(client.get("/readyz"), 503)["checks"] == {"dynamodb": "failing"}


def test_dynamodb_unreachable_is_a_503_with_retry_after(
    client: FlaskClient,
    problem: Problem,
    cart_id: str,
    store: CartStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(**_kwargs: object) -> None:
        raise EndpointConnectionError(endpoint_url="http://dynamodb.test")

    monkeypatch.setattr(store.client(), "get_item", unreachable)
    response = client.get(cart_url(cart_id))
    assert problem(response, 503)["type"].endswith("/dependency-unavailable")
    assert response.headers["Retry-After"] == "1"


# Concurrent changes of one cart


class Interleaving:
    """Writes of "another request" that land between a request's read of a cart and its write."""

    def __init__(self, store: CartStore) -> None:
        self.store = store
        self.real_get = CartStore.get
        self.pending: list[Callable[[StoredCart], object]] = []
        self.landed = 0

    def read(self, cart_id: str) -> StoredCart | None:
        cart = self.real_get(self.store, cart_id)
        if cart is not None and self.pending:
            self.pending.pop(0)(cart)
            self.landed += 1
        return cart

    def add(self, product_id: str, quantity: int = 1, *, times: int = 1) -> None:
        """Queue `times` writes that each set `product_id` to `quantity` (on the cart as read)."""
        product = CatalogProduct(
            id=product_id, name=product_id, price=Money(amount=1, currency="USD")
        )
        for _ in range(times):
            self.pending.append(
                lambda cart: self.store.set_quantity(cart.id, product, quantity, cart)
            )


@pytest.fixture
def interleaving(store: CartStore, monkeypatch: pytest.MonkeyPatch) -> Interleaving:
    other = Interleaving(store)
    monkeypatch.setattr(CartStore, "get", lambda _store, cart_id: other.read(cart_id))
    return other


def test_an_add_that_loses_a_race_reapplies_and_keeps_both_lines(
    client: FlaskClient, cart_id: str, interleaving: Interleaving
) -> None:
    interleaving.add("product-01")
    cart = put(client, cart_id, "cast-iron-skillet", 2)
    assert interleaving.landed == 1
    assert lines(cart) == {"product-01": 1, "cast-iron-skillet": 2}
    assert lines(read(client, cart_id)) == lines(cart)


def test_a_removal_that_loses_a_race_keeps_the_line_added_meanwhile(
    client: FlaskClient, cart_id: str, interleaving: Interleaving
) -> None:
    put(client, cart_id, "cast-iron-skillet", 1)
    interleaving.add("product-01")
    response = client.delete(item_url(cart_id, "cast-iron-skillet"))
    assert interleaving.landed == 1
    assert lines(response.get_json()) == {"product-01": 1}
    assert lines(read(client, cart_id)) == {"product-01": 1}


def test_a_cart_that_keeps_changing_is_a_409_after_a_few_tries(
    client: FlaskClient,
    problem: Problem,
    cart_id: str,
    interleaving: Interleaving,
    caplog: pytest.LogCaptureFixture,
) -> None:
    interleaving.add("product-01", times=20)
    with caplog.at_level(logging.INFO, logger="cart.store"):
        response = client.put(item_url(cart_id, "cast-iron-skillet"), json={"quantity": 1})
    assert problem(response, 409)["type"].endswith("/conflict")
    assert interleaving.landed == 5  # one read before asking the catalog, then 4 re-reads
    lost = [r for r in caplog.records if r.getMessage() == "cart changed under the write"]
    assert [(r.__dict__["cart"], r.__dict__["attempt"]) for r in lost] == [
        (cart_id, attempt) for attempt in range(1, 6)
    ]
    assert "Retry-After" in response.headers
    interleaving.pending.clear()
    assert lines(read(client, cart_id)) == {"product-01": 1}


def test_the_stored_version_counts_the_writes_of_the_cart(
    client: FlaskClient, cart_id: str, store: CartStore
) -> None:
    def version() -> int:
        item = store.client().get_item(TableName=store.table, Key={"id": {"S": cart_id}})
        return int(item["Item"]["version"]["N"])

    assert version() == 1
    put(client, cart_id, "cast-iron-skillet", 1)
    assert version() == 2
    put(client, cart_id, "cast-iron-skillet", 3)
    client.delete(item_url(cart_id, "cast-iron-skillet"))
    assert version() == 4


def test_every_read_of_a_cart_asks_dynamodb_for_its_latest_write(
    client: FlaskClient, cart_id: str, store: CartStore
) -> None:
    # An eventually consistent read may answer the version before the last write: a shopper
    # would not see the line just added, and every change would lose its first write.
    asked: list[dict[str, Any]] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        asked.append(dict(params))

    events = store.client().meta.events
    events.register("provide-client-params.dynamodb.GetItem", note, unique_id="cart-reads")
    try:
        put(client, cart_id, "cast-iron-skillet", 1)
        read(client, cart_id)
    finally:
        events.unregister("provide-client-params.dynamodb.GetItem", unique_id="cart-reads")
    assert len(asked) >= 2
    assert all(params.get("ConsistentRead") is True for params in asked)


@pytest.fixture
def reads_meet_then_writes_take_turns(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The first two reads of a cart wait for each other, so two requests read the same version;
    their conditional writes then run one at a time, as DynamoDB applies writes to one item
    (moto's in-memory backend does not promise that across threads). Yields each write's result.
    """
    meet = threading.Barrier(2, timeout=60)  # a bound for a busy machine
    lock = threading.Lock()
    reads = 0
    results: list[bool] = []
    real_get, real_put = CartStore.get, CartStore._put

    def get(store: CartStore, cart_id: str) -> StoredCart | None:
        nonlocal reads
        cart = real_get(store, cart_id)
        with lock:
            reads += 1
            first_two = reads <= 2
        if first_two:
            meet.wait()
        return cart

    def put_in_turn(store: CartStore, cart: StoredCart, *, expected: int | None) -> bool:
        with lock:
            done = real_put(store, cart, expected=expected)
            if expected is not None:  # a change, not a new cart
                results.append(done)
            return done

    monkeypatch.setattr(CartStore, "get", get)
    monkeypatch.setattr(CartStore, "_put", put_in_turn)
    return results


def test_two_requests_adding_to_one_cart_at_once_keep_both_lines(
    app: Flask, cart_id: str, reads_meet_then_writes_take_turns: list[bool]
) -> None:
    def add(product_id: str) -> Cart:
        return put(app.test_client(), cart_id, product_id, 1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(add, ["cast-iron-skillet", "linen-tea-towels"]))

    assert reads_meet_then_writes_take_turns == [True, False, True]  # one lost and retried
    assert lines(max(answers, key=lambda cart: len(cart["items"]))) == {
        "cast-iron-skillet": 1,
        "linen-tea-towels": 1,
    }
    assert lines(read(app.test_client(), cart_id)) == {
        "cast-iron-skillet": 1,
        "linen-tea-towels": 1,
    }


# The OpenAPI document


def test_the_openapi_document_lists_every_operation(client: FlaskClient) -> None:
    response = client.get("/api/cart/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert {path: sorted(ops) for path, ops in document["paths"].items()} == {
        "/api/cart/carts": ["post"],
        "/api/cart/carts/{cart_id}": ["delete", "get"],
        "/api/cart/carts/{cart_id}/items/{product_id}": ["delete", "put"],
    }
    put_item = document["paths"]["/api/cart/carts/{cart_id}/items/{product_id}"]["put"]
    assert {"200", "404", "409", "422", "503"} <= set(put_item["responses"])
    quantity = document["components"]["schemas"]["ItemWrite"]["properties"]["quantity"]
    assert (quantity["minimum"], quantity["maximum"]) == (1, 99)
    assert set(document["components"]["schemas"]["Cart"]["properties"]) == {
        "id",
        "items",
        "subtotal",
        "expiresAt",
    }
