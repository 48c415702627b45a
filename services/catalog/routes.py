"""The catalog's HTTP API: /api/catalog for everyone, /internal/catalog for the other services.

The public reads go through the cache (`catalog.cache`); the internal read of a product goes
to DynamoDB with a consistent read, so a service that prices from it (orders' checkout) sees
the last acknowledged write whatever the cache holds. The edge routes only /api/catalog.
Every admin write runs inside `cache.writing`: when Redis cannot mark the product's entry
dirty first, the write is not made and the answer is 503.
"""

from __future__ import annotations

import re
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, request

from catalog.cache import CacheUnavailableError, ReadThroughCache
from catalog.models import (
    CategoryList,
    ListProductsQuery,
    Product,
    ProductPage,
    ProductWrite,
)
from catalog.store import (
    AlreadyExistsError,
    CatalogStore,
    NotFoundError,
    StaleVersionError,
    UnknownCategoryError,
)
from emporium.api import Api, Header, json_response
from emporium.models import PRODUCT_ID
from emporium.pagination import Cursors
from emporium.problems import Problem, problem_response

api = Api(
    "catalog",
    prefix="/api/catalog",
    title="Emporium catalog",
    version="1.0.0",
    description="Products and categories of the Emporium store. Writes need the admin token.",
    errors=(503,),  # DynamoDB or Redis out of reach
)
internal = Api(
    "catalog_internal",
    prefix="/internal/catalog",
    title="Emporium catalog (internal)",
    version="1.0.0",
    description=(
        "Consistent product reads for the other services, never from the cache; not routed by"
        " the edge. No token: the data is public, and only in-cluster callers reach it."
    ),
    errors=(503,),  # DynamoDB out of reach
)

_ID = re.compile(PRODUCT_ID)
_ETAG = re.compile(r'"([1-9][0-9]{0,9})"')  # If-Match compares strongly: no W/ tags
_MISSING = b""  # the cached answer for a product that does not exist


@dataclass(frozen=True)
class CatalogDependencies:
    """What the routes work with; made by `create_app`."""

    store: CatalogStore
    cache: ReadThroughCache
    cursors: Cursors
    product_ttl: float
    list_ttl: float


def _catalog() -> CatalogDependencies:
    catalog: CatalogDependencies = current_app.extensions["catalog"]
    return catalog


def _json(body: bytes | str, status: int = 200, etag: int | None = None) -> Response:
    return json_response(body, status, {"ETag": f'"{etag}"'} if etag is not None else None)


@api.get(
    "/products",
    summary="List products, optionally of one category, a page at a time",
    query=ListProductsQuery,
    response=ProductPage,
    errors=(400,),
)
def list_products(query: ListProductsQuery) -> Response:
    catalog = _catalog()
    cursors = catalog.cursors
    after = cursors.decode(query.cursor, query.category, _ID) if query.cursor else None

    def load() -> bytes:
        items, more = catalog.store.list_products(query.category, query.limit, after)
        cursor = cursors.encode(items[-1].id, query.category) if more else None
        return ProductPage(items=items, nextCursor=cursor).model_dump_json().encode()

    def key() -> str:
        generation = catalog.cache.generation()
        return catalog.cache.key(
            "products", generation, query.category or "", str(query.limit), after or ""
        )

    return _json(catalog.cache.get_or_load("list", key, load, catalog.list_ttl))


@api.get(
    "/products/<product_id>",
    summary="Get one product",
    response=Product,
    path={"product_id": PRODUCT_ID},
)
def get_product(product_id: str) -> Response:
    catalog = _catalog()

    def load() -> bytes:
        product = catalog.store.get_product(product_id)
        if product is None:
            return _MISSING
        # The version rides in front of the body, so a cached read sets the ETag unparsed.
        return f"{product.version}\n".encode() + product.model_dump_json().encode()

    entry = catalog.cache.get_or_load(
        "product",
        lambda: catalog.cache.key("product", product_id),
        load,
        catalog.product_ttl,
        near=True,  # the key reads nothing from Redis
    )
    if entry == _MISSING:
        raise _no_such_product(product_id)
    version, _, body = entry.partition(b"\n")
    return _json(body, etag=int(version))


@internal.get(
    "/products/<product_id>",
    summary="Get one product as DynamoDB holds it now (a consistent read, never the cache)",
    response=Product,
    path={"product_id": PRODUCT_ID},
)
def get_current_product(product_id: str) -> Response:
    product = _catalog().store.get_product(product_id)
    if product is None:
        raise _no_such_product(product_id)
    return _json(product.model_dump_json(), etag=product.version)


