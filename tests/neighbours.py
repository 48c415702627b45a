"""The neighbouring services, faked one way, here: each fake is a WSGI app that answers the part
of a neighbour's API the service under test calls, and records the calls.

- In a unit test the service's own `ServiceClient` (its timeouts, retries, circuit breaker and
  propagated headers all at work) calls the fake in process: `connect(client, fake)`.
- Where the code under test dials a URL itself (a worker under gunicorn, a benchmark),
  `serve(fake)` serves the same fake over HTTP on loopback.

`FakeCatalog` is catalog as cart and orders see it, `FakeCart` cart as orders sees it, and
`FakeOrders` orders' status API as fulfillment sees it (`order_placed` is the event it reads).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import urllib3
from tests.shoppers import checkout_body
from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from emporium.background import PerProcess
from emporium.models import Money
from emporium.outbound import ServiceClient
from orders import events
from orders.models import Customer, Order, OrderItem, StatusChange

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

ORDERS_TOKEN = "orders-internal-token-for-tests"


class Neighbour:
    """A fake service: a WSGI app answering through `answer`. Each call is recorded in `calls`
    as (method, path, headers); with `down` set, every in-process connection is refused; `url`
    is its base URL while `serve` serves it."""

    def __init__(self) -> None:
        self.url = ""
        self.down = False
        self.calls: list[tuple[str, str, Headers]] = []
        self._lock = threading.Lock()

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def closing(self) -> None:
        """Called before `serve` stops: let go of any call held waiting."""

    def record(self, method: str, path: str, headers: Headers) -> None:
        with self._lock:
            self.calls.append((method, path, headers))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        self.record(request.method, request.path, Headers(request.headers))
        return self.answer(request)(environ, start_response)


def json_answer(status: int, body: Any) -> Response:
    mimetype = "application/problem+json" if status >= 400 else "application/json"
    return Response(json.dumps(body), status=status, mimetype=mimetype)


class InProcess:
    """What a `ServiceClient` sends through in place of its urllib3 pool: each request goes to
    the neighbour's WSGI app in this process, and comes back as a urllib3 response."""

    def __init__(self, neighbour: Neighbour) -> None:
        self.neighbour = neighbour

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        **_options: object,
    ) -> urllib3.HTTPResponse:
        parts = urlsplit(url)
        if self.neighbour.down:  # a call tried, and refused
            self.neighbour.record(method, parts.path, Headers(headers))
            raise urllib3.exceptions.ProtocolError(
                "Connection aborted.", ConnectionRefusedError(111, "Connection refused")
            )
        answer = Client(self.neighbour, use_cookies=False).open(
            parts.path, method=method, query_string=parts.query, data=body, headers=headers
        )
        return urllib3.HTTPResponse(
            body=answer.get_data(),
            status=answer.status_code,
            headers=dict(answer.headers),
            preload_content=True,
        )


def connect(client: ServiceClient, neighbour: Neighbour) -> None:
    """Make `client` call `neighbour` in process; everything else about the client stays."""
    client._pool = PerProcess(lambda: InProcess(neighbour))


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the tests read the calls from the fake; the benchmark makes thousands


@contextmanager
def serve(neighbour: Neighbour) -> Iterator[str]:
    """Serve `neighbour` over HTTP on loopback (werkzeug, threaded); yields its base URL."""
    server = make_server("127.0.0.1", 0, neighbour, threaded=True, request_handler=_QuietHandler)
    # A short poll interval: shutdown() waits for the serving loop to notice.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="neighbour")
    thread.start()
    neighbour.url = f"http://127.0.0.1:{server.port}"
    try:
        yield neighbour.url
    finally:
        neighbour.closing()
        server.shutdown()
        server.server_close()
        thread.join()


# Catalog, as cart and orders see it.


def catalog_product(product_id: str, name: str, amount: int) -> dict[str, Any]:
    """A product as catalog answers it."""
    return {
        "id": product_id,
        "name": name,
        "description": "",
        "category": "kitchen",
        "price": {"amount": amount, "currency": "USD"},
        "imageUrl": "",
        "tags": [],
        "version": 1,
    }


class FakeCatalog(Neighbour):
    """Catalog's product reads: `GET /internal/catalog/products/{id}` from its table
    (`products`), `GET /api/catalog/products/{id}` through its cache, which holds what the
    table does until `keep_cache` freezes it (then `cached`). 404 for any other product.

    With `status` set every call answers that status (and `body`); with `rendezvous` set,
    every call waits there for the others, so that concurrent callers race.
    """

    PUBLIC = "/api/catalog/products/"
    INTERNAL = "/internal/catalog/products/"

    def __init__(self, *products: dict[str, Any]) -> None:
        super().__init__()
        self.products = {product["id"]: product for product in products}
        self.cached: dict[str, dict[str, Any]] | None = None
        self.status: int | None = None
        self.body: bytes | None = None
        self.rendezvous: threading.Barrier | None = None

    def keep_cache(self) -> None:
        """From now on the cached read answers what the table holds now."""
        self.cached = copy.deepcopy(self.products)

    def set_price(self, product_id: str, amount: int) -> None:
        """Write a new price to the table (a cache kept by `keep_cache` still has the old)."""
        self.products[product_id]["price"]["amount"] = amount

    def product_calls(self) -> int:
        return sum(1 for _, path, _ in self.calls if path.startswith(self.PUBLIC))

    def answer(self, request: Request) -> Response:
        if self.rendezvous is not None:
            self.rendezvous.wait(timeout=60)  # a bound for a busy machine; the others come
        if self.status is not None:
            return Response(
                self.body or b'{"title": "failing"}', self.status, mimetype="application/json"
            )
        path = request.path
        view = self.products
        if path.startswith(self.PUBLIC) and self.cached is not None:
            view = self.cached
        product = view.get(path.rpartition("/")[2])
        known = path.startswith((self.PUBLIC, self.INTERNAL))
        if request.method != "GET" or not known or product is None:
            return json_answer(404, {"status": 404, "title": "Not Found"})
        return json_answer(200, product)


