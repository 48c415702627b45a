"""What each worker process needs of its own.

gunicorn loads the app in its master and forks the workers. Neither a client holding open
connections nor a thread survives a fork usefully, so `PerProcess` makes a value on first use
in each process, and `PeriodicTask` starts its thread on first use in each process (cheap
enough to call on every request); no run starts once the process is draining, and `stop` ends
the thread and waits for it (an app built in a test stops its tasks with it).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from emporium.health import DRAINING

log = logging.getLogger(__name__)

T = TypeVar("T")


def after_fork_in_child(method: Callable[[], None]) -> None:
    """Call the bound `method` in every child forked from now on, for as long as its object
    lives: for state read on every request, where even `os.getpid()` (a system call) costs."""
    reference = weakref.WeakMethod(method)
    os.register_at_fork(after_in_child=lambda: (bound := reference()) and bound())


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
    """`work` every `interval` seconds, in a thread of each process that uses the task."""

    def __init__(self, name: str, interval: float, work: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def stopping(self) -> bool:
        """True once the process drains or `stop` was called: a long run ends early."""
        return self._stop.is_set() or DRAINING.is_set()

    def stop(self) -> None:
        """End this process's thread: wakes it from its wait and waits for a run to finish."""
        self._stop.set()
        thread = self._thread if self._pid == os.getpid() else None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        # Draining (SIGTERM) is seen at the next wake-up at the latest; the thread is a daemon,
        # so it never holds up the worker's exit.
        while not self._stop.wait(self.interval) and not DRAINING.is_set():
            try:
                self.work()
            except Exception:
                log.exception("background task failed; it runs again", extra={"task": self.name})
