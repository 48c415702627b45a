"""DynamoDB as every service uses it, in the shape of a Flask extension (like flaskr's db.py):
the client and its settings, `init_app` (DynamoDB out of reach becomes a 503 problem), items
to and from plain values, and the tables' readiness probe and creation.

Region, endpoint and credentials come from the standard AWS variables, so boto3 finds IRSA
credentials on EKS and `AWS_ENDPOINT_URL_DYNAMODB` points it at an emulator. Timeouts are
explicit and retries use the SDK's standard mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from flask import Flask, Response

from emporium.config import ConfigError, Env
from emporium.problems import problem_response

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


TABLE_NAME = r"[A-Za-z0-9_.-]{3,255}"  # DynamoDB's own rule for table names

_serializer, _deserializer = TypeSerializer(), TypeDeserializer()

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DynamoDBSettings:
    region: str
    endpoint_url: str | None
    connect_timeout: float
    read_timeout: float
    max_attempts: int

    @classmethod
    def from_env(cls, env: Env) -> DynamoDBSettings:
        region = env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigError("AWS_REGION is required but not set (or set AWS_DEFAULT_REGION)")
        endpoint = env.optional("AWS_ENDPOINT_URL_DYNAMODB")
        if endpoint is not None:
            endpoint = env.url("AWS_ENDPOINT_URL_DYNAMODB", schemes=("http", "https"))
        return cls(
            region=region,
            endpoint_url=endpoint,
            connect_timeout=env.number("DYNAMODB_CONNECT_TIMEOUT", 1.0, min=0.05),
            read_timeout=env.number("DYNAMODB_READ_TIMEOUT", 2.0, min=0.05),
            max_attempts=env.integer("DYNAMODB_MAX_ATTEMPTS", 3, min=1, max=10),
        )


def dynamodb_client(settings: DynamoDBSettings) -> DynamoDBClient:
    config = Config(
        region_name=settings.region,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        # total_max_attempts counts the first try too; botocore's max_attempts counts only retries.
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        max_pool_connections=32,
    )
    # A session of its own: boto3's default session is not safe to share across threads.
    return boto3.session.Session().client(
        "dynamodb", config=config, endpoint_url=settings.endpoint_url
    )


_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


def _unavailable(error: Exception) -> Response:
    if isinstance(error, ClientError) and error.response["Error"]["Code"] not in _UNAVAILABLE_CODES:
        raise error  # a request we built wrong: a 500, logged by the problems handler
    log.warning("DynamoDB unavailable", extra={"error": str(error)})
    return problem_response(
        503,
        "The data store is unavailable; try again shortly.",
        type_="dependency-unavailable",
        headers={"Retry-After": "1"},
    )


def init_app(app: Flask) -> None:
    """Answer DynamoDB being unreachable or throttling (after the SDK's retries) with a 503."""
    app.register_error_handler(BotoCoreError, _unavailable)
    app.register_error_handler(ClientError, _unavailable)


def to_value(value: Any) -> Any:
    """A plain value as a DynamoDB attribute value (`{"S": ...}`, `{"N": ...}`, ...)."""
    return _serializer.serialize(value)


def to_item(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in fields.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values back to plain ones. Numbers come back as int: the services store money
    in minor units, counts and versions, never fractions."""
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value)
    return value


def probe_table(client: DynamoDBClient, table: str, key: str) -> None:
    """For readiness: a read of an item that never exists. Data-plane, cheap, and within the
    service's IAM policy (DescribeTable would need one more permission)."""
    client.get_item(TableName=table, Key={key: {"S": "health#probe"}})


def ensure_table(
    client: DynamoDBClient,
    table: str,
    *,
    key: str,
    indexes: Mapping[str, tuple[str, str]] | None = None,
    ttl_attribute: str | None = None,
    reachable_within: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Create the table if missing and wait until it is active: on-demand, string keys, each
    index `name: (partition, sort)` projecting everything, and TTL on `ttl_attribute`.

    For laptops, kind and tests (DYNAMODB_CREATE_TABLES); on EKS the chart declares the tables.
    On a cluster the emulator may start after the service: an endpoint that does not answer yet
    (or answers without DynamoDB's error document) is tried again each second for
    `reachable_within` seconds before the service gives up (crashing at once would put the pod
    into a growing restart back-off, which `skaffold dev` takes for a failed deployment)."""
    indexes = indexes or {}
    attributes = sorted({key, *(name for pair in indexes.values() for name in pair)})
    request: dict[str, Any] = {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, (partition, sort) in indexes.items()
        ]
    waited = 0.0
    while True:
        try:
            client.create_table(**request)
            log.info("created table", extra={"table": table})
            break
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ResourceInUseException":
                break
            # An error without DynamoDB's error code (botocore then names it by its HTTP
            # status alone) did not come from DynamoDB: seen on kind as a bare 404 while the
            # emulator's pod was being replaced. Not an answer yet; anything else is.
            if not code.isdigit() or waited >= reachable_within:
                raise
            not_yet = "DynamoDB's endpoint answers, but not as DynamoDB; trying again"
            why = str(error)
        # Refused, cut off, or timed out: not an answer yet. The connect timeout was seen on
        # kind under `skaffold dev`, as the release's pods were replaced (the catalog crashed,
        # and skaffold took its restart back-off for a failed deployment).
        except (
            EndpointConnectionError,
            ConnectTimeoutError,
            ConnectionClosedError,
            ReadTimeoutError,
        ) as error:
            if waited >= reachable_within:
                raise
            not_yet = "DynamoDB does not answer yet; trying again"
            why = str(error)
        log.warning(not_yet, extra={"table": table, "waitedSeconds": waited, "error": why})
        sleep(1.0)
        waited += 1.0
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    if ttl_attribute is not None:
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):  # enabling twice fails
            client.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
            )
