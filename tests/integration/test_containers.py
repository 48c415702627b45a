"""The images, run together as Kubernetes runs them: one network, services found by name.

Redis, the DynamoDB emulator, every service and the edge, each from its image (`make images`;
without a registry, `make base-images` first, see the README), on one user-defined Docker
network where each container answers to its service's name (`http://catalog:8080`), with a
read-only root filesystem, a /tmp tmpfs, no new privileges and no capabilities. Through the
edge's published port: the shopping journey, a declined card, an idempotent replay. Then each
service image on its own: not root, ready (how fast is benchmarked: tests/bench/images.py), and
on SIGTERM mid-request it finishes the request and exits 0.

Image names: emporium/<name>:$EMPORIUM_IMAGE_TAG (dev), or EMPORIUM_IMAGE_<NAME> for one.
Every container and the network carry testcontainers' labels and are removed when the module
ends, pass or fail. Without Docker or the images these tests skip; under CI they fail.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import requests
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy, LogMessageWaitStrategy
from tests.integration.conftest import StoreClient, require_binary, unavailable
from tests.shoppers import checkout_body

from devstack.stack import Addresses, service_env

pytestmark = pytest.mark.integration

SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
ADMIN_TOKEN = "containers-admin-token"
INTERNAL_TOKEN = "containers-internal-token"
PORT = 8080  # every service image listens here (gunicorn_conf's PORT)
UID = "10001"  # the images' user
# From `docker run` to /readyz answering 200 takes 0.4-1.0 s on the 2-core build machine
# against a target of 3 s; tests/bench/images.py measures it. Here the wait strategy's 60 s
# are only a bound, so that a busy machine fails nothing that works.
# SIGTERM with a request in flight: the worker keeps serving SHUTDOWN_DELAY seconds (/readyz
# failing), then stops accepting and gives in-flight requests GRACEFUL_TIMEOUT to finish. The
# delay is long enough for readiness to be asked several times within it on a busy machine;
# the graceful timeout is a bound, the request finishes as soon as its client sends the rest.
SHUTDOWN_DELAY_SECONDS = 3
GRACEFUL_TIMEOUT_SECONDS = 30
# How long the test waits, at most, for each step of the shutdown it watches.
STEP_BOUND_SECONDS = 60


def image(name: str) -> str:
    default = f"emporium/{name}:{os.environ.get('EMPORIUM_IMAGE_TAG', 'dev')}"
    return os.environ.get(f"EMPORIUM_IMAGE_{name.upper()}", default)


# Every service's environment as the chart sets it, made as `make run` makes it: dependencies
# by their Service names on the network, one variable set for all (each reads its own).
NETWORK = Addresses(
    dynamodb="http://dynamodb:8000",
    redis="redis://redis:6379/0",
    services={name: f"http://{name}:{PORT}" for name in SERVICES},
    issuer="http://issuer.invalid",  # no listing of orders here: never fetched
)
ENV = service_env(
    NETWORK,
    {
        "WEB_CONCURRENCY": "1",  # the images' own default
        "CATALOG_ADMIN_TOKEN": ADMIN_TOKEN,
        "CATALOG_HMAC_KEY": "containers-catalog-hmac-key-0123456789",
        "ORDERS_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "ORDERS_HMAC_KEY": "container-test-hmac-key-0123456789abcdef",
    },
)


def hardened(container: DockerContainer, network: Network, alias: str | None) -> DockerContainer:
    """As the chart runs every pod: read-only root, a /tmp tmpfs, no privileges to gain."""
    tmp = "/tmp"  # noqa: S108 - the container's own tmpfs
    container.with_network(network).with_tmpfs_mount(tmp, "size=64m").with_kwargs(
        read_only=True, security_opt=["no-new-privileges"], cap_drop=["ALL"]
    )
    if alias:
        container.with_network_aliases(alias)
    return container


def service_container(
    service: str, network: Network, *, alias: str | None, **extra_env: str
) -> DockerContainer:
    """A service from its image, with /readyz's 200 as the sign that it started."""
    container = DockerContainer(image(service), env={**ENV, **extra_env})
    ready = (
        HttpWaitStrategy(PORT, "/readyz")
        .for_status_code(200)
        .with_poll_interval(0.05)
        .with_startup_timeout(60)
    )
    return hardened(container.with_exposed_ports(PORT).waiting_for(ready), network, alias)


def url_of(container: DockerContainer) -> str:
    return f"http://{container.get_container_host_ip()}:{container.get_exposed_port(PORT)}"


@dataclass
class ContainerStore(StoreClient):
    """The store as containers: the shopper's side through the edge, and each container."""

    network: Network
    containers: dict[str, DockerContainer]


