"""Fixtures every service's unit tests share, and nothing of any one service: an in-memory
DynamoDB (moto's mock), the problem-document check and Prometheus counters.

Each service has its own folder and conftest (`tests/unit/<service>/`), the shared library
too (`tests/unit/emporium/`, on a minimal app of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from tests.checks import Counter, check_problem
from tests.moto_aws import keep_boto3_on_moto

if TYPE_CHECKING:
    from werkzeug.test import TestResponse


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
