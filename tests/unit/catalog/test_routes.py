"""The catalog's HTTP API on the seed catalog: listing, reading, admin writes and the cache.

Tests in the `OnTheSeedCatalog` classes share one seeded app and must leave it as it is; the
module-level tests change the catalog, each on a freshly seeded app of its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from importlib.resources import files
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from tests.unit.catalog.near import caught_up, listening
from werkzeug.test import TestResponse

from catalog.models import ProductWrite
from catalog.seed import seed
from catalog.store import CatalogStore
from emporium.pagination import Cursors

PRODUCTS = "/api/catalog/products"
CATEGORIES = "/api/catalog/categories"
SEED = json.loads(files("catalog").joinpath("seed_data.json").read_text())
SEED_PRODUCTS = {product["id"]: product for product in SEED["products"]}
PRODUCT_FIELDS = {"id", "name", "description", "category", "price", "imageUrl", "tags", "version"}

Problem = Callable[..., dict[str, Any]]


@pytest.fixture
def client(seeded: Flask) -> FlaskClient:
    """A client of an app of the test's own, with the seed catalog loaded."""
    return seeded.test_client()


# Helpers


def product_url(product_id: str) -> str:
    return f"{PRODUCTS}/{product_id}"


def new_product(**changes: Any) -> dict[str, Any]:
    product: dict[str, Any] = {
        "name": "Enamel Mug",
        "description": "A speckled enamel mug for the campsite.",
        "category": "kitchen",
        "price": {"amount": 1299, "currency": "USD"},
        "imageUrl": "/images/products/enamel-mug.svg",
        "tags": ["mugs", "camping"],
    }
    return {**product, **changes}


def with_version(headers: dict[str, str], version: int | str) -> dict[str, str]:
    return {**headers, "If-Match": f'"{version}"'}


