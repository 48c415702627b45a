"""The DynamoDB emulator (devstack.dynamodb_emulator) over the wire, as the SDK sees it: a failed
TransactWriteItems changes nothing, whatever the transaction touched, and a successful one
writes every item. The emulator copies only the touched items to roll back (not moto's whole
table), so these are the tests that a cheaper copy must keep passing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def client(dynamodb_url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_url,
        region_name="us-east-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
    )


def new_table(dynamodb: Any, *, range_key: bool) -> str:
    name = f"emulator-{uuid.uuid4().hex[:12]}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    dynamodb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def key(pk: str, range_key: bool) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, **({"sk": {"S": "item"}} if range_key else {})}


def stored(dynamodb: Any, table: str, pk: str, range_key: bool) -> dict[str, Any] | None:
    item = dynamodb.get_item(TableName=table, Key=key(pk, range_key), ConsistentRead=True)
    return item.get("Item")  # type: ignore[no-any-return]


@pytest.mark.parametrize("range_key", [False, True], ids=["hash-key", "hash-and-range-key"])
def test_a_cancelled_transaction_changes_nothing_it_touched(
    dynamodb_url: str, range_key: bool
) -> None:
    dynamodb = client(dynamodb_url)
    table = new_table(dynamodb, range_key=range_key)
    for pk, count in (("updated", "1"), ("deleted", "1"), ("replaced", "1"), ("bystander", "7")):
        dynamodb.put_item(TableName=table, Item={**key(pk, range_key), "n": {"N": count}})

    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("updated", range_key),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": key("deleted", range_key)}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {**key("replaced", range_key), "n": {"N": "9"}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {**key("created", range_key), "n": {"N": "1"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("bystander", range_key),
                        "ConditionExpression": "n = :zero",
                        "ExpressionAttributeValues": {":zero": {"N": "0"}},
                    }
                },
            ]
        )

    error = cancelled.value.response["Error"]
    assert error["Code"] == "TransactionCanceledException"
    assert "ConditionalCheckFailed" in error["Message"]
    counts = {
        pk: (item or {}).get("n", {}).get("N")
        for pk in ("updated", "deleted", "replaced", "created", "bystander")
        for item in [stored(dynamodb, table, pk, range_key)]
    }
    assert counts == {
        "updated": "1",
        "deleted": "1",
        "replaced": "1",
        "created": None,
        "bystander": "7",
    }


def test_a_transaction_that_passes_writes_every_item(dynamodb_url: str) -> None:
    dynamodb = client(dynamodb_url)
    table = new_table(dynamodb, range_key=True)
    dynamodb.put_item(TableName=table, Item={**key("updated", True), "n": {"N": "1"}})

    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": key("updated", True),
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": {**key("created", True), "n": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )

    assert stored(dynamodb, table, "updated", True) == {**key("updated", True), "n": {"N": "2"}}
    assert stored(dynamodb, table, "created", True) == {**key("created", True), "n": {"N": "1"}}


def test_a_later_cancelled_transaction_leaves_an_earlier_ones_update(dynamodb_url: str) -> None:
    """The rollback copy of a failed transaction is not a snapshot kept from an earlier one."""
    dynamodb = client(dynamodb_url)
    table = new_table(dynamodb, range_key=False)
    dynamodb.put_item(TableName=table, Item={**key("counter", False), "n": {"N": "0"}})

    def add_one(condition: str) -> Callable[[], None]:
        return lambda: dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("counter", False),
                        "UpdateExpression": "SET n = n + :one",
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "2"}},
                    }
                }
            ]
        )

    add_one("n < :limit")()
    add_one("n < :limit")()
    with pytest.raises(ClientError):
        add_one("n < :limit")()  # n is 2: cancelled

    assert stored(dynamodb, table, "counter", False) == {**key("counter", False), "n": {"N": "2"}}


def test_concurrent_transactions_on_one_table_all_land(dynamodb_url: str) -> None:
    """Checkouts in parallel: each transaction applied whole, none answered with a 500."""
    table = new_table(client(dynamodb_url), range_key=False)
    errors: list[BaseException] = []

    def checkouts(worker: int) -> None:
        dynamodb = client(dynamodb_url)
        try:
            for n in range(25):
                dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": table,
                                "Item": key(f"order#{worker}-{n}", False),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                        {"Put": {"TableName": table, "Item": key(f"outbox#{worker}-{n}", False)}},
                    ]
                )
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=checkouts, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    scanned = client(dynamodb_url).scan(TableName=table, Select="COUNT")
    assert scanned["Count"] == 4 * 25 * 2