def _no_such_product(product_id: str) -> Problem:
    return Problem(404, f"There is no product {product_id}.", type_="not-found")


@api.get(
    "/categories", summary="List the categories with their product counts", response=CategoryList
)
def list_categories() -> Response:
    catalog = _catalog()

    def load() -> bytes:
        return CategoryList(items=catalog.store.list_categories()).model_dump_json().encode()

    def key() -> str:
        return catalog.cache.key("categories", catalog.cache.generation())

    return _json(catalog.cache.get_or_load("categories", key, load, catalog.list_ttl))


# Admin writes. Each needs the bearer token; replace and delete need If-Match with the version.

_IF_MATCH: dict[str, str | Header] = {
    "If-Match": Header(
        'The version read, as its ETag ("3"); a stale one is 412. * means any version.',
        pattern=r'\*|"[1-9][0-9]{0,9}"',
    )
}


def _expected_version() -> int | None:
    """The version the caller read, or None for `If-Match: *` (whatever version is current)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise Problem(428, 'Send If-Match with the version you read, e.g. If-Match: "3".')
    if header.strip() == "*":
        return None
    match = _ETAG.fullmatch(header.strip())
    if match is None:
        raise Problem(
            412, "If-Match does not name a version of this product.", type_="stale-version"
        )
    return int(match.group(1))


def _writing(product_id: str) -> AbstractContextManager[None]:
    """Marks the product's cache entry dirty around the write (see `catalog.cache`)."""
    cache = _catalog().cache
    return cache.writing([cache.key("product", product_id)])


@api.blueprint.errorhandler(CacheUnavailableError)
def _cache_unavailable(error: CacheUnavailableError) -> Response:
    # Written without its mark, the product could stay stale in other pods' reads.
    return problem_response(
        503,
        "The cache cannot be updated, so nothing was written; try again shortly.",
        type_="dependency-unavailable",
        headers={"Retry-After": "1"},
    )


def _write_problem(error: Exception, product_id: str, category: str | None = None) -> Problem:
    if isinstance(error, NotFoundError):
        return _no_such_product(product_id)
    if isinstance(error, StaleVersionError):
        detail = "The product changed since it was read; read it again and retry."
        return Problem(412, detail, type_="stale-version", currentVersion=error.current)
    if isinstance(error, UnknownCategoryError):
        return Problem(422, f"There is no category {category}.", type_="unknown-category")
    if isinstance(error, AlreadyExistsError):
        return Problem(409, f"A product {product_id} already exists.", type_="conflict")
    raise error


def _product_response(product: Product, status: int = 200) -> Response:
    response = _json(product.model_dump_json(), status=status, etag=product.version)
    if status == 201:
        response.headers["Location"] = f"{api.prefix}/products/{product.id}"
    return response


@api.post(
    "/products",
    summary="Create a product (admin)",
    body=ProductWrite,
    response=Product,
    status=201,
    secured=True,
    errors=(409,),  # an id drawn twice (64 random bits: not expected, but answered)
)
def create_product(body: ProductWrite) -> Response:
    catalog = _catalog()
    product_id = "prd-" + secrets.token_hex(8)
    try:
        with _writing(product_id):
            product = catalog.store.create_product(product_id, body)
    except (UnknownCategoryError, AlreadyExistsError) as error:
        raise _write_problem(error, product_id, body.category) from None
    return _product_response(product, 201)


@api.put(
    "/products/<product_id>",
    summary="Replace a product (admin)",
    body=ProductWrite,
    response=Product,
    secured=True,
    path={"product_id": PRODUCT_ID},
    errors=(412, 428),
    headers=_IF_MATCH,
)
def replace_product(product_id: str, body: ProductWrite) -> Response:
    catalog = _catalog()
    expected = _expected_version()
    try:
        with _writing(product_id):
            product = catalog.store.replace_product(product_id, body, expected)
    except (NotFoundError, StaleVersionError, UnknownCategoryError) as error:
        raise _write_problem(error, product_id, body.category) from None
    return _product_response(product)


@api.delete(
    "/products/<product_id>",
    summary="Delete a product (admin)",
    status=204,
    secured=True,
    path={"product_id": PRODUCT_ID},
    errors=(412, 428),
    headers=_IF_MATCH,
)
def delete_product(product_id: str) -> Response:
    catalog = _catalog()
    expected = _expected_version()
    try:
        with _writing(product_id):
            catalog.store.delete_product(product_id, expected)
    except (NotFoundError, StaleVersionError) as error:
        raise _write_problem(error, product_id) from None
    return Response(status=204)


def blueprints() -> list[Blueprint]:
    return [api.blueprint, internal.blueprint]
