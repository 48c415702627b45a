"""Fixtures of the ui's unit tests: the ui app, which has no dependencies to fake."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ui.app import create_app


class BufferedClient(FlaskClient):
    """Reads each response whole and closes it: a static file's response leaves no file open
    (an unclosed file is a ResourceWarning, and warnings are errors)."""

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> TestResponse:
        return super().open(*args, buffered=buffered, **kwargs)


@pytest.fixture
def app() -> Flask:
    app = create_app({})
    app.test_client_class = BufferedClient
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
