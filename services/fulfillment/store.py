"""Fulfillment's DynamoDB table: the records that stop a second charge or a second shipment.

One table (`FULFILLMENT_TABLE`, default `emporium-fulfillment`), key `pk`:
- `payment#<orderId>`: the charge decision (`decision`, `chargeId`, `amount`, `currency`, `time`);
- `shipment#<orderId>`: the shipment (`trackingNumber`, `time`).
Each record is written once, by a conditional put (`attribute_not_exists(pk)`), and read back
with a consistent read. A record is never changed or deleted: it is what a redelivered message
finds, so it must outlive anything Redis may lose (an eviction, a failover that drops the last
writes); a DynamoDB write is durable once acknowledged. Only fulfillment uses this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from emporium.dynamodb import ensure_table, from_item, probe_table, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Kind = Literal["payment", "shipment"]


def _key(kind: Kind, order_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{kind}#{order_id}"}}


@dataclass(frozen=True)
class FulfillmentStore:
    client: Callable[[], DynamoDBClient]  # per process: see emporium.background.PerProcess
    table: str

    def ping(self) -> None:
        probe_table(self.client(), self.table, "pk")

    def create_table(self) -> None:
        ensure_table(self.client(), self.table, key="pk")

    def add(self, kind: Kind, order_id: str, fields: Mapping[str, Any]) -> bool:
        """Record `fields` for the order unless a record of `kind` exists; True when added."""
        try:
            self.client().put_item(
                TableName=self.table,
                Item={**_key(kind, order_id), **to_item({"orderId": order_id, **fields})},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, kind: Kind, order_id: str) -> dict[str, Any] | None:
        """The order's record of `kind`, as last written (a consistent read), or None."""
        item = (
            self.client()
            .get_item(TableName=self.table, Key=_key(kind, order_id), ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            return None
        return {name: value for name, value in from_item(item).items() if name != "pk"}
