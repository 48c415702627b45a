"""The load generator, headless against a minimal store: the report's shape, and errors fail it.

The minimal store answers every call of the shopper journeys the way the API documents
(README: Calling the API); `fail` makes checkouts answer 500. locust runs for a few seconds
through tests/load/run.py, as `make load` runs it.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.neighbours import Neighbour, json_answer, serve
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "tests" / "load" / "run.py"

PRODUCTS = [{"id": f"product-{n}", "category": "kitchen"} for n in range(5)]


class MinimalStore(Neighbour):
    """The store as the shoppers' journeys see it, faked as every neighbour is."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_checkouts = False

    def called(self, method: str, path: str) -> bool:
        return any(call[:2] == (method, path) for call in self.calls)

    def answer(self, request: Request) -> Response:
        return json_answer(*self.route(request.method, request.path, request.headers))

    def route(  # noqa: PLR0911 - one answer per route, as a table would
        self, method: str, path: str, headers: Headers
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/api/catalog/products":
            return 200, {"items": PRODUCTS, "nextCursor": None}
        if method == "GET" and path == "/api/catalog/categories":
            return 200, {"items": [{"id": "kitchen", "name": "Kitchen", "productCount": 5}]}
        if method == "GET" and path.startswith("/api/catalog/products/"):
            return 200, PRODUCTS[0]
        if method == "POST" and path == "/api/cart/carts":
            return 201, {"id": f"crt-{uuid.uuid4().hex}", "items": []}
        if parts[:3] == ["api", "cart", "carts"] and method in ("GET", "PUT"):
            return 200, {"id": parts[3], "items": []}
        if method == "POST" and path == "/api/orders/orders":
            if self.fail_checkouts:
                return 500, {"title": "broken on purpose"}
            return 201, {"id": f"ord-{uuid.uuid4().hex}", "status": "PLACED"}
        if method == "GET" and path == "/api/orders/orders":
            if headers.get("Authorization") == "Bearer token-of-the-test":
                return 200, {"items": [], "nextCursor": None}
            return 401, {}
        if method == "GET" and path.startswith("/api/orders/orders/"):
            return 200, {"id": parts[3], "status": "PLACED"}
        if method == "POST" and path == "/dev/token":
            return 200, {"id_token": "token-of-the-test"}
        return 404, {}


@pytest.fixture
def store() -> Iterator[tuple[MinimalStore, str]]:
    app = MinimalStore()
    with serve(app) as url:
        yield app, url


def make_load(
    url: str, *until_seen: str, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """A run that stops once each of `until_seen` has been called: its duration is a bound only,
    generous for a slow machine."""
    return subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--url",
            url,
            "--users",
            "8",
            "--spawn-rate",
            "8",
            "--duration",
            "300",
            *(f"--until-seen={endpoint}" for endpoint in until_seen),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_every_journey_reaches_the_store_and_the_report_names_each_endpoint(
    store: tuple[MinimalStore, str],
) -> None:
    app, url = store
    endpoints = (
        "GET /api/catalog/products/{id}",
        "GET /api/catalog/products?category=",
        "PUT /api/cart/carts/{id}/items/{productId}",
        "POST /api/orders/orders",
        "GET /api/orders/orders?limit=",
    )
    finished = make_load(url, *endpoints, extra=("--issuer", url, "--pace", "0"))

    assert finished.returncode == 0, finished.stdout + finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[1].split() == ["endpoint", "req", "err", "req/s", "p50", "p95", "p99"]
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in lines[3:] if "ms" in line}
    for endpoint in endpoints:
        requests, errors, _rps, *percentiles = rows[endpoint]
        assert int(requests) > 0, endpoint
        assert errors == "0", endpoint
        assert len(percentiles) == 3, endpoint
    assert "errors: 0" in lines[-1]
    assert app.called("POST", "/dev/token")
    assert app.called("POST", "/api/orders/orders")


def test_errors_are_counted_and_named_and_make_it_exit_non_zero(
    store: tuple[MinimalStore, str],
) -> None:
    app, url = store
    app.fail_checkouts = True
    finished = make_load(url, "POST /api/orders/orders", extra=("--pace", "0"))

    assert finished.returncode == 1
    assert "FAILED" in finished.stderr
    errors_line = next(line for line in finished.stdout.splitlines() if "errors:" in line)
    assert int(errors_line.rsplit(":", 1)[1]) > 0
    assert "POST /api/orders/orders: status 500, expected 201" in finished.stdout


def test_without_an_issuer_nobody_signs_in(store: tuple[MinimalStore, str]) -> None:
    app, url = store
    finished = make_load(url, "POST /api/orders/orders", extra=("--pace", "0"))

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert not app.called("POST", "/dev/token")
    assert "/api/orders/orders?limit=" not in finished.stdout


def test_a_store_that_cannot_be_reached_is_an_error() -> None:
    finished = make_load("http://127.0.0.1:9", "GET /api/catalog/products")

    assert finished.returncode == 1
    assert "errors: 0" not in finished.stdout
