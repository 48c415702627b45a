"""Which threads a test left running.

The unit tests' conftest takes `threading.enumerate()` before each test and checks after its
teardown that every thread started since has ended. A thread that was asked to stop may still be
finishing its last step, so each is joined, all of them within one generous bound: only a thread
that nobody stopped is still running at the end of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection


def left_running(before: Collection[threading.Thread], bound: float) -> list[threading.Thread]:
    """The threads alive now and not in `before` that do not end within `bound` seconds."""
    started = [thread for thread in threading.enumerate() if thread not in before]
    deadline = time.monotonic() + bound
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in started if thread.is_alive()]


def describe(threads: Collection[threading.Thread]) -> str:
    """`'outbox-relay', 'neighbour'`: the names, to say which fixture failed to stop them."""
    return ", ".join(sorted(repr(thread.name) for thread in threads))
