"""Real processes for the integration tests: redis-server, the moto server, gunicorn.

Each stack is a `devstack.processes.Group`, the same process handling `make run` uses. On a
laptop without redis-server the tests that need it skip and say what to install; under CI
(`CI` set) they fail instead, because CI must run everything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from devstack import stack
from devstack.processes import Child, Group, free_port

ADMIN_TOKEN = "integration-admin-token"
REDIS_HINT = "install Redis: apt-get install redis-server, or brew install redis"


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not on PATH ({hint})"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run every test: {message}")
        pytest.skip(message)
    return path


def start_redis(group: Group, port: int) -> Child:
    require_binary("redis-server", REDIS_HINT)
    return stack.start_redis(group, port, os.environ, mode="redis-server")


def start_dynamodb(group: Group) -> str:
    port = free_port()
    stack.start_dynamodb(group, port, os.environ)
    return f"http://127.0.0.1:{port}"


def service_env(dynamodb_url: str, redis_port: int, table: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DYNAMODB_CREATE_TABLES": "true",
        "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN,
        "CATALOG_TABLE": table,
        "WEB_CONCURRENCY": "2",
        **extra,
    }


def start_gunicorn(group: Group, name: str, app: str, env: dict[str, str]) -> tuple[Child, str]:
    port = free_port()
    child = stack.start_gunicorn(group, name, app, [port], env)
    return child, f"http://127.0.0.1:{port}"


def seed(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "catalog.seed"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class CatalogStack:
    """A seeded catalog behind gunicorn, with its own Redis and table."""

    url: str
    env: dict[str, str]
    redis_port: int
    group: Group
    redis: Child
    catalog: Child
    http: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.http.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def admin(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.http.request(method, self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value from /metrics (summed over gunicorn's workers), 0 if absent."""
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name + "{"):
                sample, _, value = line.rpartition(" ")
                found = ",".join(sorted(sample[len(name) + 1 : -1].split(",")))
                if found == wanted:
                    return float(value)
        return 0.0

    def restart_redis(self) -> None:
        self.redis = start_redis(self.group, self.redis_port)


@pytest.fixture(scope="session")
def dynamodb_url() -> Iterator[str]:
    with Group() as group:
        yield start_dynamodb(group)


def _catalog_stack(dynamodb_url: str, table: str) -> Iterator[CatalogStack]:
    with Group() as group:
        redis_port = free_port()
        redis = start_redis(group, redis_port)
        env = service_env(dynamodb_url, redis_port, table)
        seed(env)
        catalog, url = start_gunicorn(group, "catalog", "catalog.app:create_app()", env)
        catalog_stack = CatalogStack(url, env, redis_port, group, redis, catalog)
        with catalog_stack.http:
            yield catalog_stack


@pytest.fixture(scope="session")
def catalog(dynamodb_url: str) -> Iterator[CatalogStack]:
    """Shared by the read-mostly tests; tests that write make their own products."""
    yield from _catalog_stack(dynamodb_url, "catalog-shared")


@pytest.fixture
def private_catalog(dynamodb_url: str, request: pytest.FixtureRequest) -> Iterator[CatalogStack]:
    """A catalog of its own (table and Redis) for a test that breaks things."""
    yield from _catalog_stack(
        dynamodb_url, "catalog-" + re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60]
    )
