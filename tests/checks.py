"""Checks the unit tests of every service share: a problem document, a settings error, and
the growth of a Prometheus counter.

Prometheus metrics are module-level globals shared by every app a test run builds, so a test
reads a counter before and after what it exercises and asserts on the difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from werkzeug.test import TestResponse

from emporium.config import ConfigError


def check_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Check `response` is an RFC 9457 problem document of `status`, and return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)
    document: dict[str, Any] = json.loads(response.get_data(as_text=True))
    assert document["status"] == status
    assert document["title"]
    assert document["detail"]
    assert document["instance"] == response.request.path
    return document


def config_error(read: Callable[[], object]) -> str:
    """The message of the ConfigError `read` raises, checked to be a single line."""
    with pytest.raises(ConfigError) as caught:
        read()
    message = str(caught.value)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    return message


class Counter:
    """How much a Prometheus counter series grew since this object was made."""

    def __init__(self, name: str, labels: dict[str, str]) -> None:
        self.name = name
        self.labels = labels
        self.start = self._read()

    def _read(self) -> float:
        return REGISTRY.get_sample_value(self.name, self.labels) or 0.0

    @property
    def delta(self) -> int:
        return int(self._read() - self.start)

    def restart(self) -> None:
        self.start = self._read()
