"""The catalog through HTTP, served by gunicorn against real redis-server and moto server."""

from __future__ import annotations

import threading
import time

import pytest
import redis
import requests
from tests.integration.conftest import ADMIN_TOKEN, CatalogStack, start_gunicorn

pytestmark = pytest.mark.integration

NEW_PRODUCT = {
    "name": "Integration Test Mug",
    "description": "A mug made by a test.",
    "category": "kitchen",
    "price": {"amount": 1250, "currency": "USD"},
    "imageUrl": "",
    "tags": ["test"],
}


def walk(catalog: CatalogStack, query: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = catalog.get(
            f"/api/catalog/products?{query}" + (f"&cursor={cursor}" if cursor else "")
        )
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return ids
    pytest.fail("the listing did not end after 100 pages")


def test_pages_cover_every_product_once_in_order(catalog: CatalogStack) -> None:
    ids = walk(catalog, "limit=7")
    assert len(ids) >= 48
    assert ids == sorted(set(ids))
    assert ids == [
        item["id"] for item in catalog.get("/api/catalog/products?limit=100").json()["items"]
    ]


def test_category_pages_match_the_category_counts(catalog: CatalogStack) -> None:
    categories = catalog.get("/api/catalog/categories").json()["items"]
    assert len(categories) >= 5
    for category in categories:
        ids = walk(catalog, f"category={category['id']}&limit=3")
        assert len(ids) == category["productCount"]
        for product_id in ids[:2]:
            assert (
                catalog.get(f"/api/catalog/products/{product_id}").json()["category"]
                == category["id"]
            )


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=ten", 422),
        ("cursor=bm90LWEtY3Vyc29y", 422),  # not shaped like a cursor
        ("cursor=%%%", 422),
        ("cursor=eyJhZnRlciI6ICJ6enoifQ.AAAAAAAAAAAAAAAAAAAAAA", 400),  # shaped, not signed
    ],
)
def test_bad_list_parameters_are_problems(catalog: CatalogStack, query: str, status: int) -> None:
    response = catalog.get(f"/api/catalog/products?{query}")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status


def test_a_cursor_of_another_category_is_refused(catalog: CatalogStack) -> None:
    cursor = catalog.get("/api/catalog/products?category=kitchen&limit=2").json()["nextCursor"]
    response = catalog.get(f"/api/catalog/products?category=bath&limit=2&cursor={cursor}")
    assert response.status_code == 400


def test_unknown_product_is_a_404_problem(catalog: CatalogStack) -> None:
    response = catalog.get("/api/catalog/products/no-such-product")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"
    assert "<html" not in response.text.lower()


def test_admin_writes_need_the_token(catalog: CatalogStack) -> None:
    anonymous = catalog.http.post(
        catalog.url + "/api/catalog/products", json=NEW_PRODUCT, timeout=10
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = catalog.http.post(
        catalog.url + "/api/catalog/products",
        json=NEW_PRODUCT,
        headers={"Authorization": "Bearer not-the-token"},
        timeout=10,
    )
    assert wrong.status_code == 403


def test_a_stale_write_is_refused_and_overwrites_nothing(catalog: CatalogStack) -> None:
    created = catalog.admin("POST", "/api/catalog/products", json=NEW_PRODUCT)
    assert created.status_code == 201, created.text
    path = created.headers["Location"]
    assert created.headers["ETag"] == '"1"'

    first = catalog.admin(
        "PUT", path, json={**NEW_PRODUCT, "name": "First"}, headers={"If-Match": '"1"'}
    )
    second = catalog.admin(
        "PUT", path, json={**NEW_PRODUCT, "name": "Second"}, headers={"If-Match": '"1"'}
    )
    assert first.status_code == 200
    assert second.status_code == 412
    assert second.json()["currentVersion"] == 2
    product = catalog.get(path).json()
    assert (product["name"], product["version"]) == ("First", 2)

    assert catalog.admin("DELETE", path).status_code == 428
    assert catalog.admin("DELETE", path, headers={"If-Match": '"1"'}).status_code == 412
    assert catalog.admin("DELETE", path, headers={"If-Match": '"2"'}).status_code == 204
    assert catalog.get(path).status_code == 404


def cached(catalog: CatalogStack) -> float:
    """Product reads served without the store: from Redis or from a process's memory."""
    return sum(
        catalog.metric("cache_lookups_total", cache="product", result=result)
        for result in ("hit", "near")
    )


def test_reads_are_cached_and_writes_invalidate(catalog: CatalogStack) -> None:
    created = catalog.admin("POST", "/api/catalog/products", json=NEW_PRODUCT).json()
    path = f"/api/catalog/products/{created['id']}"
    misses = catalog.metric("cache_lookups_total", cache="product", result="miss")
    hits = cached(catalog)

    assert catalog.get(path).status_code == 200
    assert catalog.get(path).status_code == 200
    assert catalog.metric("cache_lookups_total", cache="product", result="miss") == misses + 1
    assert cached(catalog) == hits + 1
    key = "{catalog:product:" + created["id"] + "}"
    with redis.Redis(port=catalog.redis_port) as cache:
        assert cache.exists(key) == 1
        renamed = {**NEW_PRODUCT, "name": "Renamed"}
        updated = catalog.admin("PUT", path, json=renamed, headers={"If-Match": '"1"'})
        assert updated.status_code == 200
        assert cache.exists(key) == 0
    assert catalog.get(path).json()["name"] == "Renamed"
    assert catalog.metric("cache_lookups_total", cache="product", result="miss") == misses + 2

    listed = walk(catalog, "category=kitchen&limit=50")
    assert created["id"] in listed
    catalog.admin("DELETE", path, headers={"If-Match": '"2"'})
    assert created["id"] not in walk(catalog, "category=kitchen&limit=50")


def test_a_pod_reads_another_pod_s_write_at_once_though_it_keeps_products_in_memory(
    private_catalog: CatalogStack,
) -> None:
    """The near cache (on by default) of two catalog servers, evicted through Redis pub/sub."""
    reader, path = private_catalog, "/api/catalog/products/cast-iron-skillet"
    other = start_gunicorn(reader.group, "catalog-2", "catalog.app:create_app()", reader.env)
    writer = requests.Session()
    near = reader.metric("cache_lookups_total", cache="product", result="near")
    for version in range(1, 6):
        for _ in range(10):
            assert reader.get(path).headers["ETag"] == f'"{version}"'
        renamed = {**NEW_PRODUCT, "name": f"Version {version + 1}"}
        written = writer.put(
            other.url + path,
            json=renamed,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "If-Match": f'"{version}"'},
            timeout=10,
        )
        assert written.status_code == 200, written.text
        assert reader.get(path).json()["name"] == renamed["name"]
    assert reader.metric("cache_lookups_total", cache="product", result="near") >= near + 40


