"""Fixtures of the unit tests: the catalog app in one process, DynamoDB emulated by moto's
in-memory mock and Redis by fakeredis.

Prometheus metrics are module-level globals shared by every app the tests build, so a test
reads a counter before and after what it exercises and asserts on the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws
from prometheus_client import REGISTRY

import catalog.app
import catalog.seed
from catalog.app import create_app
from catalog.seed import seed

ADMIN_TOKEN = "unit-test-admin-token-0123456789"

# Variables of the developer's shell that would send boto3 somewhere else than moto's mock.
_AWS_REDIRECTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@pytest.fixture
def environ() -> dict[str, str]:
    """The settings the catalog app is built from."""
    return {
        "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DYNAMODB_CREATE_TABLES": "true",
    }


@pytest.fixture
def admin() -> dict[str, str]:
    """The headers of an admin request."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An in-memory DynamoDB, empty at the start of every test."""
    for name in _AWS_REDIRECTS:
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    """The Redis every client of the test talks to; `connected = False` simulates an outage."""
    return fakeredis.FakeServer()


@pytest.fixture
def fake_redis(monkeypatch: pytest.MonkeyPatch, redis_server: fakeredis.FakeServer) -> None:
    """Make the app and the seed tool connect to `redis_server`."""

    def connect(*_args: object, **_kwargs: object) -> fakeredis.FakeRedis:
        return fakeredis.FakeRedis(server=redis_server)

    monkeypatch.setattr(catalog.app, "redis_client", connect)
    monkeypatch.setattr(catalog.seed, "redis_client", connect)


@pytest.fixture
def make_app(environ: dict[str, str], aws: None, fake_redis: None) -> Callable[..., Flask]:
    """Build a catalog app; keyword arguments override settings of `environ`."""

    def build(**overrides: str) -> Flask:
        return create_app({**environ, **overrides})

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def seed_environ(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    """`catalog.seed.seed()` reads the process environment, like the command-line tool."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def seeded(app: Flask, seed_environ: None) -> Flask:
    """The app, with the seed catalog loaded into its table."""
    seed()
    return app


class Counter:
    """How much a Prometheus counter series grew since this object was made."""

    def __init__(self, name: str, labels: dict[str, str]) -> None:
        self.name = name
        self.labels = labels
        self.start = self._read()

    def _read(self) -> float:
        return REGISTRY.get_sample_value(self.name, self.labels) or 0.0

    @property
    def delta(self) -> int:
        return int(self._read() - self.start)

    def restart(self) -> None:
        self.start = self._read()


class CacheLookups:
    """The growth of `cache_lookups_total` for one cache, by result."""

    def __init__(self, cache: str) -> None:
        self.counters = {
            result: Counter("cache_lookups_total", {"cache": cache, "result": result})
            for result in ("hit", "miss", "error")
        }

    def since(self) -> dict[str, int]:
        """Lookups since the last call (or since this object was made)."""
        deltas = {result: counter.delta for result, counter in self.counters.items()}
        for counter in self.counters.values():
            counter.restart()
        return deltas


@pytest.fixture
def cache_lookups() -> Callable[[str], CacheLookups]:
    """Start counting the lookups of one cache (`product`, `list`, `categories`, ...)."""
    return CacheLookups


@pytest.fixture
def counter() -> Callable[..., Counter]:
    """Start counting one series: counter("http_requests_total", method="GET", ...)."""

    def start(name: str, **labels: str) -> Counter:
        return Counter(name, labels)

    return start
