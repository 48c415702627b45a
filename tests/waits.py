"""Waiting on a condition, the one way every suite waits (unit, integration, e2e): poll it within
a generous bound, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(
    check: Callable[[], T], what: str, timeout: float = 60.0, *, interval: float = 0.05
) -> T:
    """Call `check` every `interval` seconds until it returns something true, and return that;
    fail the test with "not <what> after <timeout> s" once `timeout` has passed. The timeout is
    a bound for a busy machine, not an expected time."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout:.0f} s")
        time.sleep(interval)
