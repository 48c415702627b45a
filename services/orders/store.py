"""The orders table.

One table (`pk` = `order#<id>`) holds the orders:
- an order's id is derived from the Idempotency-Key of its checkout, and the order is written
  only if that id is new, with a hash of the checkout request: a retried checkout finds the
  order instead of making a second one, with one conditional write and no transaction;
- GSI `byEmail` (`email`, `createdKey` = `<createdAt>#<id>`): a customer's orders, newest first;
  `email` is the customer's lowercased, so an address matches whatever its case;
- GSI `outbox` (`outbox`, `id`): sparse; an order is in it until its OrderPlaced event has
  been published, so a relay can publish what a failure left behind.
Only this service writes this table. Status changes are conditional on the current status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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


@dataclass(frozen=True)
class Checkout:
    """An order as its checkout left it: what a replay of that checkout needs."""

    order: Order
    request_hash: str
    awaits_publication: bool


def _order(item: Mapping[str, Any]) -> Order:
    data = from_item(item)
    return Order.model_validate({key: data[key] for key in Order.model_fields})


@dataclass(frozen=True)
class OrdersStore:
    client: Callable[[], DynamoDBClient]
    table: str

    def ping(self) -> None:
        probe_table(self.client(), self.table, "pk")

    def create_table(self) -> None:
        ensure_table(
            self.client(),
            self.table,
            key="pk",
            indexes={BY_EMAIL: ("email", "createdKey"), OUTBOX: ("outbox", "id")},
        )

    def create_order(self, order: Order, request_hash: str) -> bool:
        """Write the order unless its id exists; False if it does (an earlier checkout)."""
        item = {
            "pk": f"order#{order.id}",
            **order.model_dump(),
            "requestHash": request_hash,
            "email": order.customer.email.lower(),
            "createdKey": f"{order.createdAt}#{order.id}",
            "outbox": "pending",
        }
        try:
            self.client().put_item(
                TableName=self.table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def checkout_of(self, order_id: str) -> Checkout | None:
        item = self._item(order_id)
        if item is None:
            return None
        return Checkout(_order(item), item["requestHash"]["S"], "outbox" in item)

    def _item(self, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = (
            self.client()
            .get_item(
                TableName=self.table, Key={"pk": {"S": f"order#{order_id}"}}, ConsistentRead=True
            )
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

    def mark_published(self, order_id: str) -> None:
        self.client().update_item(
            TableName=self.table,
            Key={"pk": {"S": f"order#{order_id}"}},
            UpdateExpression="REMOVE outbox",
        )

    def unpublished(self, limit: int = 25) -> list[Order]:
        items = self.client().query(
            TableName=self.table,
            IndexName=OUTBOX,
            KeyConditionExpression="outbox = :p",
            ExpressionAttributeValues={":p": {"S": "pending"}},
            Limit=limit,
        )["Items"]
        return [_order(item) for item in items]

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