def require_docker_and_images() -> None:
    """Asked through the docker CLI: docker-py leaks a socket when the engine is not there."""
    cli = require_binary("docker", "install Docker: https://docs.docker.com/engine/install/")
    engine = subprocess.run([cli, "version"], capture_output=True, text=True, check=False)
    if engine.returncode != 0:
        unavailable(f"the Docker engine is not answering ({engine.stderr.strip()}): .ci/docker-up")
    missing = []
    for name in [*SERVICES, "redis", "dynamodb"]:
        inspect = [cli, "image", "inspect", image(name)]
        if subprocess.run(inspect, capture_output=True, check=False).returncode != 0:
            missing.append(image(name))
    if missing:
        unavailable(
            f"images missing: {', '.join(missing)}; build them with `make images` (where no"
            " registry can be reached, `make base-images` first: see the README)"
        )


@pytest.fixture(scope="module")
def containers() -> Iterator[ContainerStore]:
    require_docker_and_images()
    with pytest.MonkeyPatch.context() as env:
        # The reaper's image cannot be pulled here; the with-blocks below remove what starts.
        env.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
        with Network() as network, ExitStack() as running, requests.Session() as http:
            started: dict[str, DockerContainer] = {}

            def start(name: str, container: DockerContainer) -> None:
                started[name] = running.enter_context(container)

            start(
                "redis",
                hardened(DockerContainer(image("redis")), network, "redis").waiting_for(
                    LogMessageWaitStrategy("Ready to accept connections")
                ),
            )
            start(
                "dynamodb",
                hardened(DockerContainer(image("dynamodb")), network, "dynamodb").waiting_for(
                    LogMessageWaitStrategy("Running on")
                ),
            )
            seed_catalog(network)
            for service in SERVICES:
                start(service, service_container(service, network, alias=service))
            yield ContainerStore(url_of(started["edge"]), http, network, started)


def seed_catalog(network: Network) -> None:
    """`python -m catalog.seed` as a one-off container of the catalog image (a Kubernetes Job)."""
    seeder = hardened(DockerContainer(image("catalog"), env=ENV), network, alias=None).with_command(
        ["python", "-m", "catalog.seed"]
    )
    with seeder:
        code = seeder.wait()
        output = b"".join(seeder.get_logs()).decode()
    assert code == 0, output


# Through the edge, as a shopper.


