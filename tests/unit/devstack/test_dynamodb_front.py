"""The sharded DynamoDB emulator's routing, without processes: which tables a call names, and
which shard holds them (tests/integration/test_dynamodb_emulator.py runs the front for real)."""

from __future__ import annotations

import pytest

from devstack.dynamodb_front import CrossShard, Placement, tables_named

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/emporium-orders"


@pytest.mark.parametrize(
    ("call", "tables"),
    [
        ({"TableName": "emporium-catalog", "Key": {}}, {"emporium-catalog"}),
        ({"TableArn": ARN}, {"emporium-orders"}),
        ({"ResourceArn": ARN + "/index/by-customer"}, {"emporium-orders"}),
        (
            {
                "TransactItems": [
                    {"Put": {"TableName": "emporium-orders", "Item": {}}},
                    {"Update": {"TableName": ARN, "Key": {}}},
                    {"ConditionCheck": {"TableName": "emporium-carts", "Key": {}}},
                    {"Put": {"Item": {}}},  # no table named: nothing to route by
                ]
            },
            {"emporium-orders", "emporium-carts"},
        ),
        ({"RequestItems": {"emporium-carts": [], ARN: []}}, {"emporium-carts", "emporium-orders"}),
        ({"Limit": 10}, set()),  # ListTables names none
        ({"TableName": 7, "TransactItems": ["not an operation"]}, set()),  # not ours to judge
    ],
)
def test_the_tables_a_call_names(call: dict[str, object], tables: set[str]) -> None:
    assert tables_named(call) == tables


def test_tables_go_to_the_shards_in_turn_and_stay_there() -> None:
    placement = Placement(2)
    assert placement.shard_of(["catalog"]) == 0
    assert placement.shard_of(["orders"]) == 1
    assert placement.shard_of(["carts"]) == 0
    assert placement.shard_of(["orders"]) == 1
    assert placement.shard_of([]) == 0  # a call naming no table: the first shard


def test_tables_first_named_together_share_a_shard() -> None:
    placement = Placement(3)
    assert placement.shard_of(["catalog"]) == 0
    assert placement.shard_of(["orders", "outbox"]) == 1
    assert placement.shard_of(["outbox"]) == 1
    assert placement.shard_of(["orders", "fulfillment"]) == 1  # the new one joins its partner


def test_a_call_across_shards_is_refused_naming_them() -> None:
    placement = Placement(2)
    placement.shard_of(["catalog"])
    placement.shard_of(["orders"])
    with pytest.raises(CrossShard) as refused:
        placement.shard_of(["orders", "catalog"])
    assert "catalog (shard 0), orders (shard 1)" in str(refused.value)
    assert "--shards 1" in str(refused.value)
