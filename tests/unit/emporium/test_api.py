"""Validated routes (`emporium.api`) on the shop: a body is refused with a problem document
naming what is wrong, before the view runs; every error is a problem document, never HTML or a
stack trace; and the routes' declarations are the service's OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from tests.unit.emporium.shop import ITEMS

Problem = Callable[..., dict[str, Any]]


def new_item(**changes: Any) -> dict[str, Any]:
    return {"name": "Enamel Mug", "quantity": 3, **changes}


def locations(document: dict[str, Any]) -> set[str]:
    return {error["location"] for error in document["errors"]}


def test_a_valid_body_reaches_the_view(client: FlaskClient) -> None:
    created = client.post(ITEMS, json=new_item())
    assert created.status_code == 201
    assert created.get_json() == {"name": "Enamel Mug", "quantity": 3, "id": "enamel-mug"}
    assert client.get(f"{ITEMS}/enamel-mug").get_json() == created.get_json()


def test_the_declarations_are_a_valid_openapi_3_1_document(client: FlaskClient) -> None:
    document = client.get("/api/shop/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert set(document["paths"]) == {ITEMS, f"{ITEMS}/{{item_id}}"}


def test_a_path_parameter_off_its_pattern_is_a_404(client: FlaskClient, problem: Problem) -> None:
    problem(client.get(f"{ITEMS}/UPPER"), 404)


# Request validation


def test_an_unknown_body_field_is_a_422(client: FlaskClient, problem: Problem) -> None:
    document = problem(client.post(ITEMS, json=new_item(colour="red")), 422)
    assert document["type"].endswith("/validation-error")
    assert locations(document) == {"body.colour"}


def test_missing_body_fields_are_each_named(client: FlaskClient, problem: Problem) -> None:
    document = problem(client.post(ITEMS, json={}), 422)
    assert locations(document) == {"body.name", "body.quantity"}
    assert all(error["message"] for error in document["errors"])


def test_a_body_that_is_not_an_object_is_a_422(client: FlaskClient, problem: Problem) -> None:
    document = problem(client.post(ITEMS, json=[new_item()]), 422)
    assert locations(document) == {"body"}


def test_a_body_that_is_not_json_is_a_415(client: FlaskClient, problem: Problem) -> None:
    response = client.post(ITEMS, data=json.dumps(new_item()), content_type="text/plain")
    problem(response, 415)


def test_malformed_json_is_a_400(client: FlaskClient, problem: Problem) -> None:
    response = client.post(ITEMS, data='{"name": "Mug",', content_type="application/json")
    assert problem(response, 400)["type"].endswith("/malformed-json")


@pytest.mark.parametrize("body", ["[" * 20_000, "[" * 20_000 + "]" * 20_000, '{"a":' * 5_000])
def test_json_nested_beyond_the_parser_is_a_400_not_a_500(
    client: FlaskClient, problem: Problem, body: str
) -> None:
    response = client.post(ITEMS, data=body, content_type="application/json")
    document = problem(response, 400)
    assert document["type"].endswith("/malformed-json")
    assert "nested" in document["detail"]


def test_a_body_larger_than_max_body_bytes_is_a_413(
    make_app: Callable[..., Flask], problem: Problem
) -> None:
    client = make_app(MAX_BODY_BYTES="2048").test_client()
    body = json.dumps(new_item(name="x" * 2040))
    assert len(body) > 2048
    problem(client.post(ITEMS, data=body, content_type="application/json"), 413)


def test_a_body_within_max_body_bytes_is_accepted(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_BODY_BYTES="2048").test_client()
    body = json.dumps(new_item(name="x" * 1990))
    assert len(body) <= 2048
    assert client.post(ITEMS, data=body, content_type="application/json").status_code == 201


# Errors are problem documents, never HTML or stack traces


def test_an_unknown_path_is_a_404_problem(client: FlaskClient, problem: Problem) -> None:
    response = client.get("/api/shop/nothing-here")
    problem(response, 404)
    assert b"<html" not in response.data.lower()


def test_a_method_not_allowed_is_a_405_problem_with_allow(
    client: FlaskClient, problem: Problem
) -> None:
    response = client.patch(ITEMS, json={})
    problem(response, 405)
    assert "POST" in {method.strip() for method in response.headers["Allow"].split(",")}
    assert b"<html" not in response.data.lower()


def test_an_unexpected_exception_is_a_500_problem_without_details(
    app: Flask, problem: Problem
) -> None:
    def explode() -> str:
        raise RuntimeError("connection to db-primary:5432 failed, password=hunter2")

    app.add_url_rule("/explode", "explode", explode)
    response = app.test_client().get("/explode")
    document = problem(response, 500)
    body = response.get_data(as_text=True)
    assert "hunter2" not in body
    assert "RuntimeError" not in body
    assert "Traceback" not in body
    assert set(document) == {"type", "title", "status", "detail", "instance"}
