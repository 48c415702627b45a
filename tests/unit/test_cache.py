"""The read-through cache on fakeredis: hits and misses, Redis outages, invalidation, and the
fill lock that keeps a stale value from being stored and a stampede off the store."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest

import catalog.cache
from catalog.cache import ReadThroughCache

KIND = "unit-test"  # the `cache` label of this module's lookups
TTL = 60.0
NOTHING = {"hit": 0, "miss": 0, "error": 0}


class Loader:
    """A loader that returns `value` and counts its calls."""

    def __init__(self, value: bytes) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.value


class Clock:
    """The cache's `time`: it moves only when a test (or the cache's own sleep) moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.on_sleep: list[Any] = []  # callbacks run once, at the next sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        while self.on_sleep:
            self.on_sleep.pop(0)()


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(catalog.cache, "time", clock)
    return clock


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def redis(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    """A client to look at what the cache stored."""
    return fakeredis.FakeRedis(server=server)


def new_cache(server: fakeredis.FakeServer, **options: Any) -> ReadThroughCache:
    return ReadThroughCache(fakeredis.FakeRedis(server=server), namespace="test", **options)


@pytest.fixture
def cache(server: fakeredis.FakeServer) -> ReadThroughCache:
    return new_cache(server)


@pytest.fixture
def lookups(cache_lookups: Any) -> Any:
    return cache_lookups(KIND)


def read(cache: ReadThroughCache, load: Loader, key: str = "product:1") -> bytes:
    return cache.get_or_load(KIND, lambda: cache.key(key), load, TTL)


# Hits and misses


def test_a_miss_loads_and_the_next_read_hits(cache: ReadThroughCache, lookups: Any) -> None:
    load = Loader(b"skillet v1")
    assert read(cache, load) == b"skillet v1"
    assert lookups.since() == {**NOTHING, "miss": 1}
    assert read(cache, load) == b"skillet v1"
    assert lookups.since() == {**NOTHING, "hit": 1}
    assert load.calls == 1


def test_keys_are_cached_separately(cache: ReadThroughCache) -> None:
    assert read(cache, Loader(b"one"), "product:1") == b"one"
    assert read(cache, Loader(b"two"), "product:2") == b"two"
    assert read(cache, Loader(b"other"), "product:1") == b"one"


def test_an_empty_value_is_cached_like_any_other(cache: ReadThroughCache, lookups: Any) -> None:
    load = Loader(b"")  # how the catalog caches "no such product"
    assert read(cache, load) == b""
    assert read(cache, load) == b""
    assert load.calls == 1
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1}


def test_a_filled_value_expires_after_about_its_ttl(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    read(cache, Loader(b"value"))
    ttl_ms = redis.pttl(cache.key("product:1"))
    assert 0.9 * TTL * 1000 - 1000 < ttl_ms <= 1.1 * TTL * 1000


def test_a_fill_releases_its_lock(cache: ReadThroughCache, redis: fakeredis.FakeRedis) -> None:
    read(cache, Loader(b"value"))
    assert redis.keys("*") == [cache.key("product:1").encode()]


def test_an_error_of_the_loader_reaches_the_caller_and_is_not_cached(
    cache: ReadThroughCache,
) -> None:
    def fail() -> bytes:
        raise LookupError("the store failed")

    with pytest.raises(LookupError):
        cache.get_or_load(KIND, lambda: cache.key("product:1"), fail, TTL)
    assert read(cache, Loader(b"loaded later")) == b"loaded later"


# Invalidation


def test_an_invalidated_key_is_loaded_again(cache: ReadThroughCache, lookups: Any) -> None:
    read(cache, Loader(b"v1"))
    cache.invalidate([cache.key("product:1")])
    lookups.since()
    load = Loader(b"v2")
    assert read(cache, load) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 1}
    assert load.calls == 1


def test_invalidate_bumps_the_list_generation_unless_told_not_to(
    cache: ReadThroughCache,
) -> None:
    assert cache.generation() == "0"
    cache.invalidate([])
    assert cache.generation() == "1"
    cache.invalidate([cache.key("product:1")], lists=False)
    assert cache.generation() == "1"


def test_caches_on_one_redis_share_invalidations(server: fakeredis.FakeServer) -> None:
    worker_a, worker_b = new_cache(server), new_cache(server)
    read(worker_a, Loader(b"v1"))
    worker_b.invalidate([worker_b.key("product:1")])
    assert read(worker_a, Loader(b"v2")) == b"v2"
    assert worker_a.generation() == "1"


# The fill lock


