"""Fixtures of catalog's unit tests: the catalog app in one process, DynamoDB emulated by
moto's in-memory mock (the `aws` fixture of tests/unit/conftest.py) and Redis by fakeredis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import fakeredis
import pytest
from tests.checks import Counter
from tests.moto_aws import keep_boto3_on_moto

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

# The app, the seed tool and moto are imported by the fixtures that use them, not here: the
# cache's own tests (test_cache.py) need none of them, and `make mutants` runs those tests once
# per mutant, where these imports would cost more than the tests.

ADMIN_TOKEN = "unit-test-admin-token-0123456789"


def catalog_environ() -> dict[str, str]:
    """The settings the catalog app is built from."""
    return {
        "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN,
        "CATALOG_HMAC_KEY": "unit-test-catalog-hmac-key-0123456789",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DYNAMODB_CREATE_TABLES": "true",
        # The routes' tests count Redis's hits and misses; the near cache, on by default, has
        # its own tests (test_cache.py, and the routes' near-cache tests turn it on).
        "CATALOG_NEAR_CACHE_SECONDS": "0",
    }


def _connect_to(patch: pytest.MonkeyPatch, server: fakeredis.FakeServer) -> None:
    import catalog.app  # noqa: PLC0415 - not at the top: see there
    import catalog.seed  # noqa: PLC0415 - not at the top: see there

    def connect(*_args: object, **_kwargs: object) -> fakeredis.FakeRedis:
        return fakeredis.FakeRedis(server=server)

    patch.setattr(catalog.app, "redis_client", connect)
    patch.setattr(catalog.seed, "redis_client", connect)


def _export(patch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    for name, value in environ.items():
        patch.setenv(name, value)


@pytest.fixture(scope="session")
def one_dynamodb_client_per_settings() -> Iterator[None]:
    """Make each DynamoDB client once per distinct settings rather than once per app.

    A new client loads botocore's service model, most of the time it takes to build an app;
    moto's mock intercepts the calls of a client whenever it was made. Every fixture that
    builds an app asks for this one.
    """
    import catalog.app  # noqa: PLC0415 - not at the top: see there

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog.app, "dynamodb_client", functools.cache(catalog.app.dynamodb_client))
        yield


@pytest.fixture
def environ() -> dict[str, str]:
    return catalog_environ()


@pytest.fixture
def admin() -> dict[str, str]:
    """The headers of an admin request."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    """The Redis every client of the test talks to; `connected = False` simulates an outage."""
    return fakeredis.FakeServer()


@pytest.fixture
def fake_redis(monkeypatch: pytest.MonkeyPatch, redis_server: fakeredis.FakeServer) -> None:
    """Make the app and the seed tool connect to `redis_server`."""
    _connect_to(monkeypatch, redis_server)


@pytest.fixture
def make_app(
    environ: dict[str, str], aws: None, fake_redis: None, one_dynamodb_client_per_settings: None
) -> Iterator[Callable[..., Flask]]:
    """Build a catalog app; keyword arguments override settings of `environ`."""
    from catalog.app import create_app  # noqa: PLC0415 - not at the top: see there

    built: list[Flask] = []

    def build(**overrides: str) -> Flask:
        built.append(create_app({**environ, **overrides}))
        return built[-1]

    yield build
    for app in built:  # each app's near-cache listener, if its reads started one
        app.extensions["catalog"].cache.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def seed_environ(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    """`catalog.seed.seed()` reads the process environment, like the command-line tool."""
    _export(monkeypatch, environ)


@pytest.fixture
def seeded(app: Flask, seed_environ: None) -> Flask:
    """The app, with the seed catalog loaded into its own table and Redis."""
    from catalog.seed import seed  # noqa: PLC0415 - not at the top: see there

    seed()
    return app


@pytest.fixture(scope="class")
def shared_seeded_app(one_dynamodb_client_per_settings: None) -> Iterator[Flask]:
    """One app with the seed catalog shared by the tests of a class, which must not change it.

    Seeding takes about half a second; tests that only read (or whose writes are rejected)
    share this app instead of each seeding their own like `seeded`. The tests of the class
    run one after the other, so no other test's DynamoDB mock is active meanwhile.
    """
    from moto import mock_aws  # noqa: PLC0415 - not at the top: see there

    from catalog.app import create_app  # noqa: PLC0415 - not at the top: see there
    from catalog.seed import seed  # noqa: PLC0415 - not at the top: see there

    with pytest.MonkeyPatch.context() as patch:
        keep_boto3_on_moto(patch)
        _connect_to(patch, fakeredis.FakeServer())
        _export(patch, catalog_environ())
        with mock_aws():
            app = create_app(catalog_environ())
            seed()
            yield app


class CacheLookups:
    """The growth of `cache_lookups_total` for one cache, by result."""

    def __init__(self, cache: str, results: tuple[str, ...] = ("hit", "miss", "error")) -> None:
        self.counters = {
            result: Counter("cache_lookups_total", {"cache": cache, "result": result})
            for result in results
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
