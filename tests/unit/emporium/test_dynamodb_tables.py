"""ensure_table on a cluster where the DynamoDB emulator starts after the service: an endpoint
that does not answer yet is tried again, for a bounded time, instead of crashing the service."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from emporium.dynamodb import ensure_table


class StartsLate:
    """A DynamoDB client whose endpoint answers only from the `answers_from`-th call on."""

    def __init__(self, client: Any, answers_from: int, before: Exception | None = None) -> None:
        self.client = client
        self.calls = 0
        self.answers_from = answers_from
        self.before = before or EndpointConnectionError(
            endpoint_url="http://emporium-dynamodb:8000/"
        )

    def create_table(self, **request: Any) -> Any:
        self.calls += 1
        if self.calls < self.answers_from:
            raise self.before
        return self.client.create_table(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def bare_status(status: int) -> ClientError:
    """What botocore raises for an HTTP error whose body is not DynamoDB's error document."""
    return ClientError({"Error": {"Code": str(status), "Message": ""}}, "CreateTable")


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_botocore_names_a_bare_404_by_its_status() -> None:
    """The premise of the retry below: a web server that is not DynamoDB answering 404."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        with pytest.raises(ClientError) as raised:
            client.describe_table(TableName="carts")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert raised.value.response["Error"]["Code"] == bare_status(404).response["Error"]["Code"]


ENDPOINT = "http://emporium-dynamodb:8000/"


@pytest.mark.parametrize(
    "not_yet",
    [
        EndpointConnectionError(endpoint_url=ENDPOINT),  # refused
        ConnectTimeoutError(endpoint_url=ENDPOINT),  # no answer to the connect
        ConnectionClosedError(endpoint_url=ENDPOINT),
        ReadTimeoutError(endpoint_url=ENDPOINT),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_emulator_that_starts_late_gets_the_table(aws: None, not_yet: Exception) -> None:
    client = StartsLate(
        boto3.client("dynamodb", region_name="us-east-1"), answers_from=3, before=not_yet
    )
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


def test_an_answer_that_is_not_dynamodbs_is_tried_again(aws: None) -> None:
    client = StartsLate(
        boto3.client("dynamodb", region_name="us-east-1"), answers_from=2, before=bare_status(404)
    )
    slept: list[float] = []
    ensure_table(client, "carts", key="id", sleep=slept.append)  # type: ignore[arg-type]
    assert client.calls == 2
    assert client.describe_table(TableName="carts")["Table"]["TableStatus"] == "ACTIVE"


def test_an_endpoint_that_never_answers_as_dynamodb_fails_after_the_bound(aws: None) -> None:
    client = StartsLate(
        boto3.client("dynamodb", region_name="us-east-1"),
        answers_from=10**6,
        before=bare_status(404),
    )
    slept: list[float] = []
    with pytest.raises(ClientError, match=r"\(404\)"):
        ensure_table(
            client,  # type: ignore[arg-type]
            "carts",
            key="id",
            reachable_within=3,
            sleep=slept.append,
        )
    assert sum(slept) == 3


def test_a_dynamodb_error_is_not_retried(aws: None) -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "CreateTable"
    )
    client = StartsLate(
        boto3.client("dynamodb", region_name="us-east-1"), answers_from=10**6, before=denied
    )
    slept: list[float] = []
    with pytest.raises(ClientError, match="AccessDeniedException"):
        ensure_table(client, "carts", key="id", sleep=slept.append)  # type: ignore[arg-type]
    assert client.calls == 1
    assert slept == []