def read(client: FlaskClient, product_id: str) -> dict[str, Any]:
    response = client.get(product_url(product_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    product: dict[str, Any] = response.get_json()
    return product


def create(client: FlaskClient, admin: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post(PRODUCTS, json=new_product(**changes), headers=admin)
    assert response.status_code == 201, response.get_data(as_text=True)
    product: dict[str, Any] = response.get_json()
    return product


def replace(
    client: FlaskClient, admin: dict[str, str], product_id: str, version: int, **changes: Any
) -> TestResponse:
    return client.put(
        product_url(product_id),
        json=new_product(**changes),
        headers=with_version(admin, version),
    )


def listing(client: FlaskClient, **query: str | int) -> dict[str, Any]:
    response = client.get(PRODUCTS, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    page: dict[str, Any] = response.get_json()
    return page


def all_pages(client: FlaskClient, **query: str | int) -> list[dict[str, Any]]:
    """Follow nextCursor from the first page to the last."""
    pages = [listing(client, **query)]
    while pages[-1]["nextCursor"] is not None:
        assert len(pages) < 100, "the cursors do not come to an end"
        pages.append(listing(client, **query, cursor=pages[-1]["nextCursor"]))
    return pages


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [product["id"] for page in pages for product in page["items"]]


def product_counts(client: FlaskClient) -> dict[str, int]:
    response = client.get(CATEGORIES)
    assert response.status_code == 200
    return {category["id"]: category["productCount"] for category in response.get_json()["items"]}


def locations(document: dict[str, Any]) -> set[str]:
    return {error["location"] for error in document["errors"]}


def cursor(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# Tests that share one seeded app (`shared_seeded_app`): they only read, or make writes the
# API rejects and check that nothing changed.


class OnTheSeedCatalog:
    """Its tests share `shared_seeded_app`; seeding an app for each would take seconds."""

    @pytest.fixture
    def client(self, shared_seeded_app: Flask) -> FlaskClient:
        return shared_seeded_app.test_client()


class TestListing(OnTheSeedCatalog):
    """Listing products and categories."""

    def test_paging_with_limit_7_returns_every_product_once_in_id_order(
        self, client: FlaskClient
    ) -> None:
        pages = all_pages(client, limit=7)
        assert ids(pages) == sorted(SEED_PRODUCTS)
        assert len(SEED_PRODUCTS) == 48
        assert [len(page["items"]) for page in pages] == [7, 7, 7, 7, 7, 7, 6]
        assert all(page["nextCursor"] for page in pages[:-1])
        assert pages[-1]["nextCursor"] is None

    def test_a_listing_that_fits_one_page_has_no_next_cursor(self, client: FlaskClient) -> None:
        page = listing(client, limit=100)
        assert len(page["items"]) == 48
        assert page["nextCursor"] is None

    def test_the_default_page_size_is_20(self, client: FlaskClient) -> None:
        assert len(listing(client)["items"]) == 20

    def test_a_category_listing_has_only_that_category_and_matches_its_count(
        self, client: FlaskClient
    ) -> None:
        pages = all_pages(client, category="tea-coffee", limit=3)
        products = [product for page in pages for product in page["items"]]
        assert {product["category"] for product in products} == {"tea-coffee"}
        assert ids(pages) == sorted(
            product_id
            for product_id, product in SEED_PRODUCTS.items()
            if product["category"] == "tea-coffee"
        )
        assert len(products) == product_counts(client)["tea-coffee"]

    def test_a_page_that_ends_exactly_at_the_last_product_has_no_next_cursor(
        self, client: FlaskClient
    ) -> None:
        count = product_counts(client)["home"]
        page = listing(client, category="home", limit=count)
        assert len(page["items"]) == count
        assert page["nextCursor"] is None

    def test_an_unknown_category_lists_nothing(self, client: FlaskClient) -> None:
        assert listing(client, category="no-such-category") == {"items": [], "nextCursor": None}

    def test_categories_list_every_seeded_category_with_its_count(
        self, client: FlaskClient
    ) -> None:
        expected: dict[str, int] = {category["id"]: 0 for category in SEED["categories"]}
        for product in SEED_PRODUCTS.values():
            expected[product["category"]] += 1
        assert product_counts(client) == expected

    def test_a_cursor_of_one_category_is_rejected_for_another(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        home_cursor = listing(client, category="home", limit=2)["nextCursor"]
        response = client.get(PRODUCTS, query_string={"category": "bath", "cursor": home_cursor})
        assert problem(response, 400)["type"].endswith("/invalid-cursor")

    def test_a_cursor_of_a_category_is_rejected_for_the_whole_catalog(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        home_cursor = listing(client, category="home", limit=2)["nextCursor"]
        problem(client.get(PRODUCTS, query_string={"cursor": home_cursor}), 400)

    @pytest.mark.parametrize(
        "garbage",
        [
            pytest.param("garbage", id="not-a-cursor"),
            pytest.param("%%%", id="not-base64"),
            pytest.param(cursor({"after": "bath-towel", "listing": None}), id="unsigned"),
            pytest.param("x" * 480 + "." + "A" * 23, id="tag-too-long"),
        ],
    )
    def test_a_cursor_of_the_wrong_shape_is_a_422_naming_it(
        self, client: FlaskClient, problem: Problem, garbage: str
    ) -> None:
        document = problem(client.get(PRODUCTS, query_string={"cursor": garbage}), 422)
        assert locations(document) == {"query.cursor"}

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(["bath-towel"], id="json-not-an-object"),
            pytest.param({"listing": None}, id="no-after"),
            pytest.param({"after": "../../etc", "listing": None}, id="after-not-an-id"),
            pytest.param({"after": 7, "listing": None}, id="after-not-a-string"),
            pytest.param({"after": "bath-towel", "listing": None}, id="well-formed"),
        ],
    )
    def test_a_cursor_this_listing_did_not_sign_is_a_400(
        self, client: FlaskClient, problem: Problem, data: object
    ) -> None:
        forged = f"{cursor(data)}.{'A' * 22}"  # the shape of a cursor, with a made-up tag
        response = client.get(PRODUCTS, query_string={"cursor": forged})
        assert problem(response, 400)["type"].endswith("/invalid-cursor")

    def test_a_cursor_signed_with_another_key_is_a_400(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        elsewhere = Cursors("another-deployment-key-0123456789abcdef", "products")
        response = client.get(
            PRODUCTS, query_string={"cursor": elsewhere.encode("bath-towel", None)}
        )
        assert problem(response, 400)["type"].endswith("/invalid-cursor")

    @pytest.mark.parametrize("limit", ["0", "101", "abc"])
    def test_a_limit_outside_1_to_100_is_a_422(
        self, client: FlaskClient, problem: Problem, limit: str
    ) -> None:
        document = problem(client.get(PRODUCTS, query_string={"limit": limit}), 422)
        assert [error["location"] for error in document["errors"]] == ["query.limit"]

    def test_a_malformed_category_is_a_422(self, client: FlaskClient, problem: Problem) -> None:
        document = problem(client.get(PRODUCTS, query_string={"category": "Tea Coffee"}), 422)
        assert [error["location"] for error in document["errors"]] == ["query.category"]


class TestReading(OnTheSeedCatalog):
    """Reading one product."""

    def test_a_product_has_its_version_as_etag_and_the_documented_shape(
        self, client: FlaskClient
    ) -> None:
        response = client.get(product_url("cast-iron-skillet"))
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert response.headers["ETag"] == '"1"'
        product = response.get_json()
        assert set(product) == PRODUCT_FIELDS
        seeded = SEED_PRODUCTS["cast-iron-skillet"]
        assert product == {**seeded, "version": 1}
        assert product["price"] == {"amount": seeded["price"]["amount"], "currency": "USD"}

    def test_an_unknown_product_is_a_404_problem(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        document = problem(client.get(product_url("no-such-product")), 404)
        assert document["type"].endswith("/not-found")
        assert "no-such-product" in document["detail"]

    def test_an_unknown_product_stays_404_when_read_again(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        problem(client.get(product_url("no-such-product")), 404)
        problem(client.get(product_url("no-such-product")), 404)

    @pytest.mark.parametrize(
        "product_id",
        [
            pytest.param("CAST-IRON-SKILLET", id="uppercase"),
            pytest.param("a" * 70, id="70-chars"),
            pytest.param("-skillet", id="leading-dash"),
            pytest.param("cast.iron", id="dot"),
        ],
    )
    def test_a_product_id_outside_the_id_pattern_is_a_404(
        self, client: FlaskClient, problem: Problem, product_id: str
    ) -> None:
        problem(client.get(product_url(product_id)), 404)


class TestRejectedWrites(OnTheSeedCatalog):
    """Writes the API refuses leave the catalog as it was."""

    def test_a_write_without_a_token_is_401_with_www_authenticate(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        response = client.post(PRODUCTS, json=new_product())
        problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    def test_a_write_with_another_auth_scheme_is_401(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        response = client.post(
            PRODUCTS, json=new_product(), headers={"Authorization": "Basic YTpi"}
        )
        problem(response, 401)

    def test_a_write_with_a_wrong_token_is_403(
        self, client: FlaskClient, problem: Problem, admin: dict[str, str]
    ) -> None:
        headers = {"Authorization": admin["Authorization"] + "-wrong"}
        problem(client.post(PRODUCTS, json=new_product(), headers=headers), 403)
        assert len(listing(client, limit=100)["items"]) == 48

    @pytest.mark.parametrize("method", ["put", "delete"])
    def test_replace_and_delete_need_the_token_too(
        self, client: FlaskClient, problem: Problem, method: str
    ) -> None:
        send = getattr(client, method)
        response = send(
            product_url("cast-iron-skillet"), json=new_product(), headers={"If-Match": '"1"'}
        )
        problem(response, 401)
        assert read(client, "cast-iron-skillet")["version"] == 1

    def test_create_in_an_unknown_category_is_a_422_and_adds_nothing(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        before = product_counts(client)
        response = client.post(PRODUCTS, json=new_product(category="garage"), headers=admin)
        assert problem(response, 422)["type"].endswith("/unknown-category")
        assert product_counts(client) == before
        assert len(listing(client, limit=100)["items"]) == 48

    def test_replace_without_if_match_is_428(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        response = client.put(product_url("cast-iron-skillet"), json=new_product(), headers=admin)
        problem(response, 428)
        assert read(client, "cast-iron-skillet")["version"] == 1

    def test_replace_with_a_version_never_issued_is_412_and_changes_nothing(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        original = read(client, "cast-iron-skillet")
        problem(replace(client, admin, "cast-iron-skillet", 7, name="Renamed"), 412)
        assert read(client, "cast-iron-skillet") == original

    @pytest.mark.parametrize("if_match", ["1", '"0"', '"abc"', 'W/"1"'])
    def test_replace_with_an_if_match_that_is_not_a_version_is_412(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem, if_match: str
    ) -> None:
        response = client.put(
            product_url("cast-iron-skillet"),
            json=new_product(),
            headers={**admin, "If-Match": if_match},
        )
        problem(response, 412)
        assert read(client, "cast-iron-skillet")["version"] == 1

    def test_replace_of_an_unknown_product_is_404(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        problem(replace(client, admin, "no-such-product", 1), 404)

    def test_replace_into_an_unknown_category_is_422_and_changes_nothing(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        before = product_counts(client)
        original = read(client, "cast-iron-skillet")
        response = replace(client, admin, "cast-iron-skillet", 1, category="garage")
        assert problem(response, 422)["type"].endswith("/unknown-category")
        assert read(client, "cast-iron-skillet") == original
        assert product_counts(client) == before

    def test_delete_with_a_stale_version_is_412_and_keeps_the_product(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        response = client.delete(product_url("cast-iron-skillet"), headers=with_version(admin, 2))
        assert problem(response, 412)["currentVersion"] == 1
        assert read(client, "cast-iron-skillet")["version"] == 1

    def test_delete_without_if_match_is_428(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        problem(client.delete(product_url("cast-iron-skillet"), headers=admin), 428)
        assert read(client, "cast-iron-skillet")["version"] == 1

    def test_delete_of_an_unknown_product_is_404(
        self, client: FlaskClient, admin: dict[str, str], problem: Problem
    ) -> None:
        problem(client.delete(product_url("no-such-product"), headers=with_version(admin, 1)), 404)


# Successful writes, each test on a freshly seeded app of its own (`seeded`).


def test_create_answers_201_with_location_etag_and_version_1(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.post(PRODUCTS, json=new_product(), headers=admin)
    assert response.status_code == 201
    created = response.get_json()
    assert created == {**new_product(), "id": created["id"], "version": 1}
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == product_url(created["id"])
    assert client.get(response.headers["Location"]).get_json() == created


def test_if_match_star_replaces_and_deletes_whatever_version_is_current(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    replace(client, admin, "cast-iron-skillet", 1, name="Skillet v2")
    any_version = {**admin, "If-Match": "*"}
    response = client.put(
        product_url("cast-iron-skillet"), json=new_product(name="Skillet v3"), headers=any_version
    )
    assert response.status_code == 200
    assert response.get_json()["version"] == 3
    assert client.delete(product_url("cast-iron-skillet"), headers=any_version).status_code == 204
    assert client.get(product_url("cast-iron-skillet")).status_code == 404


def test_create_fills_in_the_optional_fields(client: FlaskClient, admin: dict[str, str]) -> None:
    body = {"name": "Plain Mug", "category": "kitchen", "price": {"amount": 0, "currency": "USD"}}
    response = client.post(PRODUCTS, json=body, headers=admin)
    assert response.status_code == 201
    created = response.get_json()
    assert created == {
        **body,
        "id": created["id"],
        "description": "",
        "imageUrl": "",
        "tags": [],
        "version": 1,
    }


def test_create_counts_the_product_in_its_category(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    before = product_counts(client)
    create(client, admin, category="bath")
    assert product_counts(client) == {**before, "bath": before["bath"] + 1}


def test_replace_with_a_stale_version_is_412_and_changes_nothing(
    client: FlaskClient, admin: dict[str, str], problem: Problem
) -> None:
    original = read(client, "cast-iron-skillet")
    updated = replace(client, admin, "cast-iron-skillet", 1, name="Skillet v2")
    assert updated.status_code == 200

    stale = replace(client, admin, "cast-iron-skillet", 1, name="Skillet from a stale read")
    document = problem(stale, 412)
    assert document["type"].endswith("/stale-version")
    assert document["currentVersion"] == 2
    current = read(client, "cast-iron-skillet")
    assert current["name"] == "Skillet v2"
    assert current["version"] == 2
    assert original["name"] != current["name"]


def test_replace_with_the_current_version_answers_the_new_version(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = replace(client, admin, "cast-iron-skillet", 1, name="Skillet, 12 in")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    replaced = response.get_json()
    assert replaced == {
        **new_product(name="Skillet, 12 in"),
        "id": "cast-iron-skillet",
        "version": 2,
    }
    assert read(client, "cast-iron-skillet") == replaced


def test_replace_into_another_category_moves_its_count(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    before = product_counts(client)
    assert SEED_PRODUCTS["cast-iron-skillet"]["category"] == "kitchen"
    response = replace(client, admin, "cast-iron-skillet", 1, category="outdoors")
    assert response.status_code == 200
    assert product_counts(client) == {
        **before,
        "kitchen": before["kitchen"] - 1,
        "outdoors": before["outdoors"] + 1,
    }
    assert "cast-iron-skillet" in ids(all_pages(client, category="outdoors", limit=100))
    assert "cast-iron-skillet" not in ids(all_pages(client, category="kitchen", limit=100))


def test_delete_with_the_current_version_removes_the_product(
    client: FlaskClient, admin: dict[str, str], problem: Problem
) -> None:
    before = product_counts(client)
    response = client.delete(product_url("cast-iron-skillet"), headers=with_version(admin, 1))
    assert response.status_code == 204
    assert response.data == b""
    problem(client.get(product_url("cast-iron-skillet")), 404)
    assert product_counts(client) == {**before, "kitchen": before["kitchen"] - 1}
    assert "cast-iron-skillet" not in ids(all_pages(client, limit=100))


def test_a_created_product_can_be_replaced_and_deleted(
    client: FlaskClient, admin: dict[str, str], problem: Problem
) -> None:
    created = create(client, admin)
    url = product_url(created["id"])
    assert replace(client, admin, created["id"], 1, name="Mug, large").status_code == 200
    assert client.delete(url, headers=with_version(admin, 2)).status_code == 204
    problem(client.get(url), 404)


@pytest.fixture
def read_before_the_other_write(
    seeded: Flask, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], AbstractContextManager[None]]:
    """Within the block, the store reads a product as it was before the write made in it.

    This is how a write that loses a race looks: it read the version the caller sent, then
    another write committed before its own.
    """

    @contextmanager
    def stale(product_id: str) -> Iterator[None]:
        before = seeded.extensions["catalog"].store.get_product(product_id)
        with monkeypatch.context() as patch:
            patch.setattr(CatalogStore, "get_product", lambda _store, _id: before)
            yield

    return stale


def test_a_replace_that_loses_a_race_is_412_not_a_lost_update(
    client: FlaskClient,
    admin: dict[str, str],
    problem: Problem,
    read_before_the_other_write: Callable[[str], AbstractContextManager[None]],
) -> None:
    with read_before_the_other_write("cast-iron-skillet"):
        other = client.put(
            product_url("cast-iron-skillet"),
            json=new_product(name="The other write"),
            headers=with_version(admin, 1),
        )
        assert other.status_code == 200
        losing = replace(client, admin, "cast-iron-skillet", 1, name="The losing write")
    assert problem(losing, 412)["type"].endswith("/stale-version")
    assert read(client, "cast-iron-skillet")["name"] == "The other write"


def test_a_delete_that_loses_a_race_is_412_and_keeps_the_product(
    client: FlaskClient,
    admin: dict[str, str],
    problem: Problem,
    read_before_the_other_write: Callable[[str], AbstractContextManager[None]],
) -> None:
    before = product_counts(client)
    with read_before_the_other_write("cast-iron-skillet"):
        assert replace(client, admin, "cast-iron-skillet", 1).status_code == 200
        losing = client.delete(product_url("cast-iron-skillet"), headers=with_version(admin, 1))
    problem(losing, 412)
    assert read(client, "cast-iron-skillet")["version"] == 2
    assert product_counts(client) == before


# The cache, observed through cache_lookups_total


def test_reading_a_product_twice_is_a_miss_then_a_hit(
    client: FlaskClient, cache_lookups: Callable[[str], Any]
) -> None:
    lookups = cache_lookups("product")
    first = client.get(product_url("linen-tea-towels"))
    assert lookups.since() == {"hit": 0, "miss": 1, "error": 0}
    second = client.get(product_url("linen-tea-towels"))
    assert lookups.since() == {"hit": 1, "miss": 0, "error": 0}
    assert second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"] == '"1"'


def test_a_product_read_asks_dynamodb_for_the_latest_write(seeded: Flask) -> None:
    """DynamoDB's default read may miss a write acknowledged a moment ago (moto's never does),
    and the cache would keep what it read: reads of a product ask for a consistent read."""
    asked: list[bool] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(params.get("ConsistentRead", False))

    events = seeded.extensions["catalog"].store.client().meta.events
    events.register("provide-client-params.dynamodb.GetItem", record)
    try:
        assert seeded.test_client().get(product_url("linen-tea-towels")).status_code == 200
    finally:
        events.unregister("provide-client-params.dynamodb.GetItem", record)
    assert asked == [True]


def test_a_read_after_a_replace_misses_and_shows_the_new_product(
    client: FlaskClient, admin: dict[str, str], cache_lookups: Callable[[str], Any]
) -> None:
    lookups = cache_lookups("product")
    read(client, "linen-tea-towels")
    read(client, "linen-tea-towels")
    assert lookups.since() == {"hit": 1, "miss": 1, "error": 0}  # the product is cached

    renamed = "Linen Tea Towels, set of 4"
    assert replace(client, admin, "linen-tea-towels", 1, name=renamed).status_code == 200
    response = client.get(product_url("linen-tea-towels"))
    assert lookups.since() == {"hit": 0, "miss": 1, "error": 0}
    assert response.headers["ETag"] == '"2"'
    assert response.get_json()["name"] == renamed


def test_with_the_near_cache_on_reads_come_from_memory_and_this_app_s_writes_show_at_once(
    make_app: Callable[..., Flask],
    seed_environ: None,
    admin: dict[str, str],
    cache_lookups: Callable[[str], Any],
) -> None:
    app = make_app(CATALOG_NEAR_CACHE_SECONDS="60")
    client = app.test_client()
    seed()
    listening(app.extensions["catalog"].cache)
    lookups = cache_lookups("product", ("near", "hit", "miss", "error"))
    first = client.get(product_url("linen-tea-towels"))
    second = client.get(product_url("linen-tea-towels"))
    assert lookups.since() == {"near": 1, "hit": 0, "miss": 1, "error": 0}
    assert (second.data, second.headers["ETag"]) == (first.data, '"1"')

    renamed = "Linen Tea Towels, set of 4"
    assert replace(client, admin, "linen-tea-towels", 1, name=renamed).status_code == 200
    response = client.get(product_url("linen-tea-towels"))
    assert (response.get_json()["name"], response.headers["ETag"]) == (renamed, '"2"')


def test_with_the_near_cache_on_another_app_s_write_shows_once_its_listener_applied_it(
    make_app: Callable[..., Flask],
    seed_environ: None,
    admin: dict[str, str],
    cache_lookups: Callable[[str], Any],
) -> None:
    """Two pods: a product one of them keeps in memory is read anew after the other's write."""
    reading = make_app(CATALOG_NEAR_CACHE_SECONDS="60")
    reader, writer = reading.test_client(), make_app(CATALOG_NEAR_CACHE_SECONDS="60").test_client()
    seed()
    near = listening(reading.extensions["catalog"].cache)
    lookups = cache_lookups("product", ("near", "hit", "miss", "error"))
    assert reader.get(product_url("linen-tea-towels")).headers["ETag"] == '"1"'
    assert reader.get(product_url("linen-tea-towels")).headers["ETag"] == '"1"'
    renamed = "Linen Tea Towels, set of 4"
    assert replace(writer, admin, "linen-tea-towels", 1, name=renamed).status_code == 200
    caught_up(near)  # milliseconds: the integration tests read it at once, over HTTP
    response = reader.get(product_url("linen-tea-towels"))
    assert (response.get_json()["name"], response.headers["ETag"]) == (renamed, '"2"')
    assert lookups.since() == {"near": 1, "hit": 0, "miss": 2, "error": 0}


def test_a_read_after_a_delete_is_404_not_the_cached_product(
    client: FlaskClient, admin: dict[str, str], problem: Problem
) -> None:
    read(client, "linen-tea-towels")
    assert read(client, "linen-tea-towels")["version"] == 1  # now served from the cache
    response = client.delete(product_url("linen-tea-towels"), headers=with_version(admin, 1))
    assert response.status_code == 204
    problem(client.get(product_url("linen-tea-towels")), 404)


def test_a_created_product_is_listed_right_after_the_post(
    client: FlaskClient, admin: dict[str, str], cache_lookups: Callable[[str], Any]
) -> None:
    lookups = cache_lookups("list")
    listing(client, limit=100)
    listing(client, limit=100)
    assert lookups.since() == {"hit": 1, "miss": 1, "error": 0}  # the page is cached

    created = create(client, admin)
    page = listing(client, limit=100)
    assert lookups.since() == {"hit": 0, "miss": 1, "error": 0}
    assert created["id"] in [product["id"] for product in page["items"]]
    assert len(page["items"]) == 49


def test_category_counts_are_fresh_right_after_a_write(
    client: FlaskClient, admin: dict[str, str], cache_lookups: Callable[[str], Any]
) -> None:
    lookups = cache_lookups("categories")
    before = product_counts(client)
    assert product_counts(client) == before
    assert lookups.since() == {"hit": 1, "miss": 1, "error": 0}  # the counts are cached

    create(client, admin, category="home")
    assert product_counts(client)["home"] == before["home"] + 1


# The internal read: /internal/catalog/products/{id}, from DynamoDB, never from the cache

INTERNAL_PRODUCTS = "/internal/catalog/products"


class TestInternalRead(OnTheSeedCatalog):
    """The consistent read other services (orders' checkout) price from."""

    def test_it_answers_the_public_body_and_etag(self, client: FlaskClient) -> None:
        public = client.get(product_url("cast-iron-skillet"))
        internal = client.get(f"{INTERNAL_PRODUCTS}/cast-iron-skillet")
        assert internal.status_code == 200
        assert internal.mimetype == "application/json"
        assert internal.headers["ETag"] == public.headers["ETag"] == '"1"'
        assert internal.data == public.data

    def test_an_unknown_product_is_the_same_404_problem(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        public = problem(client.get(product_url("no-such-product")), 404)
        internal = problem(client.get(f"{INTERNAL_PRODUCTS}/no-such-product"), 404)
        assert internal["type"] == public["type"]
        assert internal["type"].endswith("/not-found")
        assert internal["detail"] == public["detail"]

    def test_an_id_outside_the_id_pattern_is_a_404(
        self, client: FlaskClient, problem: Problem
    ) -> None:
        problem(client.get(f"{INTERNAL_PRODUCTS}/CAST-IRON-SKILLET"), 404)

    def test_it_has_an_openapi_document_of_its_own(self, client: FlaskClient) -> None:
        response = client.get("/internal/catalog/openapi.json")
        assert response.status_code == 200
        document = response.get_json()
        validate(document)
        assert {path: set(methods) for path, methods in document["paths"].items()} == {
            "/internal/catalog/products/{product_id}": {"get"}
        }
        operation = document["paths"]["/internal/catalog/products/{product_id}"]["get"]
        assert "security" not in operation  # public product data, reached only in-cluster
        assert set(operation["responses"]) >= {"200", "404", "default"}
        public = client.get("/api/catalog/openapi.json").get_json()
        assert not [path for path in public["paths"] if path.startswith("/internal")]

    def test_the_edge_does_not_route_it(self) -> None:
        table = json.loads(files("edge").joinpath("routes.json").read_text())
        prefixes = [route["prefix"] for route in table["routes"]]
        assert not [prefix for prefix in prefixes if prefix.startswith("/internal")]
        assert {r["prefix"]: r["service"] for r in table["routes"]}["/"] == "ui"


def test_the_internal_read_shows_a_write_the_cached_public_read_does_not(
    client: FlaskClient, seeded: Flask
) -> None:
    cached = read(client, "linen-tea-towels")
    assert read(client, "linen-tea-towels") == cached  # now served from the cache
    # A write whose cache invalidation was lost: straight to DynamoDB, the cache untouched.
    seeded.extensions["catalog"].store.replace_product(
        "linen-tea-towels", ProductWrite.model_validate(new_product(name="Renamed")), 1
    )
    assert read(client, "linen-tea-towels") == cached  # the public read serves the cache

    response = client.get(f"{INTERNAL_PRODUCTS}/linen-tea-towels")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    assert response.get_json() == {
        **new_product(name="Renamed"),
        "id": "linen-tea-towels",
        "version": 2,
    }


def test_the_internal_read_answers_while_redis_is_down(
    client: FlaskClient, redis_server: Any
) -> None:
    redis_server.connected = False
    response = client.get(f"{INTERNAL_PRODUCTS}/linen-tea-towels")
    assert response.status_code == 200
    assert response.get_json()["id"] == "linen-tea-towels"


# Writes and the cache: a write Redis cannot mark is not made; a racing fill caches nothing old


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_a_write_while_redis_is_down_is_a_503_and_writes_nothing(
    seeded: Flask, admin: dict[str, str], problem: Problem, redis_server: Any, method: str
) -> None:
    client = seeded.test_client()
    store: CatalogStore = seeded.extensions["catalog"].store
    before, counts = store.get_product("cast-iron-skillet"), product_counts(client)
    redis_server.connected = False
    if method == "post":
        response = client.post(PRODUCTS, json=new_product(), headers=admin)
    else:
        send = getattr(client, method)
        url = product_url("cast-iron-skillet")
        response = send(url, json=new_product(name="Renamed"), headers=with_version(admin, 1))
    document = problem(response, 503)
    assert document["type"].endswith("/dependency-unavailable")
    assert int(response.headers["Retry-After"]) >= 1

    assert store.get_product("cast-iron-skillet") == before  # in DynamoDB, unchanged
    assert len(store.list_products(None, 100, None)[0]) == 48
    redis_server.connected = True
    assert product_counts(client) == counts
    assert read(client, "cast-iron-skillet")["version"] == 1
    assert replace(client, admin, "cast-iron-skillet", 1, name="Later").status_code == 200


def test_reads_while_redis_is_down_come_from_dynamodb(
    client: FlaskClient, redis_server: Any, cache_lookups: Callable[[str], Any]
) -> None:
    lookups = cache_lookups("product")
    redis_server.connected = False
    assert read(client, "linen-tea-towels")["id"] == "linen-tea-towels"
    assert len(listing(client, limit=100)["items"]) == 48
    assert lookups.since() == {"hit": 0, "miss": 0, "error": 1}


def test_a_write_landing_during_a_readers_fill_leaves_the_new_product_cached(
    client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    read_from_dynamodb = CatalogStore.get_product
    raced: list[int] = []
    writing = False

    def read_then_a_write_lands(store: CatalogStore, product_id: str) -> Any:
        nonlocal writing
        product = read_from_dynamodb(store, product_id)
        if not writing:  # the reader's fill: it has read version 1, then the PUT is made
            writing = True
            raced.append(replace(client, admin, product_id, 1, name="Renamed").status_code)
        return product

    monkeypatch.setattr(CatalogStore, "get_product", read_then_a_write_lands)
    assert read(client, "linen-tea-towels")["version"] == 1  # the read began before the write
    assert raced == [200]
    monkeypatch.undo()
    for _ in range(2):  # loaded, then from the cache: the new version both times
        assert read(client, "linen-tea-towels")["name"] == "Renamed"


def test_write_marks_outlast_the_longest_write_the_dynamodb_settings_allow(
    make_app: Callable[..., Flask],
) -> None:
    # 2 calls x (3 attempts x (1 s + 2 s) + backoffs (1 + 5) + (2 + 5)) = 44 s, plus 1 s.
    assert make_app().extensions["catalog"].cache.marker_ms == 45_000
    slower = make_app(DYNAMODB_READ_TIMEOUT="10", DYNAMODB_MAX_ATTEMPTS="5")
    # 2 x (5 x 11 s + (1 + 5) + (2 + 5) + (4 + 5) + (8 + 5)) = 180 s, plus 1 s.
    assert slower.extensions["catalog"].cache.marker_ms == 181_000
    most = make_app(DYNAMODB_MAX_ATTEMPTS="7")  # the 6th retry's backoff is capped at 20 s
    # 2 x (7 x 3 s + (1 + 5) + (2 + 5) + (4 + 5) + (8 + 5) + (16 + 5) + (20 + 5)) = 204 s, plus 1 s.
    assert most.extensions["catalog"].cache.marker_ms == 205_000


def test_a_product_id_drawn_twice_is_a_documented_409(
    client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("catalog.routes.secrets.token_hex", lambda _: "0123456789abcdef")
    product = {"name": "Mug", "category": "kitchen", "price": {"amount": 900, "currency": "USD"}}
    assert client.post("/api/catalog/products", json=product, headers=admin).status_code == 201
    again = client.post("/api/catalog/products", json=product, headers=admin)
    assert again.status_code == 409  # no UndocumentedStatus: create_product lists it
    assert again.get_json()["type"].endswith("conflict")
    responses = client.get("/api/catalog/openapi.json").get_json()["paths"][
        "/api/catalog/products"
    ]["post"]["responses"]
    assert "409" in responses
