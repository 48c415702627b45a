"""The seed tool: it loads the seed catalog once, and leaves what is there alone."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from catalog.seed import main, seed
from catalog.store import CatalogStore

SEED = json.loads(files("catalog").joinpath("seed_data.json").read_text())
PRODUCTS = "/api/catalog/products"

pytestmark = pytest.mark.usefixtures("seed_environ")


def all_products(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get(PRODUCTS, query_string={"limit": 100})
    assert response.status_code == 200
    page = response.get_json()
    assert page["nextCursor"] is None
    products: list[dict[str, Any]] = page["items"]
    return products


def categories(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/api/catalog/categories")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def test_seed_adds_every_category_and_product(app: Flask) -> None:
    assert seed() == (len(SEED["categories"]), len(SEED["products"]))


def test_seeding_again_adds_nothing(app: Flask) -> None:
    seed()
    assert seed() == (0, 0)
    assert len(all_products(app.test_client())) == len(SEED["products"])


def test_the_seed_catalog_has_at_least_40_products_in_at_least_5_categories(app: Flask) -> None:
    seed()
    client = app.test_client()
    products = all_products(client)
    assert len(products) >= 40
    assert len(categories(client)) >= 5
    assert sum(category["productCount"] for category in categories(client)) == len(products)
    assert {product["category"] for product in products} == {c["id"] for c in categories(client)}


def test_every_seeded_product_has_a_description_and_a_positive_price(app: Flask) -> None:
    seed()
    for product in all_products(app.test_client()):
        assert product["description"].strip(), product["id"]
        assert product["price"]["amount"] > 0, product["id"]
        assert product["price"]["currency"] == "USD", product["id"]
        assert product["version"] == 1, product["id"]


def test_seeding_again_leaves_changed_products_as_they_are(
    app: Flask, admin: dict[str, str]
) -> None:
    seed()
    client = app.test_client()
    changed = {
        "name": "Skillet, renamed by an admin",
        "category": "kitchen",
        "price": {"amount": 2999, "currency": "USD"},
    }
    headers = {**admin, "If-Match": '"1"'}
    assert (
        client.put(f"{PRODUCTS}/cast-iron-skillet", json=changed, headers=headers).status_code
        == 200
    )
    seed()
    product = client.get(f"{PRODUCTS}/cast-iron-skillet").get_json()
    assert product["name"] == "Skillet, renamed by an admin"
    assert product["version"] == 2


def test_what_was_read_before_seeding_is_not_served_from_the_cache_after(app: Flask) -> None:
    client = app.test_client()
    assert all_products(client) == []
    assert client.get(f"{PRODUCTS}/cast-iron-skillet").status_code == 404
    seed()
    assert len(all_products(client)) == len(SEED["products"])
    assert client.get(f"{PRODUCTS}/cast-iron-skillet").status_code == 200


def test_seeding_while_redis_is_unreachable_writes_nothing_and_a_rerun_loads_it(
    app: Flask, redis_server: fakeredis.FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app.test_client()
    assert client.get(f"{PRODUCTS}/cast-iron-skillet").status_code == 404  # cached as missing
    redis_server.connected = False
    assert main() == 1
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("seed: stopped before a write, which the cache could not be told of")
    assert line.endswith("run the seed again once Redis answers")
    redis_server.connected = True
    assert all_products(client) == []  # nothing was written behind the cache's back
    assert categories(client) == []
    assert main() == 0
    assert client.get(f"{PRODUCTS}/cast-iron-skillet").status_code == 200
    assert len(all_products(client)) == len(SEED["products"])


def test_seeding_stopped_by_redis_midway_keeps_what_it_added_and_a_rerun_adds_the_rest(
    app: Flask, redis_server: fakeredis.FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    create = CatalogStore.create_product
    added: list[str] = []

    def create_then_redis_goes(store: CatalogStore, product_id: str, write: Any) -> Any:
        product = create(store, product_id, write)
        added.append(product_id)
        if len(added) == 5:
            redis_server.connected = False
        return product

    monkeypatch.setattr(CatalogStore, "create_product", create_then_redis_goes)
    assert main() == 1
    redis_server.connected = True
    assert [product["id"] for product in all_products(client)] == sorted(added)
    assert client.get(f"{PRODUCTS}/{added[-1]}").status_code == 200
    assert main() == 0
    assert len(all_products(client)) == len(SEED["products"])


def test_main_reports_success_on_one_line(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    assert main() == 0
    out = capsys.readouterr().out.strip()
    assert out == (
        f"seed: added {len(SEED['categories'])} categories and {len(SEED['products'])} products"
        " (the rest were there)"
    )


def test_main_exits_2_with_one_line_naming_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CATALOG_TABLE", "not a table name")
    assert main() == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("seed: CATALOG_TABLE=")
