"""`helm test`'s checks, run in the catalog image with nothing but the standard library.

    python helm_test.py ready URL...     every URL's /readyz answers 200 (within a minute)
    python helm_test.py journey URL      a shopper's journey through the entry point at URL:
                                         the ui, the catalog, a cart, a checkout until it ships

The chart passes this file to `python -c`; tests/integration/test_chart.py runs it against the
store that `make run` starts. Each step prints one line; the first failure ends the run (exit 1).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

READY_WITHIN_SECONDS = 60.0
SHIPPED_WITHIN_SECONDS = 60.0


class CheckFailed(Exception):
    """A check did not hold; the message says which and what was seen."""


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of one request; an error status is an answer, not a raise."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - the URLs are the release's own
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def expect(method: str, url: str, status: int, body: Any = None, **headers: str) -> Any:
    """The JSON body of a request that must answer `status`."""
    got, _, raw = call(method, url, body, headers)
    if got != status:
        raise CheckFailed(f"{method} {url}: {got}, expected {status}: {raw[:300]!r}")
    return json.loads(raw) if raw else None


def ready(urls: list[str]) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    for url in urls:
        while True:
            try:
                status = call("GET", url.rstrip("/") + "/readyz")[0]
            except OSError as error:  # not listening yet, or not resolvable yet
                status, seen = 0, str(error)
            else:
                seen = str(status)
            if status == 200:
                print(f"ready: {url}")
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"{url}/readyz: {seen}, not 200 within {READY_WITHIN_SECONDS} s")
            time.sleep(1)


def journey(store: str) -> None:
    store = store.rstrip("/")
    status, headers, _ = call("GET", store + "/")
    if status != 200 or not headers.get("Content-Type", "").startswith("text/html"):
        raise CheckFailed(f"GET {store}/: {status} {headers.get('Content-Type')}, expected the ui")
    print("journey: the ui answers")

    products = expect("GET", store + "/api/catalog/products?limit=2", 200)["items"]
    if not products:
        raise CheckFailed("the catalog is empty: did the seed hook run?")
    product = products[0]["id"]
    print(f"journey: the catalog lists {product}")

    cart = expect("POST", store + "/api/cart/carts", 201)["id"]
    expect("PUT", f"{store}/api/cart/carts/{cart}/items/{product}", 200, {"quantity": 2})
    print(f"journey: cart {cart} holds 2 x {product}")

    checkout = {
        "cartId": cart,
        "customer": {
            "email": "helm-test@example.com",
            "name": "Helm Test",
            "address": {
                "line1": "1 Test Street",
                "city": "London",
                "postalCode": "N1 9GU",
                "country": "GB",
            },
        },
        "payment": {"card": "4242424242424242"},
    }
    key = str(uuid.uuid4())
    order = expect("POST", store + "/api/orders/orders", 201, checkout, **{"Idempotency-Key": key})
    print(f"journey: order {order['id']} {order['status']}")

    deadline = time.monotonic() + SHIPPED_WITHIN_SECONDS
    while order["status"] not in ("SHIPPED", "PAYMENT_DECLINED"):
        if time.monotonic() > deadline:
            raise CheckFailed(f"order {order['id']} still {order['status']} after the deadline")
        time.sleep(0.5)
        order = expect("GET", f"{store}/api/orders/orders/{order['id']}", 200)
    if order["status"] != "SHIPPED":
        raise CheckFailed(f"order {order['id']} ended {order['status']}, expected SHIPPED")
    print(f"journey: order {order['id']} SHIPPED")


def main(argv: list[str]) -> int:
    if (
        len(argv) < 2
        or argv[0] not in ("ready", "journey")
        or (argv[0] == "journey" and len(argv) != 2)
    ):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] == "ready":
            ready(argv[1:])
        else:
            journey(argv[1])
    except (CheckFailed, OSError, ValueError, KeyError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
