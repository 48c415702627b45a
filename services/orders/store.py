"""The orders table.

One table holds the orders and what keeps a checkout from happening twice:
- `order#<id>`: an order; its id is random;
- `idempotency#<keyed hash of the Idempotency-Key>`: the order a checkout with that key made
  and the keyed fingerprint of its request, so a retried checkout finds its order instead of
  making a second one; the key is hashed with the server's secret, so neither it nor the
  order's id can be worked out from the table or from each other;
- `cart#<cartId>`: the claim of a checked-out cart, naming its order, so that one cart becomes
  at most one order, whatever the keys and however many checkouts race;
- the order, its idempotency item and its cart's claim are written in one transaction, each
  only if new: all three or none;
- GSI `byEmail` (`email`, `createdKey` = `<createdAt>#<id>`): a customer's orders, newest first;
  `email` is the customer's lowercased, so an address matches whatever its case;
- GSI `outbox` (`outbox`, `id`): sparse; an order is in it until its OrderPlaced event has
  been published, so a relay can publish what a failure left behind. Whoever publishes an
  order's event first leases it (`outboxLeaseUntil`, epoch milliseconds, set only if absent or
  expired), so however many relays run, each attempt publishes it once; checkout writes the
  order with the lease already taken, for its own publication.
Only this service writes this table. Status changes are conditional on the current status.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from emporium.dynamodb import ensure_table, from_item, probe_table, to_item, to_value
from orders.models import Order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

BY_EMAIL = "byEmail"
OUTBOX = "outbox"
OUTBOX_LEASE_SECONDS = 30.0  # far longer than one publication; a crashed publisher's order waits

# Which status each status may follow.
PREDECESSOR = {"PAID": "PLACED", "PAYMENT_DECLINED": "PLACED", "SHIPPED": "PAID"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NotFoundError(Exception):
    pass


class TransitionError(Exception):
    def __init__(self, current: str) -> None:
        super().__init__(current)
        self.current = current


class Written(enum.Enum):
    """What became of an order's write."""

    CREATED = "created"
    KEY_TAKEN = "key-taken"  # an earlier checkout with the same Idempotency-Key made its order
    CART_TAKEN = "cart-taken"  # the cart was checked out already, with another key
    CONFLICT = "conflict"  # another transaction held an item a moment; worth another try


@dataclass(frozen=True)
class PriorCheckout:
    """An order as an earlier checkout with the same key left it: what a replay needs."""

    order: Order
    fingerprint: str
    awaits_publication: bool


def _order(item: Mapping[str, Any]) -> Order:
    data = from_item(item)
    return Order.model_validate({key: data[key] for key in Order.model_fields})


