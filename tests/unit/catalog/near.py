"""Waiting on a near cache's invalidation listener, a thread of its own: until it has
subscribed, and until it has applied everything published so far."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from catalog.cache import ReadThroughCache

WAIT = 5.0  # the longest a test waits for the listener (it takes milliseconds)
_tokens = itertools.count()


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        time.sleep(0.002)


def listening(cache: ReadThroughCache) -> ReadThroughCache:
    """`cache` once its listener is subscribed (the first look at the channel starts it)."""
    eventually(cache.channel.ready, "the listener subscribed")
    return cache


def caught_up(cache: ReadThroughCache) -> None:
    """Wait until the listener has applied everything published so far: it applies messages
    in order, so a marker published now is applied after them."""
    channel, token, seen = cache.channel, f"caught-up:{next(_tokens)}", threading.Event()
    apply = channel._on_invalidate

    def spy(keys: Any) -> None:
        apply(keys)
        if keys == [token]:
            seen.set()

    channel.listen(spy)
    try:
        cache.client.publish(channel.channel, token)
        assert seen.wait(WAIT), f"the listener applied nothing within {WAIT} s"
    finally:
        channel.listen(apply)
