"""Fixtures of the development issuer's tests: the issuer app on a clock the tests move."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.clock import Clock

import devstack.issuer.app
from devstack.issuer.app import create_app
from devstack.issuer.tokens import SigningKey


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def app(clock: Clock, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Flask:
    # Making an RSA key takes a tenth of a second: the tests' apps share one.
    monkeypatch.setattr(devstack.issuer.app, "SigningKey", lambda: signing_key)
    return create_app({}, clock=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
