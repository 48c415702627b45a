"""Real processes for the integration tests: redis-server, the moto server, gunicorn.

Each stack is a `devstack.processes.Group`, the same process handling `make run` uses. On a
laptop without redis-server the tests that need it skip and say what to install; under CI
(`CI` set) they fail instead, because CI must run everything.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tests.shoppers import checkout_body

from devstack import stack
from devstack.processes import Child, Group, free_port, http_status
from devstack.stack import SERVICES, Ports

ADMIN_TOKEN = "integration-admin-token"
# `make run`'s stack comes up in well under a minute on an idle machine; it starts ten processes
# one after another, each slower under coverage (make integration), on a machine CI may share.
STACK_START_SECONDS = 300
REDIS_HINT = "install Redis: apt-get install redis-server, or brew install redis"


def unavailable(message: str) -> NoReturn:
    """A component the test needs is missing: skip on a laptop, fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every test: {message}")
    pytest.skip(message)


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not on PATH ({hint})")
    return path


@contextmanager
def make_run(env: Mapping[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`make run`'s stack (`python -m devstack`) with `env`, once it has said "Emporium is
    running"; stopped with Ctrl-C's SIGINT on leaving. Yields the process and the lines it has
    printed, which grow while it runs."""
    with subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or []))
        reader.start()
        try:
            deadline = time.monotonic() + STACK_START_SECONDS
            while not any("Emporium is running" in line for line in lines):
                assert process.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, (
                    f"the store did not come up in {STACK_START_SECONDS} s:\n{''.join(lines)}"
                )
                time.sleep(0.2)
            yield process, lines
        finally:
            process.send_signal(signal.SIGINT)  # what Ctrl-C sends
            process.wait(timeout=60)
            reader.join()


def start_redis(group: Group, port: int) -> Child:
    require_binary("redis-server", REDIS_HINT)
    return stack.start_redis(group, port, os.environ, mode="redis-server")


def start_dynamodb(group: Group) -> str:
    port = free_port()
    stack.start_dynamodb(group, port, os.environ)
    return f"http://127.0.0.1:{port}"


def local_env(dynamodb_url: str, redis_port: int, table: str, **extra: str) -> dict[str, str]:
    """`make run`'s environment of a service (`devstack.stack.service_env`) for a catalog of its
    own: its DynamoDB table `table` on the emulator at `dynamodb_url`, Redis on `redis_port`."""
    where = stack.Addresses(dynamodb=dynamodb_url, redis=f"redis://127.0.0.1:{redis_port}/0")
    base = {
        **os.environ,
        "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN,
        "CATALOG_HMAC_KEY": "integration-catalog-hmac-key-0123456789",
        "CATALOG_TABLE": table,
        "WEB_CONCURRENCY": "2",
        **extra,
    }
    return stack.service_env(where, base)


class Served(NamedTuple):
    """A service under gunicorn: its process, its URL and its /metrics URL (on its own port)."""

    child: Child
    url: str
    metrics: str


def start_gunicorn(group: Group, name: str, app: str, env: dict[str, str]) -> Served:
    port, metrics_port = free_port(), free_port()
    child = stack.start_gunicorn(group, name, app, port, env, metrics_port=metrics_port)
    return Served(child, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics")


def metric(metrics_url: str, name: str, **labels: str) -> float:
    """A sample's value from /metrics (summed over gunicorn's workers), 0 if absent."""
    for family in text_string_to_metric_families(requests.get(metrics_url, timeout=5).text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


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
    metrics_url: str
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
        return metric(self.metrics_url, name, **labels)

    def restart_redis(self) -> None:
        self.redis = start_redis(self.group, self.redis_port)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's whole server (every AWS API it mocks: ECR, Cognito, ELBv2, STS, EKS, ...) for the
    deploy paths' tests; the store's own tests use the one-call-at-a-time DynamoDB emulator."""
    with Group() as group:
        port = free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        child = group.start("moto", argv, os.environ)
        url = f"http://127.0.0.1:{port}"
        child.wait_until(lambda: http_status(f"{url}/moto-api/") is not None, "answering")
        yield url


@pytest.fixture(scope="session")
def dynamodb_url() -> Iterator[str]:
    with Group() as group:
        yield start_dynamodb(group)


def _catalog_stack(dynamodb_url: str, table: str) -> Iterator[CatalogStack]:
    with Group() as group:
        redis_port = free_port()
        redis = start_redis(group, redis_port)
        env = local_env(dynamodb_url, redis_port, table)
        seed(env)
        catalog = start_gunicorn(group, "catalog", "catalog.app:create_app()", env)
        catalog_stack = CatalogStack(
            catalog.url, catalog.metrics, env, redis_port, group, redis, catalog.child
        )
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


# The whole store, every process, as `make run` starts it (on free ports).

FINAL = {"SHIPPED", "PAYMENT_DECLINED"}


@dataclass
class StoreClient:
    """What a shopper does, through the store's one entry point (an edge's URL)."""

    url: str
    http: requests.Session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=15, **kwargs)

    def cart_with(self, *lines: tuple[str, int]) -> str:
        cart = self.call("POST", "/api/cart/carts")
        assert cart.status_code == 201, cart.text
        for product_id, quantity in lines:
            added = self.call(
                "PUT",
                f"/api/cart/carts/{cart.json()['id']}/items/{product_id}",
                json={"quantity": quantity},
            )
            assert added.status_code == 200, added.text
        return str(cart.json()["id"])

    def checkout(
        self, cart_id: str, card: str = "4242424242424242", key: str | None = None
    ) -> requests.Response:
        return self.call(
            "POST",
            "/api/orders/orders",
            json=checkout_body(cart_id, card),
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
        )

    def wait_final(self, order_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """The order once final; `timeout` is a bound for a busy machine, not an expected time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            order: dict[str, Any] = self.call("GET", f"/api/orders/orders/{order_id}").json()
            if order["status"] in FINAL:
                return order
            time.sleep(0.1)
        pytest.fail(f"order {order_id} did not reach a final status in {timeout} s")


@dataclass
class Store(StoreClient):
    """The store as processes on this machine, which the tests can stop and restart."""

    ports: Ports
    env: dict[str, str]
    group: Group

    def child(self, name: str) -> Child:
        return next(child for child in self.group.children if child.name == name)

    def id_token(self, email: str) -> str:
        """An ID token for `email` from the stack's development issuer, which orders trusts."""
        answer = self.http.post(
            f"{self.ports.issuer_url}/dev/token", json={"email": email}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])

    def fulfillment_effects(self, effect: str) -> float:
        """How many charges ("charge") or shipments ("ship") fulfillment has made so far."""
        return metric(
            self.ports.metrics_url("fulfillment"), "fulfillment_effects_total", effect=effect
        )

    def restart(self, name: str) -> None:
        service = next(s for s in SERVICES if s.name == name)
        old = self.child(name)
        old.stop()  # already stopped or killed: this reaps it and closes its pipe
        self.group.children.remove(old)
        stack.start_gunicorn(
            self.group,
            name,
            service.app,
            self.ports.services[name],
            {**self.env, **service.env},
            metrics_port=self.ports.metrics[name],
        )


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    require_binary("redis-server", REDIS_HINT)
    ports = Ports.free()
    # A dead worker's messages are claimed after 2 s of silence here (30 s by default).
    env = {**stack.service_env(ports.addresses(), os.environ), "FULFILLMENT_CLAIM_IDLE_MS": "2000"}
    with Group() as group, requests.Session() as http:
        stack.start_store(group, ports, env, redis="redis-server")
        yield Store(ports.url("edge"), http, ports, env, group)
