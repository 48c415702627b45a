"""Fixtures of the shared library's tests: the minimal "shop" service (`shop.py`) with moto's
in-memory DynamoDB and fakeredis. Each service tests its own wiring in its own folder.
"""

from __future__ import annotations

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.unit.emporium.shop import create_shop


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    """The shop's Redis; `connected = False` simulates an outage."""
    return fakeredis.FakeServer()


@pytest.fixture
def app(aws: None, redis_server: fakeredis.FakeServer) -> Flask:
    return create_shop(redis_server)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