def test_a_write_made_while_the_invalidation_channel_is_cut_is_still_read(
    private_catalog: CatalogStack,
) -> None:
    reader, path = private_catalog, "/api/catalog/products/cast-iron-skillet"
    other = start_gunicorn(reader.group, "catalog-2", "catalog.app:create_app()", reader.env)
    for _ in range(10):
        assert reader.get(path).headers["ETag"] == '"1"'
    with redis.Redis(port=reader.redis_port) as cache:
        assert cache.client_kill_filter(_type="pubsub") >= 1  # every process's subscription
    renamed = {**NEW_PRODUCT, "name": "Renamed while nobody listened"}
    written = requests.put(
        other.url + path,
        json=renamed,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "If-Match": '"1"'},
        timeout=10,
    )
    assert written.status_code == 200, written.text
    assert reader.get(path).json()["name"] == renamed["name"]
    for _ in range(10):  # subscribed again after its retry: memory again, and current
        assert reader.get(path).json()["name"] == renamed["name"]


def test_reads_survive_a_redis_outage_and_the_cache_heals(private_catalog: CatalogStack) -> None:
    catalog = private_catalog
    paths = [
        "/api/catalog/products/cast-iron-skillet",
        "/api/catalog/products?limit=5",
        "/api/catalog/categories",
    ]
    failures: list[str] = []
    served = 0
    stop = threading.Event()

    def read_continuously() -> None:
        nonlocal served
        while not stop.is_set():
            for path in paths:
                response = catalog.get(path)
                served += 1
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        wait_for(lambda: cached(catalog) > 0)
        catalog.redis.stop()  # Redis goes away in the middle of the reads
        wait_for(lambda: catalog.metric("cache_lookups_total", cache="product", result="error") > 0)
        errors_before = catalog.metric("cache_lookups_total", cache="product", result="error")
        wait_for(
            lambda: (
                catalog.metric("cache_lookups_total", cache="product", result="error")
                > errors_before + 5
            )
        )
        catalog.restart_redis()
        hits = cached(catalog)
        wait_for(lambda: cached(catalog) > hits + 5)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert served > 20
    assert catalog.get("/readyz").status_code == 200


def test_a_write_while_redis_is_down_is_a_503_and_writes_nothing(
    private_catalog: CatalogStack,
) -> None:
    catalog = private_catalog
    path = "/api/catalog/products/cast-iron-skillet"
    before = catalog.get(path)
    catalog.redis.stop()
    renamed = {**NEW_PRODUCT, "name": "Renamed while Redis is down"}
    refused = catalog.admin("PUT", path, json=renamed, headers={"If-Match": '"1"'})
    assert refused.status_code == 503
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    current = catalog.get("/internal/catalog/products/cast-iron-skillet")
    assert (current.content, current.headers["ETag"]) == (before.content, '"1"')
    assert catalog.get(path).content == before.content  # reads go on, from DynamoDB

    catalog.restart_redis()
    accepted = catalog.admin("PUT", path, json=renamed, headers={"If-Match": '"1"'})
    assert accepted.status_code == 200, accepted.text
    assert catalog.get(path).json()["name"] == renamed["name"]


def test_readiness_reports_redis_as_degraded_not_down(private_catalog: CatalogStack) -> None:
    private_catalog.redis.stop()
    response = private_catalog.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"dynamodb": "ok", "redis": "degraded"}


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail(f"condition not met within {timeout} s")


def test_the_internal_read_is_current_while_the_cache_still_holds_the_old_product(
    catalog: CatalogStack,
) -> None:
    created = catalog.admin("POST", "/api/catalog/products", json=NEW_PRODUCT)
    assert created.status_code == 201, created.text
    public, internal = (
        created.headers["Location"],
        f"/internal/catalog/products/{created.json()['id']}",
    )
    cached = catalog.get(public)
    assert catalog.get(internal).content == cached.content
    updated = catalog.admin(
        "PUT", public, json={**NEW_PRODUCT, "name": "Current"}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200
    # An invalidation that never arrived: the cache holds version 1 again.
    with redis.Redis(port=catalog.redis_port) as cache:
        cache.set("{catalog:product:" + created.json()["id"] + "}", b"1\n" + cached.content.strip())
    assert catalog.get(public).json()["name"] == NEW_PRODUCT["name"]

    current = catalog.get(internal)
    assert current.status_code == 200
    assert current.headers["ETag"] == '"2"'
    assert current.json()["name"] == "Current"
    missing = catalog.get("/internal/catalog/products/no-such-product")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    document = catalog.get("/internal/catalog/openapi.json").json()
    assert list(document["paths"]) == ["/internal/catalog/products/{product_id}"]
