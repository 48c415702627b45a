"""The cart's HTTP API, served under /api/cart."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from flask import Response, current_app
from pydantic import ValidationError

from cart.models import CART_ID, Cart, CatalogProduct, ItemWrite
from cart.store import CartStore, ConflictError, NotFoundError, StoredCart, TooManyLinesError
from emporium.api import Api, json_response
from emporium.models import PRODUCT_ID
from emporium.outbound import DependencyUnavailableError, ServiceClient
from emporium.problems import Problem

log = logging.getLogger(__name__)

api = Api(
    "cart",
    prefix="/api/cart",
    title="Emporium cart",
    version="1.0.0",
    description="Shopping carts of the Emporium store. Prices and products come from the catalog.",
    errors=(503,),  # DynamoDB out of reach
)

_CART = {"cart_id": CART_ID}
_CART_ITEM = {"cart_id": CART_ID, "product_id": PRODUCT_ID}


@dataclass(frozen=True)
class CartDependencies:
    """What the routes work with; made by `create_app`."""

    store: CartStore
    catalog: ServiceClient


def _carts() -> CartDependencies:
    carts: CartDependencies = current_app.extensions["cart"]
    return carts


def _not_found(cart_id: str) -> Problem:
    return Problem(404, f"There is no cart {cart_id}, or it has expired.", type_="not-found")


def _read(cart_id: str) -> StoredCart:
    cart = _carts().store.get(cart_id)
    if cart is None:
        raise _not_found(cart_id)
    return cart


def _change_problem(error: Exception, cart_id: str) -> Problem:
    if isinstance(error, NotFoundError):
        return _not_found(cart_id)
    if isinstance(error, TooManyLinesError):
        detail = f"A cart holds at most {error.max_lines} different products."
        return Problem(422, detail, type_="too-many-lines", maxLines=error.max_lines)
    if isinstance(error, ConflictError):
        detail = "The cart was changed by other requests at the same time; try again."
        return Problem(409, detail, type_="conflict", headers={"Retry-After": "1"})
    raise error


def _product(product_id: str) -> CatalogProduct:
    """The product as the catalog has it now. Raises a 422 problem if the catalog does not know
    it, and a 503 (DependencyUnavailableError) if the catalog cannot say."""
    catalog = _carts().catalog
    reply = catalog.get(f"/api/catalog/products/{product_id}")
    if reply.status == 404:
        raise Problem(422, f"The catalog has no product {product_id}.", type_="unknown-product")
    if reply.status == 200:
        try:
            return CatalogProduct.model_validate_json(reply.body)
        except ValidationError as error:
            log.warning("unexpected catalog reply", extra={"error": str(error)})
    else:
        log.warning("unexpected catalog reply", extra={"status": reply.status})
    raise DependencyUnavailableError(catalog.service, 1)


@api.post("/carts", summary="Create an empty cart", response=Cart, status=201)
def create_cart() -> Response:
    cart = _carts().store.create("crt-" + secrets.token_hex(12)).view()
    return json_response(cart, 201, {"Location": f"{api.prefix}/carts/{cart.id}"})


@api.get("/carts/<cart_id>", summary="Get a cart", response=Cart, path=_CART)
def get_cart(cart_id: str) -> Cart:
    return _read(cart_id).view()


@api.put(
    "/carts/<cart_id>/items/<product_id>",
    summary="Add a product at the catalog's price, or change its quantity (keeping its price)",
    body=ItemWrite,
    response=Cart,
    path=_CART_ITEM,
    errors=(409,),
)
def put_item(cart_id: str, product_id: str, body: ItemWrite) -> Cart:
    carts = _carts()
    current = _read(cart_id)
    product = _product(product_id)  # before any write: a catalog failure changes nothing
    try:
        return carts.store.set_quantity(cart_id, product, body.quantity, current).view()
    except (NotFoundError, TooManyLinesError, ConflictError) as error:
        raise _change_problem(error, cart_id) from None


@api.delete(
    "/carts/<cart_id>/items/<product_id>",
    summary="Remove a product from the cart (removing one that is not there is fine)",
    response=Cart,
    path=_CART_ITEM,
    errors=(409,),
)
def delete_item(cart_id: str, product_id: str) -> Cart:
    try:
        return _carts().store.remove(cart_id, product_id).view()
    except (NotFoundError, ConflictError) as error:
        raise _change_problem(error, cart_id) from None


@api.delete("/carts/<cart_id>", summary="Delete a cart (idempotent)", status=204, path=_CART)
def delete_cart(cart_id: str) -> Response:
    _carts().store.delete(cart_id)
    return Response(status=204)
