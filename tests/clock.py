"""A clock for tests: seconds since the epoch, starting at the real time (tokens and leases are
checked against it) and standing still until a test moves it on."""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
