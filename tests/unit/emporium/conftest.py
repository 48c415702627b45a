"""Fixtures of the shared library's tests: the minimal "shop" service (`shop.py`) with moto's
in-memory DynamoDB and fakeredis. Each service tests its own wiring in its own folder.
"""

from __future__ import annotations

from collections.abc import Callable

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
def make_app(aws: None, redis_server: fakeredis.FakeServer) -> Callable[..., Flask]:
    """Build a shop; keyword arguments are shared settings (MAX_BODY_BYTES="2048", ...)."""

    def build(**environ: str) -> Flask:
        return create_shop(redis_server, environ)

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