# Cart, as orders sees it.


class FakeCart(Neighbour):
    """Carts by id (`carts`: id -> lines): `GET /api/cart/carts/{id}` and `DELETE` of one.

    `delete_fails` is what a DELETE does instead of deleting: raise that exception, or answer
    that status.
    """

    PATH = "/api/cart/carts/"

    def __init__(self) -> None:
        super().__init__()
        self.carts: dict[str, list[dict[str, Any]]] = {}
        self.delete_fails: Exception | int | None = None

    def answer(self, request: Request) -> Response:
        cart_id = request.path.removeprefix(self.PATH)
        if not request.path.startswith(self.PATH) or "/" in cart_id:
            return json_answer(404, {"status": 404})
        if request.method == "DELETE":
            if isinstance(self.delete_fails, Exception):
                raise self.delete_fails
            if self.delete_fails is not None:
                return json_answer(self.delete_fails, {"status": self.delete_fails})
            self.carts.pop(cart_id, None)
            return Response(status=204)
        if cart_id not in self.carts:
            return json_answer(404, {"status": 404})
        return json_answer(200, {"id": cart_id, "items": self.carts[cart_id]})


# Orders, as fulfillment sees it.

FINAL = frozenset({"SHIPPED", "PAYMENT_DECLINED"})
TRANSITIONS = frozenset({("PLACED", "PAID"), ("PAID", "SHIPPED"), ("PLACED", "PAYMENT_DECLINED")})


class FakeOrders(Neighbour):
    """Orders' internal status API and its order read, with the contract's transition rules.

    `PUT /internal/orders/{id}/status` answers 200 when the transition is applied or the order
    already has that status, 409 with `currentStatus` when the rules forbid it, 404 for an
    unknown order, 401/403 for a missing or wrong token. `script` holds answers to give to the
    next PUTs instead (`(503, {})`, say); `hold_after(n)` makes every PUT after the n-th wait,
    before it is applied, until `release` is set.
    """

    def __init__(self, token: str = ORDERS_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.orders: dict[str, str] = {}
        self.puts: list[tuple[str, str, int]] = []  # (order id, status asked, status answered)
        self.applied: list[tuple[str, str]] = []  # (order id, new status), in order
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self._hold_after: int | None = None

    def closing(self) -> None:
        self.release.set()

    def place(self, *order_ids: str) -> None:
        with self._lock:
            self.orders.update(dict.fromkeys(order_ids, "PLACED"))

    def hold_after(self, puts: int) -> None:
        self._hold_after = puts

    def status(self, order_id: str) -> str | None:
        with self._lock:
            return self.orders.get(order_id)

    def applied_by_order(self) -> dict[str, list[str]]:
        with self._lock:
            by_order: dict[str, list[str]] = {}
            for order_id, status in self.applied:
                by_order.setdefault(order_id, []).append(status)
            return by_order

    def answer(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method == "PUT" and len(parts) == 4 and parts[:2] == ["internal", "orders"]:
            return json_answer(*self.put_status(parts[2], request))
        if request.method == "GET" and len(parts) == 4 and parts[:3] == ["api", "orders", "orders"]:
            current = self.status(parts[3])
            if current is None:
                return json_answer(404, {})
            return json_answer(200, {"id": parts[3], "status": current})
        return json_answer(404, {})

    def put_status(self, order_id: str, request: Request) -> tuple[int, dict[str, Any]]:
        asked = str((request.get_json(silent=True) or {}).get("status"))
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            answer: tuple[int, dict[str, Any]] = (401, {"title": "Unauthorized"})
        elif auth.removeprefix("Bearer ") != self.token:
            answer = (403, {"title": "Forbidden"})
        else:
            answer = self._transition(order_id, asked)
        with self._lock:
            self.puts.append((order_id, asked, answer[0]))
        return answer

    def _transition(self, order_id: str, asked: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            held = self._hold_after is not None and len(self.puts) >= self._hold_after
        if held:
            self.held.set()
            self.release.wait(timeout=60)
        with self._lock:
            current = self.orders.get(order_id)
            if current is None:
                return 404, {"title": "Not Found", "detail": f"no order {order_id}"}
            if current == asked:
                return 200, {"id": order_id, "status": current}
            if (current, asked) not in TRANSITIONS:
                return 409, {"title": "Conflict", "status": 409, "currentStatus": current}
            self.orders[order_id] = asked
            self.applied.append((order_id, asked))
            return 200, {"id": order_id, "status": asked}


def order_placed(order_id: str, last4: str = "4242") -> str:
    """The JSON of the OrderPlaced event orders publishes (`orders.events.order_placed`, the one
    description of its schema) for a skillet Ada ordered as `order_id`, paid with a card
    ending in `last4`."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    price = Money(amount=4299, currency="USD")
    skillet = OrderItem(
        productId="cast-iron-skillet", name="Skillet", quantity=1, unitPrice=price, lineTotal=price
    )
    ada = Customer.model_validate(checkout_body()["customer"])
    order = Order(
        id=order_id,
        status="PLACED",
        items=[skillet],
        total=price,
        customer=ada,
        paymentLast4=last4,
        createdAt=now,
        statusHistory=[StatusChange(status="PLACED", at=now)],
    )
    return json.dumps(events.order_placed(order))
