"""A read-through cache in Redis for the catalog's reads, and the write path that keeps it true.

Reads (`get_or_load`):
- A hit returns the cached bytes (one GET). A miss loads the value, stores it with a TTL
  (jittered, so keys filled together do not expire together) and returns it.
- Stampede: on a miss one caller takes a short fill lock and loads; the others wait briefly
  for its value instead of all hitting DynamoDB, and load themselves only if it is slow.
- Redis failing never fails a read: the value is loaded from the store, the error is counted,
  and Redis is left alone for `retry_after` seconds.

Writes (`writing`), around every write to the store:
- Before: each entry the write changes is marked dirty, atomically (one Lua script): its value
  and fill lock are deleted and a "being written" marker is set, which expires by itself after
  `marker_ms`; the list generation is bumped. If Redis cannot take that (down or erroring),
  `CacheUnavailableError` is raised and the write must not be made (the catalog answers 503).
- While a marker stands, a reader that misses loads from the store and fills nothing: taking
  the fill lock (one script) answers "being written", and a fill stores its value only while
  its lock is still its own and no marker stands (one script).
- After: the marker is cleared, the value and fill lock are deleted again and the generation
  is bumped again. Best effort: if Redis fails there, the marker's expiry ends the bypass, and
  until then readers read the store, which is never stale.

Why no interleaving leaves an old value cached: a value loaded before a write committed was
loaded under a fill lock taken either before the write began (the mark deletes the lock) or
while its marker stood (the lock is refused); so its fill is refused. `marker_ms` outlasts the
longest a write can take (see `catalog.store.longest_write_seconds`), so a marker does not
expire while its write is still in flight. A writer that dies mid-write leaves its marker to
expire: readers bypass the entry until then, reading the store.

Near cache (`near_seconds`, off at 0): a read made with `near=True` (the catalog's product
reads) is also kept in this process's memory and served from there, without asking Redis, for
at most `near_seconds` from the moment its read began. Every write publishes its keys on the
invalidation channel (`catalog.invalidation`) before and after it, in the pipeline that sets
and clears its marks; this process's listener thread evicts what arrives there, and a write
made through this process evicts its own entries directly. No read that began before an
eviction keeps its value, and a value loaded past a "being written" marker or while Redis is
out of use is never kept. When the channel cannot be trusted (not yet subscribed, failed, or
silent for its heartbeat) the near cache is emptied and left alone: reads go to Redis. The
entries are few (one per product read, at most `near_entries`, the oldest dropped first).

Staleness: a product read is never older than the last acknowledged write (the loader reads
DynamoDB consistently), except that, with the near cache on, another process's write reaches
this process's memory through the channel: a few milliseconds after the write (on the writer's
pipeline, before the writer answers), applied as soon as the listener thread runs (at once on
an idle process, within the interpreter's 5 ms switch interval per busy thread on a loaded
one), and never missed by a read that begins more than the channel's heartbeat (1 s) after it
arrived, nor by more than `near_seconds`. List pages and the category list come from global
secondary indexes, which are eventually consistent: they may be up to the list TTL old.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import redis
from prometheus_client import Counter

from catalog.invalidation import InvalidationChannel
from emporium.background import after_fork_in_child

log = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter(
    "cache_lookups_total",
    "Read-through cache lookups by result (near: this process's memory; hit, miss, error)",
    ["cache", "result"],
)
# The labelled series, looked up once each: labels() costs more than the increment, and this
# runs on every cached read.
_lookup_series: dict[tuple[str, str], Any] = {}


def cache_lookup(cache: str, result: str) -> None:
    """Count one read-through cache lookup: `result` is near, hit, miss or error."""
    counter = _lookup_series.get((cache, result))
    if counter is None:
        counter = _lookup_series[(cache, result)] = CACHE_LOOKUPS.labels(cache, result)
    counter.inc()


# Take the fill lock unless the entry is being written: 1 = ours, 0 = being written, 2 = taken.
_CLAIM = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 2
"""

