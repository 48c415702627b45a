"""ensure_table on a cluster where the DynamoDB emulator starts after the service: an endpoint
that does not answer yet is tried again, for a bounded time, instead of crashing the service."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from emporium.dynamodb import ensure_table


class StartsLate:
    """A DynamoDB client whose endpoint answers only from the `answers_from`-th call on."""

    def __init__(self, client: Any, answers_from: int) -> None:
        self.client = client
        self.calls = 0
        self.answers_from = answers_from

    def create_table(self, **request: Any) -> Any:
        self.calls += 1
        if self.calls < self.answers_from:
            raise EndpointConnectionError(endpoint_url="http://emporium-dynamodb:8000/")
        return self.client.create_table(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_an_emulator_that_starts_late_gets_the_table(aws: None) -> None:
    client = StartsLate(boto3.client("dynamodb", region_name="us-east-1"), answers_from=3)
    slept: list[float] = []
    ensure_table(client, "carts", key="id", sleep=slept.append)  # type: ignore[arg-type]
    assert client.calls == 3
    assert slept == [1.0, 1.0]
    assert client.describe_table(TableName="carts")["Table"]["TableStatus"] == "ACTIVE"


def test_an_endpoint_that_never_answers_fails_after_the_bound(aws: None) -> None:
    client = StartsLate(boto3.client("dynamodb", region_name="us-east-1"), answers_from=10**6)
    slept: list[float] = []
    with pytest.raises(EndpointConnectionError):
        ensure_table(
            client,  # type: ignore[arg-type]
            "carts",
            key="id",
            reachable_within=5,
            sleep=slept.append,
        )
    assert sum(slept) == 5  # tried each second for the bound, then gave up