def test_the_store_serves_the_ui_and_the_seeded_catalog(containers: ContainerStore) -> None:
    page = containers.call("GET", "/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    products = containers.call("GET", "/api/catalog/products?limit=100").json()["items"]
    assert len(products) >= 40


def test_a_checkout_ships(containers: ContainerStore) -> None:
    cart_id = containers.cart_with(("cast-iron-skillet", 2), ("linen-tea-towels", 1))
    placed = containers.checkout(cart_id)
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "PLACED"

    shipped = containers.wait_final(placed.json()["id"])
    assert [change["status"] for change in shipped["statusHistory"]] == [
        "PLACED",
        "PAID",
        "SHIPPED",
    ]


def test_a_card_ending_0000_is_declined(containers: ContainerStore) -> None:
    placed = containers.checkout(
        containers.cart_with(("cast-iron-skillet", 1)), card="4000000000000000"
    )
    assert placed.status_code == 201, placed.text
    final = containers.wait_final(placed.json()["id"])
    assert [change["status"] for change in final["statusHistory"]] == ["PLACED", "PAYMENT_DECLINED"]


def test_the_same_idempotency_key_places_one_order(containers: ContainerStore) -> None:
    cart_id = containers.cart_with(("linen-tea-towels", 3))
    key = str(uuid.uuid4())
    first = containers.checkout(cart_id, key=key)
    assert first.status_code == 201, first.text

    replay = containers.checkout(cart_id, key=key)
    assert replay.status_code == 201, replay.text
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == first.json()["id"]


# Each container, as the cluster sees it.


@pytest.mark.parametrize("name", [*SERVICES, "redis", "dynamodb"])
def test_runs_as_a_non_root_user_that_cannot_change_its_code(
    containers: ContainerStore, name: str
) -> None:
    container = containers.containers[name]
    assert container.get_wrapped_container().labels["org.testcontainers"] == "true"  # findable
    image_config = container.get_wrapped_container().image.attrs["Config"]
    assert image_config["User"] == f"{UID}:{UID}"  # numeric, as runAsNonRoot needs
    assert container.exec(["id", "-u"]).output.decode().strip() == UID
    code = "/usr/bin/redis-server" if name == "redis" else "/opt/venv"
    assert container.exec(["stat", "-c", "%u", code]).output.decode().strip() == "0"  # root's
    writable = "/tmp/written"  # noqa: S108 - the container's own tmpfs, the one writable place
    assert container.exec(["touch", writable]).exit_code == 0


@pytest.mark.parametrize("name", [*SERVICES, "dynamodb"])
def test_carries_no_certificate_or_pip_setting_of_the_build_machine(
    containers: ContainerStore, name: str
) -> None:
    container = containers.containers[name]
    env = container.get_wrapped_container().image.attrs["Config"]["Env"]
    names = {entry.partition("=")[0] for entry in env}
    assert not names & {"PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_INDEX_URL"}
    listing = container.exec(["ls", "/usr/local/share/ca-certificates-site"])
    assert listing.exit_code != 0  # the build base's CA folder is not in the runtime image
    running = container.exec(["env"]).output.decode()
    assert "PIP_CERT" not in running
    assert "SSL_CERT_FILE" not in running


@dataclass
class SlowRequest:
    """A request from a slow client: its second half arrives `pause` seconds after its first.

    Between the two the request is in flight: accepted, and the worker's thread is waiting for
    the rest of the body (or of the headers, for a GET).
    """

    host: str
    port: int
    raw: bytes
    split: int

    @classmethod
    def build(
        cls, url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> SlowRequest:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("X-Slow-Client: the last header line, sent late")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        split = len(head) + len(body) // 2 if body else len(head) - 20
        return cls(host, int(port), head + body, split)

    def send_first_half(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=30)
        self.sock.sendall(self.raw[: self.split])

    def finish(self) -> tuple[int, bytes]:
        with self.sock:
            self.sock.sendall(self.raw[self.split :])
            response = http.client.HTTPResponse(self.sock)
            response.begin()
            return response.status, response.read()


def slow_request(name: str, url: str, store: ContainerStore) -> tuple[SlowRequest, int]:
    """A real request of the service and the status it answers, sent by a slow client."""
    json_headers = {"Content-Type": "application/json"}
    if name == "catalog":
        product = {
            "name": f"Slowly Uploaded Mug {uuid.uuid4().hex[:8]}",
            "category": "kitchen",
            "price": {"amount": 1500, "currency": "USD"},
        }
        headers = {**json_headers, "Authorization": f"Bearer {ADMIN_TOKEN}"}
        body = json.dumps(product).encode()
        return SlowRequest.build(url, "POST", "/api/catalog/products", headers, body), 201
    if name in ("cart", "edge"):  # the edge forwards it to cart once the body is in
        cart_id = store.cart_with()
        path = f"/api/cart/carts/{cart_id}/items/cast-iron-skillet"
        return SlowRequest.build(url, "PUT", path, json_headers, b'{"quantity": 2}'), 200
    if name == "orders":
        cart_id = store.cart_with(("linen-tea-towels", 1))
        body = json.dumps(checkout_body(cart_id)).encode()
        headers = {**json_headers, "Idempotency-Key": str(uuid.uuid4())}
        return SlowRequest.build(url, "POST", "/api/orders/orders", headers, body), 201
    # ui and fulfillment take no request bodies: a GET whose headers come slowly.
    path = "/" if name == "ui" else "/healthz"
    return SlowRequest.build(url, "GET", path, {}), 200


def readiness(url: str) -> int | None:
    """/readyz's status, or None when nothing answers (the worker no longer accepts)."""
    try:
        return requests.get(
            url + "/readyz", timeout=10, headers={"Connection": "close"}
        ).status_code
    except (requests.ConnectionError, requests.Timeout):
        return None


def readiness_until(url: str, done: Callable[[int | None], bool]) -> list[int | None]:
    """Ask /readyz until `done(status)`, within a generous bound; returns every answer."""
    statuses = [readiness(url)]
    deadline = time.monotonic() + STEP_BOUND_SECONDS
    while not done(statuses[-1]):
        assert time.monotonic() < deadline, f"readiness never changed as expected: {statuses}"
        statuses.append(readiness(url))
    return statuses


@pytest.mark.parametrize("name", SERVICES)
def test_ready_and_sigterm_finishes_the_request_in_flight(
    containers: ContainerStore, name: str
) -> None:
    container = service_container(
        name,
        containers.network,
        alias=None,  # beside the store's own, not in its place
        SHUTDOWN_DELAY_SECONDS=str(SHUTDOWN_DELAY_SECONDS),
        GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT_SECONDS),
    )
    with container:  # entered once /readyz answers 200
        url = url_of(container)
        request, expected = slow_request(name, url, containers)

        request.send_first_half()
        wrapped = container.get_wrapped_container()
        wrapped.kill(signal="SIGTERM")
        term_at = time.monotonic()
        # The balancer is told first: /readyz fails while the worker still serves...
        statuses = readiness_until(url, lambda status: status == 503)
        # ...then, the delay over, the worker stops accepting. Only now does the slow client
        # send the rest of its request, which the draining worker must still answer.
        closed = readiness_until(url, lambda status: status is None)
        status, body = request.finish()
        exit_code = wrapped.wait(timeout=GRACEFUL_TIMEOUT_SECONDS + STEP_BOUND_SECONDS)[
            "StatusCode"
        ]
        stopped_after = time.monotonic() - term_at
        logs = b"".join(container.get_logs()).decode()

    assert 503 in statuses, statuses
    assert set(closed[:-1]) <= {503}, closed  # nothing but 503 once draining began
    assert status == expected, body
    assert exit_code == 0, logs
    assert stopped_after < SHUTDOWN_DELAY_SECONDS + GRACEFUL_TIMEOUT_SECONDS, logs
    if name == "orders":  # the checkout sent during the shutdown was placed, and ships
        order = json.loads(body)
        assert containers.wait_final(order["id"])["status"] == "SHIPPED"
