"""The cart's DynamoDB table.

One item per cart (key `id`) holds its lines in the order they were added, a `version` and
`expiresAt` (epoch seconds), the table's TTL attribute. DynamoDB deletes expired items lazily, so
reads treat a cart past `expiresAt` as gone. Every change is a read, the change applied, and a
write conditional on the version read; a write that loses a race reads again and reapplies
its change, so concurrent changes of one cart never lose a line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cart.models import Cart, CartItem, CatalogProduct
from emporium.dynamodb import ensure_table, from_item, probe_table, to_item
from emporium.models import Money

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

TTL_ATTRIBUTE = "expiresAt"


class NotFoundError(Exception):
    """The cart does not exist, or has expired."""


class TooManyLinesError(Exception):
    def __init__(self, max_lines: int) -> None:
        super().__init__(f"a cart holds at most {max_lines} lines")
        self.max_lines = max_lines


class ConflictError(Exception):
    """The cart kept changing under the write, more times than the store retries."""


@dataclass(frozen=True)
class StoredCart:
    id: str
    version: int
    items: list[CartItem]
    expires_at: int  # epoch seconds

    def view(self) -> Cart:
        return Cart.of(self.id, self.items, self.expires_at)


Change = Callable[[list[CartItem]], list[CartItem]]


def _key(cart_id: str) -> dict[str, Any]:
    return {"id": {"S": cart_id}}


def _line(item: CartItem) -> dict[str, Any]:
    return {
        "productId": item.productId,
        "name": item.name,
        "quantity": item.quantity,
        "unitPrice": item.unitPrice.amount,
        "currency": item.unitPrice.currency,
    }


def _item_of_line(line: Mapping[str, Any]) -> CartItem:
    return CartItem.priced(
        line["productId"],
        line["name"],
        int(line["quantity"]),
        Money(amount=int(line["unitPrice"]), currency=line["currency"]),
    )


def _stored(item: Mapping[str, Any]) -> StoredCart:
    data = from_item(item)
    return StoredCart(
        id=data["id"],
        version=int(data["version"]),
        items=[_item_of_line(line) for line in data["lines"]],
        expires_at=int(data[TTL_ATTRIBUTE]),
    )


@dataclass(frozen=True)
class CartStore:
    client: Callable[[], DynamoDBClient]  # per process: see emporium.dynamodb.PerProcess
    table: str
    ttl_seconds: int
    max_lines: int
    attempts: int = 5  # writes per change before giving up on a cart that keeps changing

    def ping(self) -> None:
        probe_table(self.client(), self.table, "id")

    def create_table(self) -> None:
        ensure_table(self.client(), self.table, key="id", ttl_attribute=TTL_ATTRIBUTE)

    def _expiry(self) -> int:
        return int(time.time()) + self.ttl_seconds

    def create(self, cart_id: str) -> StoredCart:
        cart = StoredCart(cart_id, version=1, items=[], expires_at=self._expiry())
        if not self._put(cart, expected=None):
            raise ConflictError(cart_id)  # ids are random: a clash is as good as impossible
        return cart

    def get(self, cart_id: str) -> StoredCart | None:
        """The cart, or None when there is none or it has expired."""
        response = self.client().get_item(
            TableName=self.table, Key=_key(cart_id), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        cart = _stored(item)
        return cart if cart.expires_at > time.time() else None

    def set_quantity(
        self,
        cart_id: str,
        product: CatalogProduct,
        quantity: int,
        current: StoredCart | None = None,
    ) -> StoredCart:
        """Add `product` at its price, or change the quantity of its line (keeping the price
        the line was added at). `current` is the cart as the caller already read it."""

        def change(items: list[CartItem]) -> list[CartItem]:
            for index, item in enumerate(items):
                if item.productId == product.id:
                    items[index] = CartItem.priced(
                        item.productId, item.name, quantity, item.unitPrice
                    )
                    return items
            if len(items) >= self.max_lines:
                raise TooManyLinesError(self.max_lines)
            return [*items, CartItem.priced(product.id, product.name, quantity, product.price)]

        return self._update(cart_id, change, current)

    def remove(self, cart_id: str, product_id: str) -> StoredCart:
        """Remove the product's line; a line that is not there is already removed."""

        def change(items: list[CartItem]) -> list[CartItem]:
            return [item for item in items if item.productId != product_id]

        return self._update(cart_id, change)

    def delete(self, cart_id: str) -> None:
        """Delete the cart; deleting one that does not exist is done already."""
        self.client().delete_item(TableName=self.table, Key=_key(cart_id))

    def _update(
        self, cart_id: str, change: Change, current: StoredCart | None = None
    ) -> StoredCart:
        """Apply `change` to the cart's lines and write them if the cart is still the version
        read; otherwise read it again and retry. Every write extends the expiry."""
        for attempt in range(self.attempts):
            if current is None:
                current = self.get(cart_id)
                if current is None:
                    raise NotFoundError(cart_id)
            updated = StoredCart(
                cart_id,
                version=current.version + 1,
                items=change(list(current.items)),
                expires_at=self._expiry(),
            )
            if self._put(updated, expected=current.version):
                return updated
            log.info(
                "cart changed under the write", extra={"cart": cart_id, "attempt": attempt + 1}
            )
            current = None
        raise ConflictError(cart_id)

    def _put(self, cart: StoredCart, *, expected: int | None) -> bool:
        """Write the whole cart if it is still at version `expected` (None: if there is no cart
        with its id); False when it is not."""
        item = {
            "id": cart.id,
            "version": cart.version,
            "lines": [_line(item) for item in cart.items],
            TTL_ATTRIBUTE: cart.expires_at,
        }
        serialized = to_item(item)
        try:
            if expected is None:
                self.client().put_item(
                    TableName=self.table,
                    Item=serialized,
                    ConditionExpression="attribute_not_exists(id)",
                )
            else:
                # A cart deleted since it was read has no version: the condition fails, and the
                # retry finds no cart, rather than bringing it back.
                self.client().put_item(
                    TableName=self.table,
                    Item=serialized,
                    ConditionExpression="version = :expected",
                    ExpressionAttributeValues={":expected": {"N": str(expected)}},
                )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
