"""The catalog's DynamoDB table.

One table holds products and categories (`pk` = `product#<id>` or `category#<id>`):
- GSI `byCategory` (`category`, `id`): products of one category, in id order;
- GSI `byKind` (`kind`, `id`): every product, or every category, in id order.
A category item keeps its `productCount`, updated in the same transaction as the product write,
so the count never drifts. Every product write is conditional on the version the caller read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from catalog.models import Category, Product, ProductWrite
from emporium.dynamodb import DynamoDBSettings, ensure_table, from_item, probe_table, to_item
from emporium.models import Money

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

log = logging.getLogger(__name__)

BY_CATEGORY = "byCategory"
BY_KIND = "byKind"
CALLS_PER_WRITE = 2  # a replace or a delete reads the current version, then writes


def longest_write_seconds(settings: DynamoDBSettings) -> float:
    """The longest a product write can take with these settings: each of its calls making every
    attempt, each to both timeouts, after the SDK's longest backoff (standard mode: up to
    2^i seconds, capped at 20, plus up to 5 for a service's retry-after)."""
    attempt = settings.connect_timeout + settings.read_timeout
    backoffs = sum(min(2.0**retry, 20.0) + 5.0 for retry in range(settings.max_attempts - 1))
    return CALLS_PER_WRITE * (settings.max_attempts * attempt + backoffs)


class NotFoundError(Exception):
    pass


class StaleVersionError(Exception):
    def __init__(self, current: int | None) -> None:
        super().__init__(f"current version is {current}")
        self.current = current


class UnknownCategoryError(Exception):
    pass


class AlreadyExistsError(Exception):
    pass


def _product_key(product_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"product#{product_id}"}}


def _category_key(category_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"category#{category_id}"}}


def _product_item(product_id: str, write: ProductWrite, version: int) -> dict[str, Any]:
    return {
        **_product_key(product_id),
        **to_item(
            {
                "kind": "product",
                "id": product_id,
                "category": write.category,
                "name": write.name,
                "description": write.description,
                "priceAmount": write.price.amount,
                "priceCurrency": write.price.currency,
                "imageUrl": write.imageUrl,
                "tags": list(write.tags),
                "version": version,
            }
        ),
    }


def _product(item: Mapping[str, Any]) -> Product:
    data = from_item(item)
    return Product(
        id=data["id"],
        name=data["name"],
        description=data["description"],
        category=data["category"],
        price=Money(amount=int(data["priceAmount"]), currency=data["priceCurrency"]),
        imageUrl=data["imageUrl"],
        tags=list(data["tags"]),
        version=int(data["version"]),
    )


def _count_change(category: str, delta: int) -> TransactWriteItemTypeDef:
    return {
        "Update": {
            "TableName": "",  # set by _transact
            "Key": _category_key(category),
            "UpdateExpression": "ADD productCount :delta",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }
    }


def _cancellation_codes(error: ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [reason.get("Code", "None") for reason in reasons]


@dataclass(frozen=True)
class CatalogStore:
    client: Callable[[], DynamoDBClient]  # per process: see emporium.background.PerProcess
    table: str

    def ping(self) -> None:
        probe_table(self.client(), self.table, "pk")

    def create_table(self) -> None:
        ensure_table(
            self.client(),
            self.table,
            key="pk",
            indexes={BY_CATEGORY: ("category", "id"), BY_KIND: ("kind", "id")},
        )

    # Reads

    def get_product(self, product_id: str) -> Product | None:
        # Consistent, so a cache fill right after a write never stores the old version.
        response = self.client().get_item(
            TableName=self.table, Key=_product_key(product_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _product(item) if item else None

    def list_products(
        self, category: str | None, limit: int, after_id: str | None
    ) -> tuple[list[Product], bool]:
        """One page in id order, starting after `after_id`; True when more pages follow."""
        if category is None:
            index, partition, value = BY_KIND, "kind", "product"
        else:
            index, partition, value = BY_CATEGORY, "category", category
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#p = :v",
            "ExpressionAttributeNames": {"#p": partition},
            "ExpressionAttributeValues": {":v": {"S": value}},
            "Limit": limit + 1,  # one more than asked tells whether another page exists
        }
        if after_id is not None:
            query["ExclusiveStartKey"] = {
                **_product_key(after_id),
                "id": {"S": after_id},
                partition: {"S": value},
            }
        items = self.client().query(**query)["Items"]
        return [_product(item) for item in items[:limit]], len(items) > limit

    def list_categories(self) -> list[Category]:
        paginator = self.client().get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            IndexName=BY_KIND,
            KeyConditionExpression="kind = :v",
            ExpressionAttributeValues={":v": {"S": "category"}},
        )
        categories = []
        for page in pages:
            for item in page["Items"]:
                data = from_item(item)
                categories.append(
                    Category(
                        id=data["id"], name=data["name"], productCount=int(data["productCount"])
                    )
                )
        return categories

    # Writes

    def put_category(self, category_id: str, name: str) -> bool:
        """Add a category unless it exists; True when it was added."""
        try:
            self.client().put_item(
                TableName=self.table,
                Item={
                    **_category_key(category_id),
                    **to_item(
                        {"kind": "category", "id": category_id, "name": name, "productCount": 0}
                    ),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def create_product(self, product_id: str, write: ProductWrite) -> Product:
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": "",
                "Item": _product_item(product_id, write, version=1),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        codes = self._transact([put, _count_change(write.category, +1)])
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise AlreadyExistsError(product_id)
            raise UnknownCategoryError(write.category)
        return self._as_product(product_id, write, 1)

    def _current(self, product_id: str, expected: int | None) -> tuple[Product, int]:
        """The product as stored and the version a write of it expects: `expected`, or the
        current version when None. Raises NotFoundError, or StaleVersionError when `expected`
        is not the current version."""
        current = self.get_product(product_id)
        if current is None:
            raise NotFoundError(product_id)
        if expected is None:
            expected = current.version
        if current.version != expected:
            raise StaleVersionError(current.version)
        return current, expected

    def replace_product(
        self, product_id: str, write: ProductWrite, expected: int | None
    ) -> Product:
        """Replace the product if its version is still `expected` (None: the current one)."""
        current, expected = self._current(product_id, expected)
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": "",
                "Item": _product_item(product_id, write, version=expected + 1),
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
            }
        }
        items = [put]
        if write.category != current.category:
            items += [_count_change(current.category, -1), _count_change(write.category, +1)]
        codes = self._transact(items)
        if codes:
            if codes[0] == "ConditionalCheckFailed":
                raise StaleVersionError(None)
            raise UnknownCategoryError(write.category)
        return self._as_product(product_id, write, expected + 1)

    def delete_product(self, product_id: str, expected: int | None) -> Product:
        """Delete the product if its version is still `expected` (None: the current one)."""
        current, expected = self._current(product_id, expected)
        delete: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": "",
                "Key": _product_key(product_id),
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
            }
        }
        codes = self._transact([delete, _count_change(current.category, -1)])
        if codes:
            raise StaleVersionError(None)
        return current

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> list[str]:
        """Run the items as one transaction; on a failed condition, the code of each item."""
        for item in items:
            for action in item.values():
                action["TableName"] = self.table  # type: ignore[index]
        try:
            self.client().transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                codes = _cancellation_codes(error)
                if "ConditionalCheckFailed" in codes:
                    return codes
            raise
        return []

    @staticmethod
    def _as_product(product_id: str, write: ProductWrite, version: int) -> Product:
        return Product(id=product_id, version=version, **write.model_dump())
