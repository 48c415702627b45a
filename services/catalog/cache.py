"""A read-through cache in Redis for the catalog's reads.

- `get_or_load` returns the cached bytes, or loads them, stores them with a TTL (jittered, so
  keys filled together do not expire together) and returns them.
- Stampede: on a miss one caller takes a short fill lock and loads; the others wait briefly
  for its value instead of all hitting DynamoDB, and load themselves only if it is slow.
- Invalidation: a write deletes the key *and* its fill lock; a fill stores its value only while
  it still holds the lock (one Lua script), so a read that began before the write cannot put
  the old value back afterwards. List keys carry a generation number that every write bumps.
- Redis failing never fails a read: the value is loaded from the store, the error is counted,
  and Redis is left alone for `retry_after` seconds. Invalidations that could not be sent are
  kept and sent first when Redis answers again.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import cast

import redis

from emporium.metrics import cache_lookup

log = logging.getLogger(__name__)

# Store the value only if the fill lock is still ours, then release it.
_FILL = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

Loader = Callable[[], bytes]


class ReadThroughCache:
    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str,
        retry_after: float = 2.0,
        lock_ms: int = 2000,
        wait_ms: int = 200,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.retry_after = retry_after
        self.lock_ms = lock_ms
        self.wait_ms = wait_ms
        self._fill = client.register_script(_FILL)
        self._down_until = 0.0
        self._pending: set[str] = set()  # keys whose invalidation Redis did not receive
        self._pending_bump = False
        self._lock = threading.Lock()

    def key(self, *parts: str) -> str:
        # The braces make a key and its lock one hash slot, for the Lua script on a cluster.
        return "{" + ":".join((self.namespace, *parts)) + "}"

    def generation(self) -> str:
        """The current list generation: part of every list key, bumped by every write."""
        value = self._get(self.key("generation"))
        return value.decode() if value else "0"

    def _get(self, key: str) -> bytes | None:
        return cast("bytes | None", self.client.get(key))  # the client has no decode_responses

    def get_or_load(self, kind: str, key: Callable[[], str], load: Loader, ttl: float) -> bytes:
        """`key` is called only when Redis is usable (it may read the generation)."""
        if not self._usable():
            cache_lookup(kind, "error")
            return load()
        try:
            full_key = key()
            cached = self._get(full_key)
            if cached is not None:
                cache_lookup(kind, "hit")
                return cached
            cache_lookup(kind, "miss")
            return self._fill_or_wait(full_key, load, ttl)
        except redis.RedisError as error:
            self._mark_down(error)
            cache_lookup(kind, "error")
            return load()

    def _fill_or_wait(self, key: str, load: Loader, ttl: float) -> bytes:
        lock_key, token = key + ":fill", secrets.token_hex(8)
        if self.client.set(lock_key, token, nx=True, px=self.lock_ms):
            value = load()
            ttl_ms = int(ttl * 1000 * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not crypto
            try:
                self._fill(keys=[key, lock_key], args=[token, value, ttl_ms])
            except redis.RedisError as error:
                self._mark_down(error)  # the value is loaded: serve it, uncached
            return value
        deadline = time.monotonic() + self.wait_ms / 1000
        while time.monotonic() < deadline:
            time.sleep(0.01)
            cached = self._get(key)
            if cached is not None:
                return cached
        return load()

    def invalidate(self, keys: Iterable[str], *, lists: bool = True) -> None:
        """Forget `keys` and, with `lists`, every list page (by bumping the generation)."""
        keys = set(keys)
        if self._usable():  # sends older, undelivered invalidations first
            try:
                self._send(keys, bump=lists)
                return
            except redis.RedisError as error:
                self._mark_down(error)
        with self._lock:
            self._pending |= keys
            self._pending_bump = self._pending_bump or lists

    def _send(self, keys: set[str], *, bump: bool) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key, key + ":fill")
        if bump:
            pipe.incr(self.key("generation"))
        pipe.execute()

    @property
    def undelivered(self) -> int:
        """How many invalidations wait for Redis to come back (kept in this process only)."""
        return len(self._pending) + int(self._pending_bump)

    def _usable(self) -> bool:
        if time.monotonic() < self._down_until:
            return False
        if not (self._pending or self._pending_bump):
            return True
        with self._lock:
            keys, bump = self._pending, self._pending_bump
            self._pending, self._pending_bump = set(), False
        try:
            self._send(keys, bump=bump)
        except redis.RedisError as error:
            with self._lock:
                self._pending |= keys
                self._pending_bump = self._pending_bump or bump
            self._mark_down(error)
            return False
        log.info("cache reachable again; sent the invalidations it missed")
        return True

    def _mark_down(self, error: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("cache unavailable, reading from the store", extra={"error": str(error)})
        self._down_until = time.monotonic() + self.retry_after
