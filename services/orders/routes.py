"""The orders HTTP API: /api/orders for shoppers, /internal/orders for fulfillment.

HTTP only: each route parses the request, calls one function of `checkout` or the store, and
renders the answer."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, current_app, request

from emporium.api import Api, Header, json_response
from emporium.oidc import IdTokenVerifier
from emporium.pagination import Cursors
from emporium.problems import Problem
from orders import checkout
from orders.checkout import OrdersDependencies
from orders.models import (
    IDEMPOTENCY_KEY,
    ORDER_ID,
    Checkout,
    ListOrdersQuery,
    Order,
    OrderPage,
    StatusUpdate,
)
from orders.store import NotFoundError, TransitionError

log = logging.getLogger(__name__)

api = Api(
    "orders",
    prefix="/api/orders",
    title="Emporium orders",
    version="1.0.0",
    description=(
        "Checkout and orders. A checkout needs an Idempotency-Key header; listing a customer's"
        " orders needs their OpenID Connect ID token (Authorization: Bearer <token>); an order"
        " is readable by its id alone."
    ),
    errors=(503,),  # DynamoDB, Redis or the issuer's keys out of reach
)
internal = Api(
    "orders_internal",
    prefix="/internal/orders",
    title="Emporium orders (internal)",
    version="1.0.0",
    description="Status changes, for the fulfillment worker only; not routed by the edge.",
    bearer_from="INTERNAL_TOKEN",
    errors=(503,),  # DynamoDB out of reach
)

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)
_POSITION = re.compile(r"[0-9T:.Z-]{10,40}#" + ORDER_ID)  # createdAt#id, see store.orders_of


def _orders() -> OrdersDependencies:
    orders: OrdersDependencies = current_app.extensions["orders"]
    return orders


def _customer_email() -> str:
    """The signed-in customer's email, from the request's ID token (401 or 503 otherwise)."""
    verifier: IdTokenVerifier = current_app.extensions["orders.id_tokens"]
    return verifier.identity().email


def _order_response(order: Order, status: int = 200, **headers: str) -> Response:
    return json_response(order, status, headers)


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise Problem(428, "A checkout needs an Idempotency-Key header (a fresh UUID per order).")
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(400, "The Idempotency-Key must be 8 to 128 letters, digits or _.:-")
    return key


@api.post(
    "/orders",
    summary="Check out a cart: place an order",
    body=Checkout,
    response=Order,
    status=201,
    # 409: cart-checked-out, total-changed (with `total`), checkout-in-progress; 502: cart or
    # catalog answered what they never should; 503: a dependency out of reach, nothing written.
    errors=(400, 409, 428, 502),
    headers={
        "Idempotency-Key": Header(
            "A fresh UUID per checkout; resend it on retries", pattern=IDEMPOTENCY_KEY
        )
    },
)
def place_order(body: Checkout) -> Response:
    placed = checkout.place_order(_orders(), _idempotency_key(), body)
    if placed.replayed:
        return _order_response(placed.order, 201, **{"Idempotent-Replayed": "true"})
    return _order_response(placed.order, 201, Location=f"{api.prefix}/orders/{placed.order.id}")


@api.get(
    "/orders/<order_id>",
    summary="Get an order: its id is the buyer's link to it, no sign-in needed",
    response=Order,
    path={"order_id": ORDER_ID},
)
def get_order(order_id: str) -> Response:
    order = _orders().store.get_order(order_id)
    if order is None:
        raise Problem(404, f"There is no order {order_id}.", type_="not-found")
    return _order_response(order)


@api.get(
    "/orders",
    summary="The signed-in customer's orders, newest first (Authorization: Bearer <ID token>)",
    query=ListOrdersQuery,
    response=OrderPage,
    errors=(400, 401),
)
def list_orders(query: ListOrdersQuery) -> Response:
    email = _customer_email()
    cursors: Cursors = current_app.extensions["orders.cursors"]
    after = cursors.decode(query.cursor, email.lower(), _POSITION) if query.cursor else None
    items, last = _orders().store.orders_of(email, query.limit, after)
    next_cursor = cursors.encode(last, email.lower()) if last else None
    return json_response(OrderPage(items=items, nextCursor=next_cursor))


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
