"""Checkout, the business of orders: a cart becomes an order, once.

`place_order`:
1. answers a retry (the same Idempotency-Key and request) with the order it made, and refuses
   the same key with another request, or a cart that was checked out already;
2. reads the cart and prices every line from catalog's current data (its internal read, never
   its cache); when the total is not the `expectedTotal` the shopper saw, stops, writing nothing;
3. writes the order (a random id), its idempotency item (the key and a fingerprint of the
   request, both HMACs under `ORDERS_HMAC_KEY`) and a claim of the cart in one transaction;
4. then, the order standing whatever happens next: empties the cart (a failure is logged and
   counted in `orders_cart_cleanup_failures_total`) and publishes OrderPlaced (a refused event
   stays in the outbox for the relay; so does a published one the table failed to clear).

`relay_unpublished` publishes the events a failure kept in the outbox. The routes (`routes.py`)
only parse the request, call one of these and render the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import Counter

from emporium.models import Money
from emporium.outbound import DependencyUnavailableError, ServiceClient
from emporium.problems import Problem
from orders.events import EventPublisher
from orders.models import Checkout, Order, OrderItem, StatusChange
from orders.store import OrdersStore, Written, now_iso

log = logging.getLogger(__name__)

# Labelled, so that under gunicorn each worker makes its series, not the master at import.
CART_CLEANUP_FAILURES = Counter(
    "orders_cart_cleanup_failures",
    "Orders placed whose cart could not be deleted afterwards (the order stands), by reason:"
    " unavailable (cart out of reach or answering 5xx), refused (another 4xx), error",
    ["reason"],
)

_PRODUCT_PATH = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class OrdersDependencies:
    """What checkout works with; made by `create_app`."""

    store: OrdersStore
    cart: ServiceClient
    catalog: ServiceClient
    events: EventPublisher
    secret: bytes  # ORDERS_HMAC_KEY: keys the hashes of Idempotency-Keys and requests


@dataclass(frozen=True)
class Placed:
    """The order a checkout answers with; `replayed` when an earlier checkout made it."""

    order: Order
    replayed: bool


def place_order(orders: OrdersDependencies, key: str, body: Checkout) -> Placed:
    """Place the order of `body`'s cart, once per Idempotency-Key `key`."""
    key_id = _keyed(orders.secret, "idempotency-key", key)
    fingerprint = _keyed(orders.secret, "checkout-request", _canonical(body))
    replayed = _replay(orders, key_id, fingerprint)
    if replayed is not None:
        return replayed
    if orders.store.cart_checked_out(body.cartId):  # gone or not, it made its order
        raise _cart_checked_out()

    reply = orders.cart.get(f"/api/cart/carts/{body.cartId}")
    if reply.status == 404:
        raise Problem(422, f"There is no cart {body.cartId}.", type_="unknown-cart")
    if reply.status != 200:
        raise Problem(502, f"The cart service answered {reply.status}.")
    items = _priced_items(orders, reply.json())
    if not items:
        raise Problem(422, "The cart is empty.", type_="empty-cart")

    total = Money(amount=sum(item.lineTotal.amount for item in items), currency="USD")
    if body.expectedTotal is not None and body.expectedTotal != total:
        raise Problem(
            409,
            f"The total is now {_shown(total)}, not the {_shown(body.expectedTotal)} shown;"
            " confirm the new total to place the order.",
            type_="total-changed",
            total=total.model_dump(),
        )

    created = now_iso()
    order = Order(
        id="ord-" + secrets.token_hex(16),
        status="PLACED",
        items=items,
        total=total,
        customer=body.customer,
        paymentLast4=body.payment.card[-4:],
        createdAt=created,
        statusHistory=[StatusChange(status="PLACED", at=created)],
    )
    written = _write(orders, order, body.cartId, key_id, fingerprint)
    if written is Written.KEY_TAKEN:
        # The same key won a race a moment ago: answer with its order.
        replayed = _replay(orders, key_id, fingerprint)
        if replayed is None:  # its items are written together: never
            raise Problem(409, "A checkout with this Idempotency-Key is in progress; retry.")
        return replayed
    if written is Written.CART_TAKEN:
        raise _cart_checked_out()

    # From here on the order stands: nothing that follows may turn its 201 into an error.
    _empty_cart(orders, body.cartId, order.id)
    publish(orders, order)
    return Placed(order, replayed=False)


def _empty_cart(orders: OrdersDependencies, cart_id: str, order_id: str) -> None:
    """Delete the checked-out cart; a failure is logged and counted, never raised: the cart's
    claim keeps it from becoming a second order, and carts expire on their own."""
    try:
        status = orders.cart.request("DELETE", f"/api/cart/carts/{cart_id}").status
    except DependencyUnavailableError as error:  # 5xx, timeouts, the circuit open
        reason, detail = "unavailable", str(error)
    except Exception as error:  # the cart client's failures, whatever they are
        reason, detail = "error", f"{type(error).__name__}: {error}"
    else:
        if status in (204, 404):  # 404: gone already
            return
        reason, detail = "refused", f"HTTP {status}"
    CART_CLEANUP_FAILURES.labels(reason).inc()
    log.warning(
        "order placed, its cart not emptied",
        extra={"cartId": cart_id, "orderId": order_id, "reason": reason, "error": detail},
    )


