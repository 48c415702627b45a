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
    api = Api("things", prefix="/api/things", title="Things", version="1", errors=(503,))

    @api.get(
        "/things/<thing_id>", summary="Get a thing", path={"thing_id": "[a-z]+"}, errors=(409,)
    )
    def get_thing(thing_id: str) -> Any:
        statuses = {"conflict": 409, "down": 503, "teapot": 418}
        if thing_id in statuses:
            raise Problem(statuses[thing_id], f"{thing_id}.")
        return {"id": thing_id}

    app = Flask("things")
    problems.init_app(app)
    app.register_blueprint(api.blueprint)
    return app


@pytest.fixture
def things() -> FlaskClient:
    return minimal_app().test_client()


def test_documented_answers_pass_unremarked(things: FlaskClient) -> None:
    assert things.get("/api/things/things/chair").status_code == 200
    assert things.get("/api/things/things/conflict").status_code == 409  # the route's errors
    assert things.get("/api/things/things/down").status_code == 503  # the API's errors
    assert things.get("/api/things/things/BAD").status_code == 404  # implied by the path pattern


def test_an_undocumented_answer_stands_and_is_reported(things: FlaskClient) -> None:
    with pytest.warns(UndocumentedStatus, match=r"answered 418.*get_thing does not list"):
        response = things.get("/api/things/things/teapot")
    assert response.status_code == 418  # the client gets what the view answered


def test_the_document_lists_what_the_check_accepts(things: FlaskClient) -> None:
    document = things.get("/api/things/openapi.json").get_json()
    responses = document["paths"]["/api/things/things/{thing_id}"]["get"]["responses"]
    assert set(responses) == {"200", "404", "409", "503", "default"}
