"""Shopper journeys for locust: browse mostly, some carts, fewer checkouts, some sign-ins.

Run through tests/load/run.py (`make load URL=... USERS=... DURATION=...`), or locust itself:

    .venv/bin/locust -f tests/load/locustfile.py --headless -H http://localhost:8080 -u 20 -t 60s

The store is reached only through its public API (the edge's /api paths), so the same file
drives `make run`, kind behind a port-forward and EKS behind API Gateway. Environment:

    LOAD_ISSUER      the development OpenID issuer (`make run`: http://127.0.0.1:8086); unset,
                     the sign-in journey is left out (on EKS sign-in is Cognito's, with a password)
    LOAD_ERRORS_FILE where to write the errors (JSON lines: occurrences, method, name, error) at
                     the end; tests/load/run.py reads it
    LOAD_ORDERS_FILE where to write the ids of the orders the buyers placed, one a line, at the
                     end; tests/load/run.py reads each back after the run (checkout to SHIPPED)
    LOAD_PACE        each user's journeys per second (locust's constant_throughput); unset, a
                     user thinks 1 to 3 s between journeys; 0, no pause at all (finding the maximum)
    LOAD_UNTIL_SEEN  endpoints, one "METHOD name" a line (as the report names them): the run
                     stops as soon as each has been called once, answered or not (a smoke run;
                     the run time is then only a bound)

Every answer other than the one the API documents for the call counts as an error. Checkouts
pay with 4242 4242 4242 4242, the card the store approves (README: Shopping with curl).
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from typing import Any

import gevent
from locust import HttpUser, between, constant, constant_throughput, events, task
from locust.env import Environment

APPROVED_CARD = "4242424242424242"
ADDRESS = {"line1": "1 Load St", "city": "Testville", "postalCode": "12345", "country": "US"}


def _wait_time() -> Any:
    pace = os.environ.get("LOAD_PACE", "")
    if not pace:
        return between(1, 3)
    journeys_per_second = float(pace)
    if journeys_per_second <= 0:
        return constant(0)
    return constant_throughput(journeys_per_second)


def _status(answer: Any) -> str:
    """ "status 503", or for no answer at all what went wrong (refused, timed out)."""
    return f"status {answer.status_code}" if answer.status_code else f"no answer: {answer.error}"


@events.quitting.add_listener
def write_errors(environment: Environment, **_: Any) -> None:
    path = os.environ.get("LOAD_ERRORS_FILE")
    if not path:
        return
    with open(path, "w") as errors:
        for error in environment.stats.errors.values():
            # locust keeps a failure as its repr, CatchResponseError('status 503, ...').
            message = re.sub(r"^CatchResponseError\('(.*)'\)$", r"\1", str(error.error))
            record = [error.occurrences, error.method, error.name, message]
            errors.write(json.dumps(record) + "\n")


placed_orders: list[str] = []  # by the buyers, in the order their checkouts were answered


@events.quitting.add_listener
def write_orders(**_: Any) -> None:
    path = os.environ.get("LOAD_ORDERS_FILE")
    if path:
        with open(path, "w") as orders:
            orders.writelines(f"{order_id}\n" for order_id in placed_orders)


class UntilSeen:
    """Stops the run once every endpoint of LOAD_UNTIL_SEEN has been called."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.environment: Environment | None = None

    def start(self, environment: Environment, **_: Any) -> None:
        self.environment = environment

    def called(self, request_type: str, name: str, **_: Any) -> None:
        self.wanted.discard(f"{request_type} {name}")
        runner = self.environment.runner if self.environment else None
        if not self.wanted and runner is not None:
            self.wanted.add("")  # once: later calls find something still wanted
            gevent.spawn(runner.quit)  # not from this user's greenlet, which quit() kills


_until = {line.strip() for line in os.environ.get("LOAD_UNTIL_SEEN", "").splitlines()} - {""}
if _until:
    until_seen = UntilSeen(_until)
    events.init.add_listener(until_seen.start)
    events.request.add_listener(until_seen.called)


