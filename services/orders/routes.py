"""The orders HTTP API: /api/orders for shoppers, /internal/orders for fulfillment."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

import redis
from flask import Blueprint, Response, current_app, request

from emporium.api import Api, json_response
from emporium.outbound import ServiceClient
from emporium.pagination import decode_cursor, encode_cursor
from emporium.problems import Problem
from orders.events import EventPublisher
from orders.models import (
    IDEMPOTENCY_KEY,
    ORDER_ID,
    Checkout,
    ListOrdersQuery,
    Money,
    Order,
    OrderItem,
    OrderPage,
    StatusChange,
    StatusUpdate,
)
from orders.store import NotFoundError, OrdersStore, TransitionError, now_iso

log = logging.getLogger(__name__)

api = Api(
    "orders",
    prefix="/api/orders",
    title="Emporium orders",
    version="1.0.0",
    description="Checkout and orders. A checkout needs an Idempotency-Key header.",
)
internal = Api(
    "orders_internal",
    prefix="/internal/orders",
    title="Emporium orders (internal)",
    version="1.0.0",
    description="Status changes, for the fulfillment worker only; not routed by the edge.",
    bearer_from="INTERNAL_TOKEN",
)

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)
_PRODUCT_PATH = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_POSITION = re.compile(r"[0-9T:.Z-]{10,40}#" + ORDER_ID)  # createdAt#id, see store.orders_of


@dataclass(frozen=True)
class Orders:
    """What the routes work with; made by `create_app`."""

    store: OrdersStore
    cart: ServiceClient
    catalog: ServiceClient
    events: EventPublisher


def _orders() -> Orders:
    orders: Orders = current_app.extensions["orders"]
    return orders


def _order_response(order: Order, status: int = 200, **headers: str) -> Response:
    return json_response(order, status, headers)


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


def _priced_items(orders: Orders, cart: dict[str, object]) -> list[OrderItem]:
    """Every line of the cart at the catalog's current price."""
    items = []
    for line in cart.get("items", []):  # type: ignore[attr-defined]
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


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise Problem(428, "A checkout needs an Idempotency-Key header (a fresh UUID per order).")
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(400, "The Idempotency-Key must be 8 to 128 letters, digits or _.:-")
    return key


def _order_id(key: str) -> str:
    """The id of the order a checkout with this Idempotency-Key makes: the same key, the same
    order. The key cannot be recovered from the id."""
    return "ord-" + hashlib.sha256(f"checkout:{key}".encode()).hexdigest()[:24]


def _replay(orders: Orders, order_id: str, request_hash: str) -> Response | None:
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
    return _order_response(earlier.order, 201, **{"Idempotent-Replayed": "true"})


@api.post(
    "/orders",
    summary="Check out a cart: place an order",
    body=Checkout,
    response=Order,
    status=201,
    errors=(400, 409, 428, 503),
    headers={"Idempotency-Key": "A fresh UUID per checkout; resend it on retries"},
)
def place_order(body: Checkout) -> Response:
    orders = _orders()
    order_id = _order_id(_idempotency_key())
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
    return _order_response(order, 201, Location=f"{api.prefix}/orders/{order.id}")


@api.get("/orders/<order_id>", summary="Get an order", response=Order, path={"order_id": ORDER_ID})
def get_order(order_id: str) -> Response:
    order = _orders().store.get_order(order_id)
    if order is None:
        raise Problem(404, f"There is no order {order_id}.", type_="not-found")
    return _order_response(order)


@api.get(
    "/orders",
    summary="A customer's orders, newest first",
    query=ListOrdersQuery,
    response=OrderPage,
    errors=(400,),
)
def list_orders(query: ListOrdersQuery) -> Response:
    after = decode_cursor(query.cursor, query.email, _POSITION) if query.cursor else None
    items, last = _orders().store.orders_of(query.email, query.limit, after)
    page = OrderPage(items=items, nextCursor=encode_cursor(last, query.email) if last else None)
    return json_response(page)


@internal.put(
    "/<order_id>/status",
    summary="Move an order to its next status",
    body=StatusUpdate,
    response=Order,
    path={"order_id": ORDER_ID},
    secured=True,
    errors=(409,),
)
def change_status(order_id: str, body: StatusUpdate) -> Response:
    try:
        order, changed = _orders().store.change_status(order_id, body.status)
    except NotFoundError:
        raise Problem(404, f"There is no order {order_id}.", type_="not-found") from None
    except TransitionError as error:
        raise Problem(
            409,
            f"An order that is {error.current} cannot become {body.status}.",
            type_="invalid-transition",
            currentStatus=error.current,
        ) from None
    if changed:
        log.info("order status changed", extra={"orderId": order_id, "status": body.status})
    return _order_response(order)


def blueprints() -> list[Blueprint]:
    return [api.blueprint, internal.blueprint]
