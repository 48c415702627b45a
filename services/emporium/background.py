"""What each worker process needs of its own.

gunicorn loads the app in its master and forks the workers. Neither a client holding open
connections nor a thread survives a fork usefully, so `PerProcess` makes a value on first use
in each process, and `PeriodicTask` starts its thread on first use in each process (cheap
enough to call on every request) and stops it when the process starts draining.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from emporium.health import DRAINING

log = logging.getLogger(__name__)

T = TypeVar("T")


class PerProcess(Generic[T]):
    """A value made on first use in each process.

    gunicorn loads the app in its master and forks the workers; a client with open connections
    must not cross that fork, so each process makes its own.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._value: T | None = None

    def get(self) -> T:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._value = self._factory()
                    self._pid = os.getpid()
        return self._value  # type: ignore[return-value]  # set above for this pid


class PeriodicTask:
    def __init__(self, name: str, interval: float, work: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def _run(self) -> None:
        while not DRAINING.wait(self.interval):
            try:
                self.work()
            except Exception:
                log.exception("background task failed; it runs again", extra={"task": self.name})
