"""Every status an operation answers is one its OpenAPI document lists: `Api` checks each answer
against the statuses the declaration implies and the route's `errors`, and warns (an error in
the test suites) when one is missing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emporium import problems
from emporium.api import Api, UndocumentedStatus
from emporium.problems import Problem


def minimal_app() -> Flask:
    api = Api("shop", prefix="/api/shop", title="Shop", version="1", errors=(503,))

    @api.get(
        "/things/<thing_id>", summary="Get a thing", path={"thing_id": "[a-z]+"}, errors=(409,)
    )
    def get_thing(thing_id: str) -> Any:
        statuses = {"conflict": 409, "down": 503, "teapot": 418}
        if thing_id in statuses:
            raise Problem(statuses[thing_id], f"{thing_id}.")
        return {"id": thing_id}

    app = Flask("shop")
    problems.init_app(app)
    app.register_blueprint(api.blueprint)
    return app


@pytest.fixture
def shop() -> FlaskClient:
    return minimal_app().test_client()


def test_documented_answers_pass_unremarked(shop: FlaskClient) -> None:
    assert shop.get("/api/shop/things/chair").status_code == 200
    assert shop.get("/api/shop/things/conflict").status_code == 409  # the route's errors
    assert shop.get("/api/shop/things/down").status_code == 503  # the API's errors
    assert shop.get("/api/shop/things/BAD").status_code == 404  # implied by the path pattern


def test_an_undocumented_answer_stands_and_is_reported(shop: FlaskClient) -> None:
    with pytest.warns(UndocumentedStatus, match=r"answered 418.*get_thing does not list"):
        response = shop.get("/api/shop/things/teapot")
    assert response.status_code == 418  # the client gets what the view answered


def test_the_document_lists_what_the_check_accepts(shop: FlaskClient) -> None:
    document = shop.get("/api/shop/openapi.json").get_json()
    responses = document["paths"]["/api/shop/things/{thing_id}"]["get"]["responses"]
    assert set(responses) == {"200", "404", "409", "503", "default"}


def test_a_product_id_drawn_twice_is_a_documented_409(
    seeded: Flask, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = seeded.test_client()  # catalog, with the seed's categories
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