# Store the value only if the fill lock is still ours and no write is under way; release it.
_FILL = """
if redis.call('GET', KEYS[2]) == ARGV[1] and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

# Before a write: this writer's mark (one field per writer, so writers of one entry overlap
# safely and a retried call does not count twice), the value and any fill lock gone.
_BEGIN = """
redis.call('HSET', KEYS[3], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""

# After a write: this writer's mark gone; the value and any fill lock taken meanwhile too.
_END = """
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""

_OURS, _BEING_WRITTEN = 1, 0

Loader = Callable[[], bytes]


class CacheUnavailableError(Exception):
    """Redis could not mark the entries of a write dirty: the write must not be made."""


class ReadThroughCache:
    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str,
        marker_ms: int,
        retry_after: float = 2.0,
        lock_ms: int = 2000,
        wait_ms: int = 200,
        near_seconds: float = 0.0,
        near_entries: int = 10_000,
        heartbeat: float = 1.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.marker_ms = marker_ms
        self.retry_after = retry_after
        self.lock_ms = lock_ms
        self.wait_ms = wait_ms
        self._claim = client.register_script(_CLAIM)
        self._fill = client.register_script(_FILL)
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)
        self._down_until = 0.0
        self.near_seconds = near_seconds
        self.near_entries = near_entries
        # key -> (until, value): served while time.monotonic() < until. The worker's threads
        # share it: lookups need no lock (a dict's get is atomic); stores and evictions take
        # `_near_lock`, so no store slips in between a write's eviction and its epoch.
        self._near: dict[str, tuple[float, bytes]] = {}
        self._near_lock = threading.Lock()
        # Moved by every eviction: a read that saw it move keeps nothing.
        self._near_epoch = 0
        after_fork_in_child(self._new_lock_after_fork)
        # Every process publishes its writes there, whether or not it keeps a near cache.
        self.channel = InvalidationChannel(
            client,
            f"{namespace}:invalidations",
            heartbeat=heartbeat,
            retry_after=retry_after,
        )
        self.channel.listen(self._near_evict)

    def _new_lock_after_fork(self) -> None:
        # The lock may have been held, at the fork, by a thread the child does not have.
        self._near_lock = threading.Lock()

    def close(self, timeout: float | None = None) -> None:
        """Stop this process's invalidation listener (the near cache is off from then on),
        waiting up to `timeout` seconds for it to end (None: until it has)."""
        self.channel.close(timeout)

    def key(self, *parts: str) -> str:
        # The braces put a key, its lock and its marker in one hash slot, for the Lua scripts
        # on a cluster.
        return "{" + ":".join((self.namespace, *parts)) + "}"

    @staticmethod
    def _companions(key: str) -> list[str]:
        """The value's key, its fill lock and its "being written" marker: the scripts' KEYS."""
        return [key, key + ":fill", key + ":writing"]

    def generation(self) -> str:
        """The current list generation: part of every list key, bumped by every write."""
        value = self._get(self.key("generation"))
        return value.decode() if value else "0"

    def _get(self, key: str) -> bytes | None:
        return cast("bytes | None", self.client.get(key))  # the client has no decode_responses

    # Reads

    def get_or_load(
        self,
        kind: str,
        key: Callable[[], str],
        load: Loader,
        ttl: float,
        *,
        near: bool = False,
    ) -> bytes:
        """`key` is called only when Redis is usable (it may read the generation), unless
        `near` is set: then the value may come from, and goes to, the near cache, and `key`
        must not read Redis (it is called first, whatever Redis's state)."""
        if near and self.near_seconds > 0:
            return self._near_get_or_load(kind, key(), load, ttl)
        return self._get_or_load(kind, key, load, ttl)[0]

    def _near_get_or_load(self, kind: str, key: str, load: Loader, ttl: float) -> bytes:
        began = time.monotonic()
        if not self.channel.ready():  # other processes' writes could go unseen: Redis only
            return self._get_or_load(kind, lambda: key, load, ttl)[0]
        entry = self._near.get(key)
        if entry is not None and began < entry[0]:
            cache_lookup(kind, "near")
            return entry[1]
        epoch = self._near_epoch
        value, current = self._get_or_load(kind, lambda: key, load, ttl)
        # A current value was current (as of the acknowledged writes) at some moment after
        # `began`; a later write's eviction either moved the epoch already or comes later.
        with self._near_lock:
            if current and epoch == self._near_epoch:
                self._near.pop(key, None)  # re-inserted last: the oldest go first
                if len(self._near) >= self.near_entries:
                    del self._near[next(iter(self._near))]
                self._near[key] = (began + self.near_seconds, value)
        return value

    def _near_evict(self, keys: Iterable[str] | None) -> None:
        """Forget `keys` (None: everything); no read under way keeps what it loaded."""
        with self._near_lock:
            self._near_epoch += 1
            if keys is None:
                self._near.clear()
            else:
                for key in keys:
                    self._near.pop(key, None)

    def _get_or_load(
        self, kind: str, key: Callable[[], str], load: Loader, ttl: float
    ) -> tuple[bytes, bool]:
        """The value, and whether the near cache may keep it: False when it was loaded past a
        write's marker or with Redis out of use, where no later eviction is certain."""
        if time.monotonic() < self._down_until:
            cache_lookup(kind, "error")
            return load(), False
        try:
            full_key = key()
            cached = self._get(full_key)
            if cached is not None:
                cache_lookup(kind, "hit")
                return cached, True
            cache_lookup(kind, "miss")
            return self._fill_or_wait(full_key, load, ttl)
        except redis.RedisError as error:
            self._mark_down(error)
            cache_lookup(kind, "error")
            return load(), False

    def _fill_or_wait(self, key: str, load: Loader, ttl: float) -> tuple[bytes, bool]:
        keys, token = self._companions(key), secrets.token_hex(8)
        claimed = self._claim(keys=keys, args=[token, self.lock_ms])
        if claimed == _BEING_WRITTEN:
            # The store, consistently; the writer's end lets the cache fill again.
            return load(), False
        if claimed == _OURS:
            value = load()
            ttl_ms = int(ttl * 1000 * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not crypto
            try:
                self._fill(keys=keys, args=[token, value, ttl_ms])
            except redis.RedisError as error:
                self._mark_down(error)  # the value is loaded: serve it, uncached
            return value, True
        deadline = time.monotonic() + self.wait_ms / 1000
        while time.monotonic() < deadline:
            time.sleep(0.01)
            cached = self._get(key)
            if cached is not None:
                return cached, True
        return load(), True

    # Writes

    @contextlib.contextmanager
    def writing(self, keys: Iterable[str]) -> Iterator[None]:
        """Around a write to the store that changes the entries `keys` (and, always, the list
        pages): marks them dirty before the block, clears the marks after it, whatever the
        block does. Raises CacheUnavailableError, without running the block, when Redis
        cannot take the marks."""
        keys, token = list(keys), secrets.token_hex(8)
        self._near_evict(keys)
        try:
            self._send(self._begin, keys, token, self.marker_ms)
        except redis.RedisError as error:
            self._mark_down(error)
            if not isinstance(error, redis.ConnectionError):  # some marks may have landed
                self._end_quietly(keys, token)
            raise CacheUnavailableError(f"Redis did not take the write's marks: {error}") from error
        try:
            yield
        finally:
            self._near_evict(keys)
            try:
                self._send(self._end, keys, token)
            except redis.RedisError as error:
                self._mark_down(error)
                log.warning(
                    "could not clear the cache's write marks; they expire by themselves",
                    extra={"error": str(error), "markerMs": self.marker_ms},
                )

    def _send(self, script: Any, keys: list[str], token: str, *args: object) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            script(keys=self._companions(key), args=[token, *args], client=pipe)
        pipe.incr(self.key("generation"))
        self.channel.publish(pipe, keys)
        pipe.execute()

    def _end_quietly(self, keys: list[str], token: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self._send(self._end, keys, token)

    def _mark_down(self, error: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("cache unavailable, reading from the store", extra={"error": str(error)})
        self._down_until = time.monotonic() + self.retry_after
