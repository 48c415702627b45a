"""Work that runs beside the requests, in a daemon thread of each worker process.

gunicorn loads the app in its master and forks the workers, and threads do not survive a
fork; so a task starts on first use in each process (`ensure_started`, cheap enough to call
on every request) and stops when the process starts draining.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from emporium.health import DRAINING

log = logging.getLogger(__name__)


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