def test_a_value_loaded_before_an_invalidation_is_not_stored(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis, lookups: Any
) -> None:
    key = cache.key("product:1")

    def load_then_a_write_lands() -> bytes:
        value = b"old"  # read from the store...
        cache.invalidate([key])  # ...then a write commits and invalidates the key
        return value

    assert cache.get_or_load(KIND, lambda: key, load_then_a_write_lands, TTL) == b"old"
    assert redis.get(key) is None
    lookups.since()
    assert read(cache, Loader(b"new")) == b"new"
    assert lookups.since() == {**NOTHING, "miss": 1}


def test_a_second_caller_waits_for_the_value_the_lock_holder_stores(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis, clock: Clock, lookups: Any
) -> None:
    cache = new_cache(server, wait_ms=200)
    key = cache.key("product:1")
    redis.set(key + ":fill", "another-caller", px=2000)  # another caller is filling the key

    def the_other_caller_stores() -> None:
        redis.set(key, b"the other caller's value", px=60_000)
        redis.delete(key + ":fill")

    clock.on_sleep.append(the_other_caller_stores)  # ...while this caller waits
    load = Loader(b"loaded by this caller")
    assert read(cache, load) == b"the other caller's value"
    assert load.calls == 0
    assert lookups.since() == {**NOTHING, "miss": 1}


def test_a_second_caller_loads_itself_when_the_fill_outlasts_wait_ms(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis
) -> None:
    cache = new_cache(server, wait_ms=20)
    second = Loader(b"loaded by the second caller")
    seen_by_second: list[bytes] = []

    def slow_first_load() -> bytes:
        # While the first caller holds the fill lock, a second caller reads the same key.
        seen_by_second.append(read(cache, second))
        return b"loaded by the first caller"

    first = read(cache, slow_first_load)
    assert first == b"loaded by the first caller"
    assert seen_by_second == [b"loaded by the second caller"]
    assert second.calls == 1
    # Only the lock holder stores its value.
    assert redis.get(cache.key("product:1")) == b"loaded by the first caller"


# Redis failing


def test_reads_fall_back_to_the_loader_when_redis_is_down(
    server: fakeredis.FakeServer, cache: ReadThroughCache, lookups: Any
) -> None:
    server.connected = False
    load = Loader(b"from the store")
    assert read(cache, load) == b"from the store"
    assert load.calls == 1
    assert lookups.since() == {**NOTHING, "error": 1}


def test_invalidate_does_not_fail_when_redis_is_down(
    server: fakeredis.FakeServer, cache: ReadThroughCache
) -> None:
    server.connected = False
    cache.invalidate([cache.key("product:1")])


def test_after_a_failure_redis_is_not_consulted_for_retry_after(
    server: fakeredis.FakeServer, clock: Clock, lookups: Any
) -> None:
    cache = new_cache(server, retry_after=2.0)
    read(cache, Loader(b"cached"))
    server.connected = False
    read(cache, Loader(b"from the store"))
    server.connected = True  # Redis is back, still holding the cached value
    clock.now += 1.9
    lookups.since()

    load = Loader(b"from the store again")
    assert read(cache, load) == b"from the store again"
    assert load.calls == 1
    assert lookups.since() == {**NOTHING, "error": 1}


def test_redis_is_consulted_again_once_retry_after_has_passed(
    server: fakeredis.FakeServer, clock: Clock, lookups: Any
) -> None:
    cache = new_cache(server, retry_after=2.0)
    read(cache, Loader(b"cached"))
    server.connected = False
    read(cache, Loader(b"from the store"))
    server.connected = True
    clock.now += 2.0
    lookups.since()

    assert read(cache, Loader(b"not needed")) == b"cached"
    assert lookups.since() == {**NOTHING, "hit": 1}


def test_an_invalidation_redis_missed_is_delivered_when_it_is_back(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis, clock: Clock, lookups: Any
) -> None:
    cache = new_cache(server, retry_after=2.0)
    read(cache, Loader(b"old"))
    server.connected = False
    cache.invalidate([cache.key("product:1")])  # a write while Redis is down
    clock.now += 2.0
    assert read(cache, Loader(b"new")) == b"new"  # still down: from the store
    server.connected = True
    clock.now += 2.0
    lookups.since()

    load = Loader(b"new")
    assert read(cache, load) == b"new"  # not the stale b"old"
    assert load.calls == 1
    assert lookups.since() == {**NOTHING, "miss": 1}
    assert cache.generation() == "1"  # the list pages were invalidated too


def test_a_missed_invalidation_is_delivered_before_anything_is_read(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis, clock: Clock
) -> None:
    cache = new_cache(server, retry_after=2.0)
    read(cache, Loader(b"old"))
    server.connected = False
    cache.invalidate([cache.key("product:1")])
    server.connected = True
    assert redis.get(cache.key("product:1")) == b"old"  # Redis has not heard of it yet
    clock.now += 2.0

    read(cache, Loader(b"other"), "product:2")  # any use of Redis delivers it
    assert redis.get(cache.key("product:1")) is None