class Shopper(HttpUser):
    """What every journey shares: the catalog's product ids, read once per user."""

    abstract = True
    wait_time = _wait_time()

    def on_start(self) -> None:
        self.product_ids: list[str] = []
        self.categories: list[str] = []
        with self.client.get(
            "/api/catalog/products?limit=100", name="/api/catalog/products", catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(_status(answer))
                return
            self.product_ids = [item["id"] for item in answer.json()["items"]]
            if not self.product_ids:
                answer.failure("the catalog has no products")
        with self.client.get("/api/catalog/categories", catch_response=True) as answer:
            if answer.status_code == 200:
                self.categories = [item["id"] for item in answer.json()["items"]]
            else:
                answer.failure(_status(answer))

    def _product(self) -> str | None:
        return random.choice(self.product_ids) if self.product_ids else None

    def _expect(self, method: str, path: str, status: int, name: str, **kwargs: Any) -> Any:
        """One call that counts as an error unless it answers `status`; its JSON, or None."""
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as answer:
            if answer.status_code != status:
                answer.failure(f"{_status(answer)}, expected {status}")
                return None
            try:
                return answer.json()
            except ValueError:
                answer.failure("the answer is not JSON")
                return None

    def _fill_cart(self, lines: int) -> str | None:
        cart = self._expect("POST", "/api/cart/carts", 201, "/api/cart/carts")
        if cart is None or not self.product_ids:
            return None
        cart_id: str = cart["id"]
        for product_id in random.sample(self.product_ids, min(lines, len(self.product_ids))):
            self._expect(
                "PUT",
                f"/api/cart/carts/{cart_id}/items/{product_id}",
                200,
                "/api/cart/carts/{id}/items/{productId}",
                json={"quantity": random.randint(1, 3)},
            )
        return cart_id


class Browser(Shopper):
    """Most visitors: a page of a category, a product or two, the categories."""

    weight = 12

    @task(3)
    def browse_category(self) -> None:
        category = random.choice(self.categories) if self.categories else ""
        self._expect(
            "GET",
            f"/api/catalog/products?category={category}&limit=12",
            200,
            "/api/catalog/products?category=",
        )

    @task(5)
    def view_product(self) -> None:
        product_id = self._product()
        if product_id:
            self._expect(
                "GET",
                f"/api/catalog/products/{product_id}",
                200,
                "/api/catalog/products/{id}",
            )

    @task(1)
    def categories_page(self) -> None:
        self._expect("GET", "/api/catalog/categories", 200, "/api/catalog/categories")


class CartFiller(Shopper):
    """Some fill a cart, look at it and leave."""

    weight = 4

    @task
    def fill_and_leave(self) -> None:
        cart_id = self._fill_cart(random.randint(1, 3))
        if cart_id:
            self._expect("GET", f"/api/cart/carts/{cart_id}", 200, "/api/cart/carts/{id}")


class Buyer(Shopper):
    """Fewer check out with the approved card, then look at their order."""

    weight = 2

    @task
    def check_out(self) -> None:
        cart_id = self._fill_cart(random.randint(1, 2))
        if cart_id is None:
            return
        order = self._expect(
            "POST",
            "/api/orders/orders",
            201,
            "/api/orders/orders",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "cartId": cart_id,
                "customer": {
                    "email": f"load-{random.randint(1, 50)}@example.com",
                    "name": "Load Shopper",
                    "address": ADDRESS,
                },
                "payment": {"card": APPROVED_CARD},
            },
        )
        if order is not None:
            placed_orders.append(order["id"])
            self._expect("GET", f"/api/orders/orders/{order['id']}", 200, "/api/orders/orders/{id}")


if os.environ.get("LOAD_ISSUER"):

    class SignedInShopper(Shopper):
        """Some sign in (the development issuer's /dev/token) and list their orders."""

        weight = 2

        def on_start(self) -> None:
            super().on_start()
            self.token = ""
            issuer = os.environ["LOAD_ISSUER"].rstrip("/")
            email = f"load-{random.randint(1, 50)}@example.com"
            with self.client.post(
                f"{issuer}/dev/token",
                json={"email": email},
                name="issuer /dev/token",
                catch_response=True,
            ) as answer:
                if answer.status_code != 200:
                    answer.failure(_status(answer))
                    return
                self.token = answer.json()["id_token"]

        @task
        def my_orders(self) -> None:
            if self.token:
                self._expect(
                    "GET",
                    "/api/orders/orders?limit=5",
                    200,
                    "/api/orders/orders?limit=",
                    headers={"Authorization": f"Bearer {self.token}"},
                )