@dataclass(frozen=True)
class OrdersStore:
    client: Callable[[], DynamoDBClient]
    table: str
    outbox_page: int = 100  # orders per query of the outbox
    clock: Callable[[], float] = time.time  # for the leases

    def _lease_end(self) -> int:
        return round((self.clock() + OUTBOX_LEASE_SECONDS) * 1000)

    def ping(self) -> None:
        probe_table(self.client(), self.table, "pk")

    def create_table(self) -> None:
        ensure_table(
            self.client(),
            self.table,
            key="pk",
            indexes={BY_EMAIL: ("email", "createdKey"), OUTBOX: ("outbox", "id")},
        )

    def create_order(self, order: Order, *, key_id: str, fingerprint: str, cart_id: str) -> Written:
        """Write the order, its idempotency item and its cart's claim in one transaction, each
        only if new."""
        item = {
            "pk": f"order#{order.id}",
            **order.model_dump(),
            "email": order.customer.email.lower(),
            "createdKey": f"{order.createdAt}#{order.id}",
            "outbox": "pending",
            "outboxLeaseUntil": self._lease_end(),  # the checkout publishes it
        }
        idempotency = {
            "pk": f"idempotency#{key_id}",
            "orderId": order.id,
            "fingerprint": fingerprint,
            "createdAt": order.createdAt,
        }
        claim = {"pk": f"cart#{cart_id}", "orderId": order.id, "createdAt": order.createdAt}
        puts = [item, idempotency, claim]
        try:
            self.client().transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item(put),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for put in puts
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # One reason per item, in the order of TransactItems.
            reasons = [
                reason.get("Code", "None")
                for reason in error.response.get("CancellationReasons", [])
            ]
            if len(reasons) != len(puts):
                raise
            _, key_reason, cart_reason = reasons
            if key_reason == "ConditionalCheckFailed":  # first: the same key racing itself
                return Written.KEY_TAKEN
            if cart_reason == "ConditionalCheckFailed":
                return Written.CART_TAKEN
            if "TransactionConflict" in reasons:
                return Written.CONFLICT
            raise  # a random 128-bit id taken, or a reason we do not know: a 500, logged
        return Written.CREATED

    def checkout_of(self, key_id: str) -> PriorCheckout | None:
        """What the checkout with this (keyed) Idempotency-Key left, or None if there was none."""
        idempotency = self._get(f"idempotency#{key_id}")
        if idempotency is None:
            return None
        order_id = idempotency["orderId"]["S"]
        item = self._item(order_id)
        if item is None:  # written in one transaction with it: never
            raise NotFoundError(order_id)
        return PriorCheckout(_order(item), idempotency["fingerprint"]["S"], "outbox" in item)

    def cart_checked_out(self, cart_id: str) -> bool:
        return self._get(f"cart#{cart_id}") is not None

    def _item(self, order_id: str) -> dict[str, Any] | None:
        return self._get(f"order#{order_id}")

    def _get(self, pk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = (
            self.client()
            .get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True)
            .get("Item")
        )
        return item

    def get_order(self, order_id: str) -> Order | None:
        item = self._item(order_id)
        return _order(item) if item else None

    def orders_of(
        self, email: str, limit: int, after: str | None
    ) -> tuple[list[Order], str | None]:
        """A page of the customer's orders, newest first, and the key to continue after."""
        email = email.lower()
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_EMAIL,
            "KeyConditionExpression": "email = :e",
            "ExpressionAttributeValues": {":e": {"S": email}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after is not None:
            order_id = after.rpartition("#")[2]
            query["ExclusiveStartKey"] = {
                "pk": {"S": f"order#{order_id}"},
                "email": {"S": email},
                "createdKey": {"S": after},
            }
        items = self.client().query(**query)["Items"]
        orders = [_order(item) for item in items[:limit]]
        more = len(items) > limit
        return orders, (f"{orders[-1].createdAt}#{orders[-1].id}" if more else None)

    def lease(self, order_id: str) -> bool:
        """Take the order's outbox lease; False when it is published or another holds it."""
        now = round(self.clock() * 1000)
        try:
            self.client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"order#{order_id}"}},
                UpdateExpression="SET outboxLeaseUntil = :until",
                ConditionExpression=(
                    "attribute_exists(outbox)"
                    " AND (attribute_not_exists(outboxLeaseUntil) OR outboxLeaseUntil < :now)"
                ),
                ExpressionAttributeValues={
                    ":until": {"N": str(self._lease_end())},
                    ":now": {"N": str(now)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_published(self, order_id: str) -> None:
        self.client().update_item(
            TableName=self.table,
            Key={"pk": {"S": f"order#{order_id}"}},
            UpdateExpression="REMOVE outbox, outboxLeaseUntil",
        )

    def unpublished(self) -> Iterator[Order]:
        """The orders of the outbox not leased now, page after page until the last."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": OUTBOX,
            "KeyConditionExpression": "outbox = :p",
            "ExpressionAttributeValues": {":p": {"S": "pending"}},
            "Limit": self.outbox_page,
        }
        while True:
            page = self.client().query(**query)
            now = round(self.clock() * 1000)
            for item in page["Items"]:
                if int(item.get("outboxLeaseUntil", {"N": "0"})["N"]) < now:
                    yield _order(item)
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def change_status(self, order_id: str, status: str) -> tuple[Order, bool]:
        """Move the order to `status`; (order, False) when it already was there."""
        change = {"status": status, "at": now_iso()}
        try:
            item = self.client().update_item(
                TableName=self.table,
                Key={"pk": {"S": f"order#{order_id}"}},
                UpdateExpression="SET #s = :to, statusHistory = list_append(statusHistory, :c)",
                ConditionExpression="#s = :from",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":to": {"S": status},
                    ":from": {"S": PREDECESSOR[status]},
                    ":c": to_value([change]),
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get_order(order_id)
            if current is None:
                raise NotFoundError(order_id) from None
            if current.status == status:
                return current, False  # a repeated transition changes nothing
            raise TransitionError(current.status) from None
        return _order(item), True
