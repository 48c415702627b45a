"""The DynamoDB emulator (devstack.dynamodb_emulator) over the wire, as the SDK sees it: a failed
TransactWriteItems changes nothing, whatever the transaction touched, and a successful one
writes every item. The emulator copies only the touched items to roll back (not moto's whole
table), so these are the tests that a cheaper copy must keep passing; they run against one
emulator process and against a front with three shards. Then the sharded front itself: tables
spread over shards, ListTables, calls across shards, and its shards stopping with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import stack
from devstack.processes import Child, Group, StartupError, free_port, http_status

pytestmark = pytest.mark.integration


def start_emulator(group: Group, shards: int) -> tuple[str, Child]:
    port = free_port()
    argv = [sys.executable, "-m", "devstack.dynamodb_emulator"]
    child = group.start(
        "dynamodb", [*argv, "--port", str(port), "--shards", str(shards)], os.environ
    )
    url = f"http://127.0.0.1:{port}"
    child.wait_until(lambda: http_status(f"{url}/moto-api/") is not None, "answering")
    return url, child


@pytest.fixture(scope="module", params=[1, 3], ids=["one-process", "three-shards"])
def dynamodb_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with Group() as group:
        yield start_emulator(group, request.param)[0]


@pytest.fixture
def sharded() -> Iterator[tuple[str, Child]]:
    """A front with three shards of its own (the tests below read its output, stop it)."""
    with Group() as group:
        yield start_emulator(group, 3)


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


def shard_urls(front: Child) -> list[str]:
    """The shards' own endpoints, as the front's first line lists them."""
    listed = re.search(r"shards \((.*)\)", front.output())
    assert listed, front.output()
    return [f"http://{where.split(': ')[1]}" for where in listed.group(1).split(", ")]


def test_tables_spread_over_shards_and_each_works(sharded: tuple[str, Child]) -> None:
    url, front = sharded
    dynamodb = client(url)
    first, second = new_table(dynamodb, range_key=True), new_table(dynamodb, range_key=True)

    for table in (first, second):
        dynamodb.put_item(TableName=table, Item={**key("put", True), "n": {"N": "1"}})
        assert stored(dynamodb, table, "put", True) == {**key("put", True), "n": {"N": "1"}}
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**key("tx", True), "n": {"N": "2"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("put", True),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
        queried = dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "put"}},
        )
        assert queried["Items"] == [{**key("put", True), "n": {"N": "2"}}]
        assert stored(dynamodb, table, "tx", True) == {**key("tx", True), "n": {"N": "2"}}

    # Each table is in exactly one shard's own process, and not the same one.
    holders = {
        table: [
            shard
            for shard, shard_url in enumerate(shard_urls(front))
            if table in client(shard_url).list_tables()["TableNames"]
        ]
        for table in (first, second)
    }
    assert len(holders[first]) == 1
    assert len(holders[second]) == 1
    assert holders[first] != holders[second]


def test_list_tables_lists_every_shards_tables(sharded: tuple[str, Child]) -> None:
    dynamodb = client(sharded[0])
    tables = sorted(new_table(dynamodb, range_key=False) for _ in range(4))

    assert dynamodb.list_tables()["TableNames"] == tables
    first_page = dynamodb.list_tables(Limit=3)
    assert first_page["TableNames"] == tables[:3]
    assert first_page["LastEvaluatedTableName"] == tables[2]
    rest = dynamodb.list_tables(ExclusiveStartTableName=tables[2])
    assert rest["TableNames"] == tables[3:]
    assert "LastEvaluatedTableName" not in rest


def test_a_transaction_across_shards_is_refused_and_writes_nothing(
    sharded: tuple[str, Child],
) -> None:
    dynamodb = client(sharded[0])
    first, second = new_table(dynamodb, range_key=False), new_table(dynamodb, range_key=False)

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": first, "Item": key("a", False)}},
                {"Put": {"TableName": second, "Item": key("b", False)}},
            ]
        )

    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "different shards" in error["Message"]
    assert first in error["Message"]
    assert second in error["Message"]
    assert "--shards 1" in error["Message"]
    assert stored(dynamodb, first, "a", False) is None
    assert stored(dynamodb, second, "b", False) is None


def live_children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, zombies left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
        except OSError:
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_the_shards_stop_with_the_front(sharded: tuple[str, Child], signum: int) -> None:
    _, front = sharded
    shards = live_children(front.pid)
    assert len(shards) == 3

    os.kill(front.pid, signum)  # the front alone, not its process group
    front.popen.wait(15)

    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in shards) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in shards if alive(pid)] == []


def test_a_bad_shard_count_is_one_line_naming_the_setting() -> None:
    with Group() as group, pytest.raises(StartupError) as refused:
        stack.start_dynamodb(group, free_port(), {**os.environ, "DEVSTACK_DYNAMODB_SHARDS": "0"})
    assert str(refused.value) == "DEVSTACK_DYNAMODB_SHARDS must be a whole number from 1, not '0'"

    ran = subprocess.run(
        [sys.executable, "-m", "devstack.dynamodb_emulator", "--shards", "many"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 2
    assert ran.stderr.splitlines()[-1].endswith(
        "argument --shards: --shards must be a whole number from 1, not 'many'"
    )
