"""The near cache's invalidation channel: a Redis pub/sub channel that carries the keys each
write changes to every catalog process, so a process can keep products in its own memory and
still see another pod's write at once.

Writers publish the keys in the same pipeline as the write's cache marks, before the write and
again after it (`ReadThroughCache.writing`). Each process holds one subscription of its own,
on a listener thread started by the first read after the fork: the thread blocks on the
subscription and applies each message as it arrives, so reads never touch the socket. (Looking
at the socket from the reads, at most once a millisecond, was 2.3% of a busy catalog worker's
GIL-holding samples, and more in hand-offs: every check releases the GIL, and on a busy worker
that hands it to another thread and back.)

Reads ask `ready()`, one clock read: True while Redis was heard on the subscription less than
`heartbeat` seconds ago. Otherwise the near cache is neither read nor filled (reads go to
Redis, as with the near cache off):
- at every (re)subscription the memory is emptied, since messages published while no
  subscription stood are lost;
- when the connection fails (a closed socket, Redis restarted, a `CLIENT KILL`): memory
  emptied, a new subscription after `retry_after` seconds;
- when Redis has not been heard from for `heartbeat` seconds: a connection that died silently
  (a lost network path sends no reset) delivers nothing, so the thread sends a PING every half
  heartbeat, and its PONG, read in order behind every message before it, must come back in
  time; past that the connection is dropped and made again.
So an invalidation is applied as soon as the listener thread runs after it arrived: at once on
an idle process, within the interpreter's switch interval (5 ms) of each busy thread on a
loaded one. A read never misses a write whose invalidation reached this process more than
`heartbeat` seconds before the read began: the trust is renewed only when the listener has
applied a reply and nothing else waits, so a thread that could not read that message in that
time has not renewed it since the message arrived, and `ready()` has turned False.

The connection is a plain one from the client's pool (TLS, AUTH, client name and timeouts as for
every other command), driven directly rather than through redis-py's `PubSub`, which reconnects
and resubscribes behind the caller's back: a caller that cannot see the gap cannot know which
messages it lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from emporium.background import after_fork_in_child

log = logging.getLogger(__name__)

Invalidate = Callable[[Iterable[str] | None], None]  # the keys written; None: everything

# The longest the listener waits on the socket in one go: how soon it sees `close()`. (Ten
# wake-ups a second cost nothing next to a worker's requests.)
_WAKE_SECONDS = 0.1


class InvalidationChannel:
    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        *,
        heartbeat: float = 1.0,
        retry_after: float = 2.0,
    ) -> None:
        self.client = client
        self.channel = channel
        self.heartbeat = heartbeat
        self.retry_after = retry_after
        self._on_invalidate: Invalidate = lambda keys: None
        self._reset()
        after_fork_in_child(self._reset)

    def _reset(self) -> None:
        # A forked child has none of its parent's threads: it starts its own listener, on a
        # connection of its own (the parent's socket is left to the parent).
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        self._connection: Any = None
        self._heard = float("-inf")  # when the listener last read anything from Redis
        self._pinged = float("-inf")
        self._trusted_until = float("-inf")  # the near cache may be used until then

    def listen(self, on_invalidate: Invalidate) -> None:
        """Who is told of each write's keys (and of None: forget everything). It is called
        from the listener thread."""
        self._on_invalidate = on_invalidate

    def publish(self, pipe: Any, keys: Iterable[str]) -> None:
        """Queue the message that announces a write of `keys` on a writer's pipeline."""
        pipe.publish(self.channel, "\n".join(keys))

    def ready(self) -> bool:
        """True if no write can have been missed for longer than the heartbeat; the first call
        in a process starts its listener."""
        if time.monotonic() < self._trusted_until:
            return True
        if self._listener is None:
            with self._lock:
                if self._listener is None and not self._stopping.is_set():
                    self._listener = threading.Thread(
                        target=self._listen, name="near-cache-invalidations", daemon=True
                    )
                    self._listener.start()
        return False

    def close(self, timeout: float | None = None) -> None:
        """Stop the listener and close its connection; wait up to `timeout` seconds (None: as
        long as it takes, a tenth of a second) for it to end."""
        self._stopping.set()
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                self._subscribe()
                while not self._stopping.is_set():
                    self._wait_and_take()
            except Exception as error:  # Redis, the socket, or a bug: the listener must not die
                self._drop(error)
                self._stopping.wait(self.retry_after)
        self._trusted_until = float("-inf")
        if self._connection is not None:
            self._connection.disconnect()

    def _subscribe(self) -> None:
        # Never released to the pool: once subscribed, it can carry nothing else.
        self._connection = self.client.connection_pool.make_connection()
        self._connection.connect()
        self._connection.send_command("SUBSCRIBE", self.channel, check_health=False)
        self._pinged = time.monotonic()
        self._take(self._connection.read_response(push_request=True))

    def _wait_and_take(self) -> None:
        """Wait for what Redis sends, up to the next PING, and apply it."""
        now = time.monotonic()
        if now - self._pinged >= self.heartbeat / 2:
            self._connection.send_command("PING", check_health=False)
            self._pinged = now
        wait = min(_WAKE_SECONDS, self._pinged + self.heartbeat / 2 - now)
        if self._connection.can_read(timeout=wait):
            self._take(self._connection.read_response(push_request=True))
        # Only once nothing is left to read: a thread that waited long for the GIL finds the
        # PONG waiting for it, and reads it rather than dropping a working connection.
        elif time.monotonic() - self._heard >= self.heartbeat:
            raise redis.ConnectionError(
                f"no answer on the subscription for {self.heartbeat} s (a PING went unanswered)"
            )

    def _take(self, reply: Any) -> None:
        # RESP3 (redis-py's default) answers a PING in subscribed mode with a plain PONG, RESP2
        # with a ["pong", ""] message; messages are pushes, read with push_request.
        kind = reply[0] if isinstance(reply, list) and reply else reply
        if kind not in (b"message", b"subscribe", b"pong", b"PONG"):
            raise redis.ConnectionError(f"unexpected on the subscription: {reply!r}")
        if kind == b"message":
            try:
                keys: list[str] | None = reply[2].decode().split("\n")
            except UnicodeDecodeError:  # not a writer's: whoever can publish, forget all
                keys = None
            self._on_invalidate(keys)
        elif kind == b"subscribe":
            self._on_invalidate(None)  # whatever was published before this went unheard
            log.info("near cache: listening for invalidations", extra={"channel": self.channel})
        # Heard once applied: a read that finds the channel trusted finds this reply's
        # invalidation done. Trusted anew only once nothing else waits: then every message
        # that reached this process before `heard` is applied. (Were a reply read while
        # another waited behind it to renew the trust, a listener starved of the GIL right
        # after could be trusted for a heartbeat past the waiting message's arrival.)
        self._heard = time.monotonic()
        if not self._connection.can_read(timeout=0):
            self._trusted_until = self._heard + self.heartbeat

    def _drop(self, error: Exception) -> None:
        self._trusted_until = float("-inf")
        if self._connection is not None:
            self._connection.disconnect()
            self._connection = None
        self._on_invalidate(None)
        log.warning(
            "near cache off: the invalidation channel failed; reads go to Redis",
            extra={"error": str(error), "retryAfterSeconds": self.retry_after},
        )
