"""The load generator, headless against a minimal store: the report's shape, and errors fail it.

The minimal store answers every call of the shopper journeys the way the API documents
(README: Calling the API); `fail_checkouts` makes checkouts answer 500. Its orders are SHIPPED
`ship_after` seconds after they are placed, as their status history says (never, with None).
locust runs for a few seconds through tests/load/run.py, as `make load` runs it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.load import run as load
from tests.neighbours import Neighbour, json_answer, serve
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "tests" / "load" / "run.py"

PRODUCTS = [{"id": f"product-{n}", "category": "kitchen"} for n in range(5)]


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class MinimalStore(Neighbour):
    """The store as the shoppers' journeys see it, faked as every neighbour is."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_checkouts = False
        self.ship_after: float | None = 0.0
        self.placed: dict[str, tuple[float, float | None]] = {}  # id -> when, ship_after

    def place(self, order_id: str, when: float, ship_after: float | None) -> None:
        self.placed[order_id] = (round(when, 3), ship_after)

    def order(self, order_id: str) -> tuple[int, Any]:
        if order_id not in self.placed:
            return 404, {}
        placed, ship_after = self.placed[order_id]
        history = [{"status": "PLACED", "at": stamp(placed)}]
        if ship_after is not None and time.time() >= placed + ship_after:
            history.append({"status": "PAID", "at": stamp(placed)})
            history.append({"status": "SHIPPED", "at": stamp(placed + ship_after)})
        body = {"id": order_id, "status": history[-1]["status"], "statusHistory": history}
        return 200, body

    def reads_of(self, path_prefix: str) -> int:
        return sum(
            1 for method, path, _ in self.calls if method == "GET" and path.startswith(path_prefix)
        )

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
            order_id = f"ord-{uuid.uuid4().hex}"
            self.place(order_id, time.time(), self.ship_after)
            return 201, self.order(order_id)[1]
        if method == "GET" and path == "/api/orders/orders":
            if headers.get("Authorization") == "Bearer token-of-the-test":
                return 200, {"items": [], "nextCursor": None}
            return 401, {}
        if method == "GET" and path.startswith("/api/orders/orders/"):
            return self.order(parts[3])
        if method == "POST" and path == "/dev/token":
            return 200, {"id_token": "token-of-the-test"}
        return 404, {}


@pytest.fixture
def store() -> Iterator[tuple[MinimalStore, str]]:
    app = MinimalStore()
    with serve(app) as url:
        yield app, url


def make_load(
    url: str, *until_seen: str, extra: tuple[str, ...] = (), duration: int = 300
) -> subprocess.CompletedProcess[str]:
    """A run that stops once each of `until_seen` has been called: its duration is a bound only,
    generous for a slow machine (without `until_seen`, the run's length)."""
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
            str(duration),
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


def test_the_report_says_how_long_from_checkout_to_shipped_without_counting_the_read_backs(
    store: tuple[MinimalStore, str],
) -> None:
    app, url = store
    app.ship_after = 1.0  # the run stops at once: its orders are read back before they ship
    finished = make_load(url, "POST /api/orders/orders", extra=("--pace", "0"))

    assert finished.returncode == 0, finished.stdout + finished.stderr
    shipped = re.search(
        r"checkout to SHIPPED: p50 (\d+) ms  p95 (\d+) ms  p99 (\d+) ms  \((\d+) of (\d+) orders",
        finished.stdout,
    )
    assert shipped, finished.stdout
    assert shipped.group(1, 2, 3) == ("1000", "1000", "1000")
    orders = int(shipped.group(4))
    assert orders == int(shipped.group(5))
    assert 1 <= orders <= len(app.placed)
    # The journey's own reads are in the table; the read-backs after the run are not.
    journey_reads = sum(
        int(line.split()[2])
        for line in finished.stdout.splitlines()
        if line.startswith("GET /api/orders/orders/{id} ")
    )
    store_reads = app.reads_of("/api/orders/orders/ord-")
    assert journey_reads <= orders
    assert store_reads >= journey_reads + orders + 1  # one read at least found it PLACED


def test_percentiles_and_orders_shipped_per_second_per_worker_come_from_the_status_history(
    store: tuple[MinimalStore, str], capsys: pytest.CaptureFixture[str]
) -> None:
    app, url = store
    start = time.time() - 10  # all shipped by now
    for n, ship_after in enumerate([0.2, 0.4, 0.6, 2.0]):
        app.place(f"ord-{n}", start + n, ship_after)
    nobody = load.Endpoint("", "all endpoints", 0, 0, 0.0, 0.0, 0.0, 0.0)
    report = load.Report([], nobody)
    report.shipping = load.follow_orders(url, [f"ord-{n}" for n in range(4)], within=5)
    load.print_report(report, fulfillment_workers=2)

    printed = capsys.readouterr().out
    assert "checkout to SHIPPED: p50 400 ms  p95 2000 ms  p99 2000 ms  (4 of 4 orders" in printed
    # 4 orders from the first PLACED (start) to the last SHIPPED (start + 3 + 2.0): 5 s.
    assert "orders SHIPPED/s: 0.80, 0.40 per fulfillment worker (2)" in printed
    assert report.error_count == 0
    # Each order's history as orders stamped it (what tests/bench/cluster_fulfillment.py reads).
    assert report.shipping.histories["ord-3"]["SHIPPED"] - start == pytest.approx(5.0, abs=0.01)


def test_an_order_that_never_ships_is_an_error_that_names_it(
    store: tuple[MinimalStore, str],
) -> None:
    app, url = store
    app.ship_after = None
    finished = make_load(url, "POST /api/orders/orders", extra=("--ship-within", "2"))

    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert "FAILED" in finished.stderr
    missed = re.search(
        r"not SHIPPED 2 s after the run \(last read: PLACED\): (ord-[0-9a-f]+)", finished.stdout
    )
    assert missed, finished.stdout
    assert missed.group(1) in app.placed
    assert "checkout to SHIPPED: no order shipped" in finished.stdout
    # Read again until the bound, not once.
    reads = app.reads_of(f"/api/orders/orders/{missed.group(1)}")
    assert reads >= 3
