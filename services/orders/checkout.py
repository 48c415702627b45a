"""Checkout, the business of orders: a cart becomes an order.

`place_order` reads the cart, prices every line from catalog, writes the order (its id derived
from the Idempotency-Key, written only if new, with a hash of the request), empties the cart and
publishes OrderPlaced. `relay_unpublished` publishes the events a failure kept in the outbox.
The routes (`routes.py`) only parse the request, call one of these and render the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

import redis

from emporium.outbound import ServiceClient
from emporium.problems import Problem
from orders.events import EventPublisher
from orders.models import Checkout, Money, Order, OrderItem, StatusChange
from orders.store import OrdersStore, now_iso

log = logging.getLogger(__name__)

_PRODUCT_PATH = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Orders:
    """What checkout works with; made by `create_app`."""

    store: OrdersStore
    cart: ServiceClient
    catalog: ServiceClient
    events: EventPublisher


@dataclass(frozen=True)
class Placed:
    """The order a checkout answers with; `replayed` when an earlier checkout made it."""

    order: Order
    replayed: bool


def place_order(orders: Orders, key: str, body: Checkout) -> Placed:
    """Place the order of `body`'s cart, once per Idempotency-Key `key`."""
    order_id = _order_id(key)
    request_hash = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    replayed = _replay(orders, order_id, request_hash)
    if replayed is not None:
        return replayed

    reply = orders.cart.get(f"/api/cart/carts/{body.cartId}")
    if reply.status == 404:
        raise Problem(422, f"There is no cart {body.cartId}.", type_="unknown-cart")
    if reply.status != 200:
        raise Problem(502, f"The cart service answered {reply.status}.")
    items = _priced_items(orders, reply.json())
    if not items:
        raise Problem(422, "The cart is empty.", type_="empty-cart")

    created = now_iso()
    order = Order(
        id=order_id,
        status="PLACED",
        items=items,
        total=Money(amount=sum(item.lineTotal.amount for item in items), currency="USD"),
        customer=body.customer,
        paymentLast4=body.payment.card[-4:],
        createdAt=created,
        statusHistory=[StatusChange(status="PLACED", at=created)],
    )
    if not orders.store.create_order(order, request_hash):
        # The same key won a race a moment ago: answer with its order.
        replayed = _replay(orders, order_id, request_hash)
        if replayed is None:
            raise Problem(409, "A checkout with this Idempotency-Key is in progress; retry.")
        return replayed

    cart_emptied = orders.cart.request("DELETE", f"/api/cart/carts/{body.cartId}")
    if cart_emptied.status not in (204, 404):
        log.warning(
            "cart not emptied", extra={"cartId": body.cartId, "status": cart_emptied.status}
        )
    publish(orders, order)
    return Placed(order, replayed=False)


def publish(orders: Orders, order: Order) -> None:
    """Publish OrderPlaced and take the order out of the outbox. A failure leaves it there
    for the relay (`relay_unpublished`), so the event is late, never lost."""
    try:
        orders.events.publish_order_placed(order)
    except redis.RedisError as error:
        log.warning(
            "event not published; the relay retries",
            extra={"orderId": order.id, "error": str(error)},
        )
        return
    orders.store.mark_published(order.id)


def relay_unpublished(orders: Orders) -> None:
    for order in orders.store.unpublished():
        publish(orders, order)


def _priced_items(orders: Orders, cart: dict[str, Any]) -> list[OrderItem]:
    """Every line of the cart at the catalog's current price."""
    items = []
    for line in cart.get("items", []):
        product_id = str(line["productId"])
        if not _PRODUCT_PATH.fullmatch(product_id):
            raise Problem(422, f"The cart holds an unknown product {product_id}.")
        reply = orders.catalog.get(f"/api/catalog/products/{product_id}")
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


def _order_id(key: str) -> str:
    """The id of the order a checkout with this Idempotency-Key makes: the same key, the same
    order. The key cannot be recovered from the id."""
    return "ord-" + hashlib.sha256(f"checkout:{key}".encode()).hexdigest()[:24]


def _replay(orders: Orders, order_id: str, request_hash: str) -> Placed | None:
    """The order an earlier checkout with this key made, or None if there was none."""
    earlier = orders.store.checkout_of(order_id)
    if earlier is None:
        return None
    if not hmac.compare_digest(earlier.request_hash, request_hash):
        raise Problem(
            422,
            "This Idempotency-Key was used for a different checkout; use a new key.",
            type_="idempotency-key-reused",
        )
    if earlier.awaits_publication:
        publish(orders, earlier.order)  # the first attempt was cut short before it published
    return Placed(earlier.order, replayed=True)