def _write(
    orders: OrdersDependencies, order: Order, order_cart: str, key_id: str, fingerprint: str
) -> Written:
    """Write the order, trying again while another transaction holds one of its items."""
    for attempt in range(_WRITE_ATTEMPTS):
        written = orders.store.create_order(
            order, key_id=key_id, fingerprint=fingerprint, cart_id=order_cart
        )
        if written is not Written.CONFLICT:
            return written
        if attempt + 1 < _WRITE_ATTEMPTS:
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not crypto
    raise Problem(
        409,
        "Another checkout of this cart or with this Idempotency-Key is in progress; retry.",
        type_="checkout-in-progress",
    )


def publish(orders: OrdersDependencies, order: Order) -> bool:
    """Publish OrderPlaced and take the order out of the outbox; the caller holds its lease.
    A failure leaves it there for the relay (`relay_unpublished`) once the lease ends, so the
    event is late, never lost. True when Redis took the event."""
    try:
        orders.events.publish_order_placed(order)
    except redis.RedisError as error:
        log.warning(
            "event not published; the relay retries",
            extra={"orderId": order.id, "error": str(error)},
        )
        return False
    try:
        orders.store.mark_published(order.id)
    except (BotoCoreError, ClientError) as error:
        # Published all the same; once its lease ends the relay sends it again (at least once).
        log.warning(
            "event published, its order left in the outbox",
            extra={"orderId": order.id, "error": str(error)},
        )
    return True


def relay_unpublished(orders: OrdersDependencies, stop: Callable[[], bool] = lambda: False) -> int:
    """Publish what the outbox holds, every page of it, each order under a lease of its own:
    however many relays run, each event goes out once per attempt, and a backlog drains as fast
    as Redis takes it. Stops at the first event Redis refuses (the rest waits for the next run)
    or when `stop()` says so. Returns how many events it published."""
    count = 0
    for order in orders.store.unpublished():
        if stop():
            break
        if not orders.store.lease(order.id):
            continue  # published meanwhile, or another relay or its checkout holds it
        if not publish(orders, order):
            break
        count += 1
    if count:
        log.info("outbox relayed", extra={"events": count})
    return count


def _priced_items(orders: OrdersDependencies, cart: dict[str, Any]) -> list[OrderItem]:
    """Every line of the cart at the catalog's current price (not the cart's)."""
    items = []
    for line in cart.get("items", []):
        product_id = str(line["productId"])
        if not _PRODUCT_PATH.fullmatch(product_id):
            raise Problem(422, f"The cart holds an unknown product {product_id}.")
        # Catalog's internal read: its table, read consistently, never its cache, which can
        # be behind a price change for as long as an entry lives.
        reply = orders.catalog.get(f"/internal/catalog/products/{product_id}")
        if reply.status == 404:
            raise Problem(
                422,
                f"{line.get('name', product_id)} is no longer sold; remove it from the cart.",
                type_="product-unavailable",
                productId=product_id,
            )
        if reply.status != 200:
            raise Problem(502, f"The catalog answered {reply.status} for {product_id}.")
        product = reply.json()
        quantity = int(line["quantity"])
        unit = Money.model_validate(product["price"])
        items.append(
            OrderItem(
                productId=product_id,
                name=product["name"],
                quantity=quantity,
                unitPrice=unit,
                lineTotal=Money(amount=unit.amount * quantity, currency=unit.currency),
            )
        )
    return items


def _shown(money: Money) -> str:
    return f"{money.amount / 100:.2f} {money.currency}"


def _cart_checked_out() -> Problem:
    # Another buyer's order id is their link to it: never in this answer.
    return Problem(
        409,
        "This cart has been checked out already; start a new cart for another order.",
        type_="cart-checked-out",
    )


def _keyed(secret: bytes, purpose: str, text: str) -> str:
    """HMAC-SHA256 of `text` under the server's secret, for one `purpose`: nobody without the
    secret can compute it, so a stored hash gives away neither a key nor a card number."""
    return hmac.new(secret, f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def _canonical(body: Checkout) -> str:
    """The request as canonical JSON, its card reduced to the last four digits (all we keep)."""
    request = body.model_dump(mode="json", exclude_none=True)
    request["payment"] = {"cardLast4": body.payment.card[-4:]}
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _replay(orders: OrdersDependencies, key_id: str, fingerprint: str) -> Placed | None:
    """The order an earlier checkout with this key made, or None if there was none."""
    earlier = orders.store.checkout_of(key_id)
    if earlier is None:
        return None
    if not hmac.compare_digest(earlier.fingerprint, fingerprint):
        raise Problem(
            422,
            "This Idempotency-Key was used for a different checkout; use a new key.",
            type_="idempotency-key-reused",
        )
    # The first attempt was cut short before it published; unless it is publishing right now.
    if earlier.awaits_publication and orders.store.lease(earlier.order.id):
        publish(orders, earlier.order)
    return Placed(earlier.order, replayed=True)
