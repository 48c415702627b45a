"""Catalog's API contract: its OpenAPI document and how its own models refuse a request. The
API layer itself (`emporium.api`) is tested on a service of its own: tests/unit/emporium/."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

PRODUCTS = "/api/catalog/products"

Problem = Callable[..., dict[str, Any]]


def new_product(**changes: Any) -> dict[str, Any]:
    product: dict[str, Any] = {
        "name": "Enamel Mug",
        "category": "kitchen",
        "price": {"amount": 1299, "currency": "USD"},
    }
    return {**product, **changes}


def locations(document: dict[str, Any]) -> set[str]:
    return {error["location"] for error in document["errors"]}


# The OpenAPI document


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/catalog/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def references(node: object) -> Iterator[str]:
    """Every `$ref` anywhere under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_the_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"] == "1.0.0"


def test_the_document_is_a_valid_openapi_document(document: dict[str, Any]) -> None:
    validate(document)


def test_every_catalog_route_is_documented_with_its_methods(
    app: Flask, document: dict[str, Any]
) -> None:
    routed: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("catalog.") and rule.endpoint != "catalog.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routed.setdefault(path, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    documented = {
        path: {method.upper() for method in methods} for path, methods in document["paths"].items()
    }
    assert documented == routed
    assert documented == {
        "/api/catalog/products": {"GET", "POST"},
        "/api/catalog/products/{product_id}": {"GET", "PUT", "DELETE"},
        "/api/catalog/categories": {"GET"},
    }


def test_every_reference_resolves_to_a_component_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    found = set(references(document))
    assert "#/components/schemas/Product" in found
    assert "#/components/schemas/Money" in found  # nested inside Product
    for reference in found:
        prefix, _, name = reference.rpartition("/")
        assert prefix == "#/components/schemas", reference
        assert name in schemas, reference


def is_problem_response(document: dict[str, Any], response: dict[str, Any]) -> bool:
    """True when `response` is documented as an application/problem+json Problem."""
    content = response.get("content", {})
    if list(content) != ["application/problem+json"]:
        return False
    reference = content["application/problem+json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rpartition("/")[2]]
    required = {"type", "title", "status", "detail"}
    return schema["title"] == "Problem" and required <= set(schema["required"])


def test_every_operation_has_a_default_problem_response(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        default = operation["responses"].get("default")
        assert default is not None, (method, path)
        assert is_problem_response(document, default), (method, path)


def test_every_documented_error_status_is_a_problem_document(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status != "default" and int(status) >= 400:
                assert is_problem_response(document, response), (method, path, status)


def test_writes_require_the_admin_token_and_reads_do_not(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["adminToken"]
    assert scheme == {"type": "http", "scheme": "bearer"}
    for path, method, operation in operations(document):
        if method == "get":
            assert "security" not in operation, path
        else:
            assert operation["security"] == [{"adminToken": []}], (method, path)
            assert {"401", "403"} <= operation["responses"].keys(), (method, path)


def test_query_parameters_are_never_null(document: dict[str, Any]) -> None:
    parameters = document["paths"][PRODUCTS]["get"]["parameters"]
    query = {parameter["name"]: parameter for parameter in parameters if parameter["in"] == "query"}
    assert set(query) == {"category", "limit", "cursor"}
    for name, parameter in query.items():
        assert parameter["required"] is False, name
        assert "null" not in json.dumps(parameter["schema"]), name
    assert query["limit"]["schema"]["type"] == "integer"
    assert query["limit"]["schema"]["default"] == 20


def test_an_empty_optional_query_parameter_is_documented_and_treated_as_absent(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    parameters = document["paths"][PRODUCTS]["get"]["parameters"]
    assert all(p["allowEmptyValue"] is True for p in parameters if p["in"] == "query")
    empty = client.get(PRODUCTS, query_string={"category": "", "limit": "", "cursor": ""})
    assert empty.status_code == 200
    assert empty.get_json() == client.get(PRODUCTS).get_json()


def test_path_parameters_carry_their_pattern(document: dict[str, Any]) -> None:
    for method, operation in document["paths"][f"{PRODUCTS}/{{product_id}}"].items():
        (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
        assert parameter["name"] == "product_id", method
        assert parameter["required"] is True, method
        assert re.fullmatch(parameter["schema"]["pattern"], "cast-iron-skillet"), method
        assert not re.fullmatch(parameter["schema"]["pattern"], "UPPER"), method


def test_conditional_writes_document_if_match(document: dict[str, Any]) -> None:
    for method in ("put", "delete"):
        operation = document["paths"][f"{PRODUCTS}/{{product_id}}"][method]
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [header["name"] for header in headers] == ["If-Match"], method
        assert {"412", "428"} <= operation["responses"].keys(), method
        # The document states what the code accepts: a strong version tag, or *.
        pattern = headers[0]["schema"]["pattern"]
        for accepted in ('"3"', '"1234567890"', "*"):
            assert re.fullmatch(pattern, accepted), accepted
        for refused in ('W/"3"', "3", '"0"', '"3", "4"', ""):
            assert not re.fullmatch(pattern, refused), refused


# Request validation


@pytest.mark.parametrize("limit", ["true", "1.5", "ten"])
def test_a_query_parameter_of_the_wrong_type_is_a_422(
    client: FlaskClient, problem: Problem, limit: str
) -> None:
    document = problem(client.get(PRODUCTS, query_string={"limit": limit}), 422)
    assert document["type"].endswith("/validation-error")
    assert locations(document) == {"query.limit"}


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param("1299", id="string"),
        pytest.param(12.99, id="float"),
        pytest.param(True, id="bool"),
    ],
)
def test_a_price_amount_that_is_not_an_integer_is_a_422(
    client: FlaskClient, admin: dict[str, str], problem: Problem, amount: object
) -> None:
    body = new_product(price={"amount": amount, "currency": "USD"})
    document = problem(client.post(PRODUCTS, json=body, headers=admin), 422)
    assert locations(document) == {"body.price.amount"}


def test_a_whole_amount_written_with_a_decimal_point_is_that_integer(
    seeded: Flask, admin: dict[str, str]
) -> None:
    body = new_product(price={"amount": 1299.0, "currency": "USD"})
    created = seeded.test_client().post(PRODUCTS, json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["price"] == {"amount": 1299, "currency": "USD"}


def test_an_unknown_body_field_is_a_422(
    client: FlaskClient, admin: dict[str, str], problem: Problem
) -> None:
    document = problem(client.post(PRODUCTS, json=new_product(colour="red"), headers=admin), 422)
    assert locations(document) == {"body.colour"}


def test_missing_body_fields_are_each_named(
    client: FlaskClient, admin: dict[str, str], problem: Problem
) -> None:
    document = problem(client.post(PRODUCTS, json={}, headers=admin), 422)
    assert locations(document) == {"body.name", "body.category", "body.price"}
    assert all(error["message"] for error in document["errors"])
