"""Start-up, shutdown and the laptop stack, as an operator sees them from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from tests.integration.conftest import (
    local_env,
    make_run,
    require_binary,
    start_gunicorn,
)

from devstack.processes import Group, free_port, http_status, port_open
from devstack.stack import Ports

pytestmark = pytest.mark.integration


def test_sigterm_fails_readiness_then_finishes_in_flight_requests() -> None:
    # The request outlasts the shutdown delay, so the worker is draining while it is in flight.
    env = {
        **os.environ,
        "SHUTDOWN_DELAY_SECONDS": "2",
        "GRACEFUL_TIMEOUT": "60",
        "WEB_CONCURRENCY": "1",
        "HOST": "127.0.0.1",
    }
    with Group() as group:
        server, url, _ = start_gunicorn(
            group, "slow", "tests.integration.slow_app:create_app()", env
        )
        answers: list[requests.Response] = []
        in_flight = threading.Thread(
            target=lambda: answers.append(requests.get(url + "/slow?seconds=5", timeout=120))
        )
        in_flight.start()
        server.wait_until(
            lambda: "slow request started" in server.output(), "serving the slow request", 60
        )
        os.kill(server.pid, signal.SIGTERM)

        # Asked while the slow request is still in flight, readiness turns 503 (within the
        # shutdown delay the worker still answers; after it, nobody does).
        readiness: list[int | None] = []
        while in_flight.is_alive() and 503 not in readiness:
            readiness.append(http_status(url + "/readyz"))
        in_flight.join()
        code = server.popen.wait(timeout=120)

    assert 503 in readiness, readiness  # the balancer is told first
    assert answers
    assert answers[0].status_code == 200
    assert answers[0].json() == {"slept": 5.0}
    assert code == 0


def access_lines(output: str, path: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in output.splitlines() if line.startswith("{"))
    return [line for line in lines if line["logger"] == "gunicorn.access" and line["path"] == path]


def test_access_lines_are_written_within_the_interval_and_all_of_them_on_sigterm() -> None:
    # A long interval: what SIGTERM finds waiting must be written as the workers exit.
    env = {**os.environ, "WEB_CONCURRENCY": "2", "HOST": "127.0.0.1"}
    with Group() as group:
        quick, url, _ = start_gunicorn(
            group, "quick", "tests.integration.slow_app:create_app()", env
        )
        requests.get(url + "/slow?seconds=0", timeout=10)
        quick.wait_until(  # with no other request, within ACCESS_LOG_FLUSH_SECONDS (0.2 s)
            lambda: len(access_lines(quick.output(), "/slow")) == 1, "the first line", 5
        )

        waiting, url, _ = start_gunicorn(
            group, "waiting", "tests.integration.slow_app:create_app()",
            {**env, "ACCESS_LOG_FLUSH_SECONDS": "600"},
        )  # fmt: skip
        for _ in range(20):
            requests.get(url + "/slow?seconds=0", timeout=10)
        assert access_lines(waiting.output(), "/slow") == []  # all still waiting
        os.kill(waiting.pid, signal.SIGTERM)
        assert waiting.popen.wait(timeout=60) == 0
        lines = access_lines(waiting.output(), "/slow")

    assert len(lines) == 20
    assert {line["status"] for line in lines} == {200}


def test_a_missing_setting_stops_start_up_with_one_line(dynamodb_url: str) -> None:
    env = local_env(dynamodb_url, free_port(), "catalog-config-error")
    del env["CATALOG_ADMIN_TOKEN"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:emporium.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "catalog.app:create_app()",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "CATALOG_ADMIN_TOKEN" in line]
    assert errors == ["Error: CATALOG_ADMIN_TOKEN is required but not set"], lines
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("redis_mode", ["redis-server", "embedded"])
def test_make_run_serves_the_store_and_ctrl_c_stops_everything(redis_mode: str) -> None:
    if redis_mode == "redis-server":
        require_binary("redis-server", "the embedded variant of this test runs without it")
    ports = {name: str(port) for name, port in Ports.free().named()}
    with make_run({**os.environ, **ports, "DEVSTACK_REDIS": redis_mode}) as (store, lines):
        edge = f"http://127.0.0.1:{ports['EDGE_PORT']}"
        products = requests.get(edge + "/api/catalog/products?limit=100", timeout=10).json()
        assert len(products["items"]) >= 40
        assert order_ships(edge)  # streams and consumer groups work on this Redis too
    output = "".join(lines)
    assert store.returncode == 0, output
    still_listening = [name for name, port in ports.items() if port_open(int(port))]
    assert still_listening == [], output


def order_ships(edge: str) -> bool:
    cart = requests.post(edge + "/api/cart/carts", timeout=10).json()["id"]
    requests.put(
        f"{edge}/api/cart/carts/{cart}/items/cast-iron-skillet", json={"quantity": 1}, timeout=10
    ).raise_for_status()
    customer = {
        "email": "ada@example.com",
        "name": "Ada",
        "address": {"line1": "1 A St", "city": "London", "postalCode": "N1 9GU", "country": "GB"},
    }
    order = requests.post(
        edge + "/api/orders/orders",
        json={"cartId": cart, "customer": customer, "payment": {"card": "4242424242424242"}},
        headers={"Idempotency-Key": "lifecycle-test-order"},
        timeout=10,
    ).json()
    deadline = time.monotonic() + 120  # a bound for a slow machine, not an expected time
    while time.monotonic() < deadline:
        status = requests.get(f"{edge}/api/orders/orders/{order['id']}", timeout=10).json()
        if status["status"] == "SHIPPED":
            return True
        time.sleep(0.2)
    return False
