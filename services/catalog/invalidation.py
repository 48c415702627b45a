"""The near cache's invalidation channel: a Redis pub/sub channel that carries the keys each
write changes to every catalog process, so a process can keep products in its own memory and
still see another pod's write at once.

Writers publish the keys in the same pipeline as the write's cache marks, before the write and
again after it (`ReadThroughCache.writing`). Each process holds one subscription of its own,
made on first use after the fork, and reads it without a thread: `ready()` is called before
every read of the near cache and takes in whatever has arrived, so an invalidation that reached
this process before a read began is applied before that read is served.

When the channel cannot be trusted, `ready()` answers False and the near cache is neither read
nor filled (reads go to Redis, as with the near cache off):
- at every (re)subscription the memory is emptied, since messages published while no
  subscription stood are lost;
- when the connection fails (a closed socket, Redis restarted, a `CLIENT KILL`): memory emptied,
  the next try after `retry_after` seconds;
- when Redis has not been heard from for `heartbeat` seconds: a connection that died silently
  (a lost network path sends no reset) delivers nothing, so a PING goes out every half
  heartbeat of reads and its PONG must come back in time.
So a read never misses a write whose invalidation this process could have received more than
`heartbeat` seconds before the read began. Reads within `settle` (1 ms) of the last drain
skip it: an invalidation may so take up to a millisecond longer to apply.

The connection is a plain one from the client's pool (TLS, AUTH, client name and timeouts as for
every other command), driven directly rather than through redis-py's `PubSub`, which reconnects
and resubscribes behind the caller's back: a caller that cannot see the gap cannot know which
messages it lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import redis

log = logging.getLogger(__name__)

Invalidate = Callable[[Iterable[str] | None], None]  # the keys written; None: everything


class InvalidationChannel:
    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        *,
        heartbeat: float = 1.0,
        retry_after: float = 2.0,
        settle: float = 0.001,
    ) -> None:
        self.client = client
        self.channel = channel
        self.heartbeat = heartbeat
        self.retry_after = retry_after
        self._on_invalidate: Invalidate = lambda keys: None
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._connection: Any = None
        self._subscribed = False
        self._heard = float("-inf")  # when Redis last said anything on the subscription
        self._pinged = float("-inf")
        self._down_until = float("-inf")
        # Until then, reads skip the drain: a drain on every read, under one lock, was 5% of a
        # catalog worker's samples (the socket check hands the GIL around).
        self.settle = settle
        self._settled_until = float("-inf")
        forget = weakref.WeakMethod(self._forget_after_fork)
        os.register_at_fork(after_in_child=lambda: (method := forget()) and method())

    def listen(self, on_invalidate: Invalidate) -> None:
        """Who is told of each write's keys (and of None: forget everything)."""
        self._on_invalidate = on_invalidate

    def publish(self, pipe: Any, keys: Iterable[str]) -> None:
        """Queue the message that announces a write of `keys` on a writer's pipeline."""
        pipe.publish(self.channel, "\n".join(keys))

    def ready(self) -> bool:
        """Apply every invalidation that has arrived (unless that was done less than `settle`
        seconds ago); True if no write can have been missed for longer than the heartbeat."""
        now = time.monotonic()
        if now < self._settled_until:  # drained a moment ago, with the channel trusted
            return True
        with self._lock:
            if self._pid != os.getpid():  # a fork: the parent's connection is not ours
                self._pid, self._connection, self._subscribed = os.getpid(), None, False
            if now < self._down_until:
                return False
            try:
                if self._connection is None:
                    self._subscribe(now)
                while self._connection.can_read(timeout=0):
                    self._take(self._connection.read_response(push_request=True), now)
                if now - self._pinged >= self.heartbeat / 2:
                    self._connection.send_command("PING", check_health=False)
                    self._pinged = now
            except (redis.RedisError, OSError) as error:
                self._drop(error, now)
                return False
            trusted = self._subscribed and now - self._heard < self.heartbeat
            if trusted:
                self._settled_until = now + self.settle
            return trusted

    def _forget_after_fork(self) -> None:
        self._settled_until = float("-inf")

    def _subscribe(self, now: float) -> None:
        # Never released to the pool: once subscribed, it can carry nothing else. Waiting for
        # the confirmation (one round trip, once per process and per failure) lets the read
        # that subscribes already use the near cache.
        self._connection = self.client.connection_pool.make_connection()
        self._connection.connect()
        self._connection.send_command("SUBSCRIBE", self.channel, check_health=False)
        self._take(self._connection.read_response(push_request=True), now)
        self._pinged = now

    def _take(self, reply: Any, now: float) -> None:
        # RESP3 (redis-py's default) answers a PING in subscribed mode with a plain PONG, RESP2
        # with a ["pong", ""] message; messages are pushes, read with push_request.
        kind = reply[0] if isinstance(reply, list) and reply else reply
        if kind not in (b"message", b"subscribe", b"pong", b"PONG"):
            raise redis.ConnectionError(f"unexpected on the subscription: {reply!r}")
        self._heard = now
        if kind == b"message":
            try:
                keys: list[str] | None = reply[2].decode().split("\n")
            except UnicodeDecodeError:  # not a writer's: whoever can publish, forget all
                keys = None
            self._on_invalidate(keys)
        elif kind == b"subscribe":
            self._subscribed = True
            self._on_invalidate(None)  # whatever was published before this went unheard
            log.info("near cache: listening for invalidations", extra={"channel": self.channel})

    def _drop(self, error: Exception, now: float) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self._connection, self._subscribed = None, False
        self._down_until = now + self.retry_after
        self._on_invalidate(None)
        log.warning(
            "near cache off: the invalidation channel failed; reads go to Redis",
            extra={"error": str(error), "retryAfterSeconds": self.retry_after},
        )
