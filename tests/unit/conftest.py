"""Fixtures every service's unit tests share, and nothing of any one service: an in-memory
DynamoDB (moto's mock), the problem-document check and Prometheus counters.

Each service has its own folder and conftest (`tests/unit/<service>/`), the shared library
too (`tests/unit/emporium/`, on a minimal app of its own).

These rules hold for every unit test, without flags:

- No network beyond loopback: a connect to any other address raises pytest-socket's
  `SocketConnectBlockedError` (a fake neighbour served on 127.0.0.1 is fine; the real DynamoDB
  of us-east-1 is not). The integration and end-to-end tests, which talk to containers, are
  outside this folder and keep the network.
- A test stops every thread it starts: one still running after the test's teardown fails it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.checks import Counter, check_problem
from tests.moto_aws import keep_boto3_on_moto
from tests.threads import describe, left_running

if TYPE_CHECKING:
    from werkzeug.test import TestResponse

LOOPBACK = ["127.0.0.1", "::1", "localhost"]

# How long a thread the test has asked to stop may take to end: far more than any needs, so
# that only a thread nobody stopped is reported.
THREAD_STOP_BOUND_SECONDS = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Only loopback for the tests of this folder (pytest-socket's `allow_hosts` mark)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK))


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """Fail a test that leaves a thread of its own running once its fixtures are torn down.

    Autouse, so it is set up before the test's other function-scoped fixtures and torn down
    after them; threads of wider-scoped fixtures (a session's loopback issuer) started before
    it and are not the test's. A thread that is ending is waited for, up to a generous bound.
    """
    before = set(threading.enumerate())
    yield
    left = left_running(before, THREAD_STOP_BOUND_SECONDS)
    if left:
        pytest.fail(f"the test left {len(left)} thread(s) running: {describe(left)}", pytrace=False)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An in-memory DynamoDB, empty at the start of every test."""
    # Imported here, not above: moto takes a second to import, which tests that need no
    # DynamoDB (and each mutant of `make mutants`) should not pay.
    from moto import mock_aws  # noqa: PLC0415

    keep_boto3_on_moto(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def counter() -> Callable[..., Counter]:
    """Start counting one series: counter("http_requests_total", method="GET", ...)."""

    def start(name: str, **labels: str) -> Counter:
        return Counter(name, labels)

    return start


@pytest.fixture
def problem() -> Callable[[TestResponse, int], dict[str, Any]]:
    """`problem(response, 404)` checks the response is a problem document and returns it."""
    return check_problem
