"""The read-through cache on fakeredis: hits and misses, Redis outages, the fill lock that keeps
a stampede off the store, and the write marks that keep an old value from being cached after a
write: Redis refusing them refuses the write, and no interleaving of a fill and a write leaves
the old value behind."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import fakeredis
import fakeredis._socket._base
import pytest
from tests.unit.catalog.near import WAIT, caught_up, eventually, listening

import catalog.cache
from catalog.cache import CacheUnavailableError, ReadThroughCache

KIND = "unit-test"  # the `cache` label of this module's lookups
TTL = 60.0
MARKER_MS = 45_000
NOTHING = {"near": 0, "hit": 0, "miss": 0, "error": 0}


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
        self.sleeps_end_at: list[float] = []  # if set, when each next sleep ends (overshooting)
        self.slept = 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep does
        self.slept += 1
        self.now = self.sleeps_end_at.pop(0) if self.sleeps_end_at else self.now + seconds
        callbacks, self.on_sleep = self.on_sleep, []
        for callback in callbacks:
            callback()


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(catalog.cache, "time", clock)  # the channel's listener keeps real time
    return clock


class RedisClock:
    """fakeredis' clock, stopped: expiries and remaining times are exact, and move only when a
    test moves `now` (fakeredis reads the time at each command)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def redis_clock(monkeypatch: pytest.MonkeyPatch) -> RedisClock:
    clock = RedisClock()
    monkeypatch.setattr(fakeredis._socket._base, "time", clock)
    return clock


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def redis(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    """A client to look at what the cache stored."""
    return fakeredis.FakeRedis(server=server)


_opened: list[ReadThroughCache] = []


@pytest.fixture(autouse=True)
def _stop_listeners() -> Iterator[None]:
    """Each test's invalidation listeners stop with it (each within half a heartbeat: not
    waited for)."""
    yield
    while _opened:
        _opened.pop().close(timeout=0)


def new_cache(server: fakeredis.FakeServer, **options: Any) -> ReadThroughCache:
    cache = ReadThroughCache(
        fakeredis.FakeRedis(server=server), namespace="test", **{"marker_ms": MARKER_MS, **options}
    )
    _opened.append(cache)
    return cache


@pytest.fixture
def cache(server: fakeredis.FakeServer) -> ReadThroughCache:
    return new_cache(server)


@pytest.fixture
def lookups(cache_lookups: Any) -> Any:
    return cache_lookups(KIND, tuple(NOTHING))


def read(cache: ReadThroughCache, load: Loader, key: str = "product:1") -> bytes:
    return cache.get_or_load(KIND, lambda: cache.key(key), load, TTL, near=True)


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


class Draw:
    """The cache's `random`, drawing the lowest or the highest jitter it allows."""

    def __init__(self, highest: bool) -> None:
        self.highest = highest

    def uniform(self, a: float, b: float) -> float:
        return max(a, b) if self.highest else min(a, b)


@pytest.mark.usefixtures("redis_clock")
@pytest.mark.parametrize(("highest", "ttl_ms"), [(False, 54_000), (True, 66_000)])
def test_a_filled_value_expires_after_its_ttl_give_or_take_a_tenth(
    cache: ReadThroughCache,
    redis: fakeredis.FakeRedis,
    monkeypatch: pytest.MonkeyPatch,
    highest: bool,
    ttl_ms: int,
) -> None:
    monkeypatch.setattr(catalog.cache, "random", Draw(highest))
    read(cache, Loader(b"value"))
    assert redis.pttl(cache.key("product:1")) == ttl_ms  # TTL is 60 s


@pytest.mark.usefixtures("redis_clock")
def test_values_filled_together_do_not_expire_together(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    for number in range(50):
        read(cache, Loader(b"value"), f"product:{number}")
    ttls = [redis.pttl(cache.key(f"product:{number}")) for number in range(50)]
    assert all(54_000 <= ttl <= 66_000 for ttl in ttls), ttls
    assert max(ttls) - min(ttls) > 6_000  # spread over more than half of the jitter's range


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


# Writes


class Store(Loader):
    """The product as the store has it: a loader whose value `write` changes, marking the cache
    around it as the catalog's writes do."""

    def load(self) -> bytes:
        return self()

    def write(self, cache: ReadThroughCache, value: bytes, key: str = "product:1") -> None:
        with cache.writing([cache.key(key)]):
            self.value = value


def read_from(cache: ReadThroughCache, store: Store, key: str = "product:1") -> bytes:
    return cache.get_or_load(KIND, lambda: cache.key(key), store.load, TTL, near=True)


def test_a_written_entry_is_loaded_again(cache: ReadThroughCache, lookups: Any) -> None:
    store = Store(b"v1")
    read_from(cache, store)
    store.write(cache, b"v2")
    lookups.since()
    assert read_from(cache, store) == b"v2"
    assert read_from(cache, store) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1}
    assert store.calls == 2


def test_a_write_bumps_the_list_generation_before_and_after(cache: ReadThroughCache) -> None:
    assert cache.generation() == "0"
    with cache.writing([cache.key("product:1")]):
        assert cache.generation() == "1"  # pages filled from now on are dropped after the write
    assert cache.generation() == "2"
    with cache.writing([]):  # a write of no product (a new category) moves the pages too
        pass
    assert cache.generation() == "4"


def test_caches_on_one_redis_share_writes(server: fakeredis.FakeServer) -> None:
    worker_a, worker_b = new_cache(server), new_cache(server)
    store = Store(b"v1")
    read_from(worker_a, store)
    store.write(worker_b, b"v2")
    assert read_from(worker_a, store) == b"v2"
    assert worker_a.generation() == "2"


def test_a_write_leaves_no_marks_behind(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    read_from(cache, Store(b"v1"))
    Store(b"v1").write(cache, b"v2")
    assert redis.keys("*") == [cache.key("generation").encode()]


def test_the_marks_are_cleared_when_the_write_fails(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    with pytest.raises(LookupError), cache.writing([cache.key("product:1")]):
        raise LookupError("the store refused the write")
    assert redis.keys("*") == [cache.key("generation").encode()]
    assert read(cache, Loader(b"v1")) == b"v1"
    assert redis.get(cache.key("product:1")) == b"v1"  # cached again


def test_while_a_write_is_under_way_readers_load_and_cache_nothing(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis, clock: Clock, lookups: Any
) -> None:
    store = Store(b"v1")
    read_from(cache, store)
    started = clock.now
    with cache.writing([cache.key("product:1")]):
        assert read_from(cache, store) == b"v1"  # not committed yet: the store still has v1
        store.value = b"v2"  # committed
        assert read_from(cache, store) == b"v2"
        assert redis.get(cache.key("product:1")) is None
    assert clock.now == started  # ...at once: nobody's fill is waited for
    assert lookups.since() == {**NOTHING, "miss": 3}
    assert store.calls == 3
    assert read_from(cache, store) == b"v2"
    assert redis.get(cache.key("product:1")) == b"v2"


def test_writers_of_one_entry_that_overlap_keep_it_marked_until_the_last_ends(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    store = Store(b"v1")
    with ExitStack() as second:
        with cache.writing([cache.key("product:1")]):
            second.enter_context(cache.writing([cache.key("product:1")]))
        # The first writer is done; the second has not committed yet.
        assert read_from(cache, store) == b"v1"
        assert redis.get(cache.key("product:1")) is None  # ...so v1 must not be cached
        store.value = b"v2"
    assert read_from(cache, store) == b"v2"


# Racing a reader's fill against a write: whatever the order, no old value stays cached.


def test_a_fill_that_loaded_before_the_write_began_is_not_stored(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    store = Store(b"old")

    def load_then_a_whole_write_lands() -> bytes:
        value = store.load()  # the fill lock is held, the store read...
        store.write(cache, b"new")  # ...then a write begins, commits and ends
        return value

    assert (
        cache.get_or_load(KIND, lambda: cache.key("product:1"), load_then_a_whole_write_lands, TTL)
        == b"old"
    )
    assert redis.get(cache.key("product:1")) is None
    assert read_from(cache, store) == b"new"


def test_a_fill_that_loaded_during_a_write_and_stores_after_it_ended_is_not_stored(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    store = Store(b"old")
    write = ExitStack()

    def load_while_a_write_runs() -> bytes:
        write.enter_context(cache.writing([cache.key("product:1")]))  # after the lock was taken
        value = store.load()  # before the commit
        store.value = b"new"
        write.close()  # committed and ended, before this fill stores
        return value

    key = cache.key("product:1")
    assert cache.get_or_load(KIND, lambda: key, load_while_a_write_runs, TTL) == b"old"
    assert redis.get(key) is None
    assert read_from(cache, store) == b"new"


def test_a_fill_whose_lock_was_taken_before_the_write_stores_nothing_while_it_runs(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    store = Store(b"old")
    write = ExitStack()

    def load_then_a_write_begins() -> bytes:
        value = store.load()
        write.enter_context(cache.writing([cache.key("product:1")]))  # begins, not yet done
        return value

    assert (
        cache.get_or_load(KIND, lambda: cache.key("product:1"), load_then_a_write_begins, TTL)
        == b"old"
    )
    assert redis.get(cache.key("product:1")) is None
    store.value = b"new"
    write.close()
    assert read_from(cache, store) == b"new"


def test_readers_racing_writers_never_read_older_than_the_last_acknowledged_write(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis
) -> None:
    """Real threads: after each write returns, no read that starts later sees an older one."""
    writer_cache = new_cache(server)
    state = {"store": 0, "acknowledged": 0}
    stale: list[tuple[int, int]] = []
    done = threading.Event()

    def load() -> bytes:
        version = state["store"]
        done.wait(0.0005)  # a slow store read: writes land meanwhile
        return str(version).encode()

    def reader() -> None:
        cache = new_cache(server)
        while not done.is_set():
            floor = state["acknowledged"]
            version = int(cache.get_or_load(KIND, lambda: cache.key("product:1"), load, TTL))
            if version < floor:
                stale.append((version, floor))

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    try:
        for version in range(1, 151):
            with writer_cache.writing([writer_cache.key("product:1")]):
                state["store"] = version
            state["acknowledged"] = version
            time.sleep(0.0005)  # on purpose: the readers get a turn between writes
    finally:
        done.set()
        for thread in readers:
            thread.join(timeout=60)
    assert stale == []
    cached = redis.get(writer_cache.key("product:1"))
    assert cached in (None, b"150")


def expire(redis: fakeredis.FakeRedis, marker: str) -> None:
    """The marker's time is up: it has one (at most MARKER_MS), and Redis drops it, as here."""
    assert 0 < redis.pttl(marker) <= MARKER_MS
    redis.delete(marker)


def test_a_reader_during_the_write_of_a_writer_that_dies_caches_nothing(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis
) -> None:
    cache = new_cache(server)
    store = Store(b"old")
    died = ExitStack()
    died.enter_context(cache.writing([cache.key("product:1")]))  # never ended

    def load_commit_and_outlive_the_mark() -> bytes:
        value = store.load()  # before the dead writer's commit landed
        store.value = b"new"
        expire(redis, cache.key("product:1") + ":writing")
        return value

    key = cache.key("product:1")
    assert cache.get_or_load(KIND, lambda: key, load_commit_and_outlive_the_mark, TTL) == b"old"
    assert redis.get(key) is None
    assert read_from(cache, store) == b"new"
    died.pop_all()


def test_a_value_filled_after_a_mark_expired_mid_write_is_removed_when_the_write_ends(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis
) -> None:
    cache = new_cache(server)
    store = Store(b"old")
    with cache.writing([cache.key("product:1")]):
        expire(redis, cache.key("product:1") + ":writing")  # a write that outlived its mark
        assert read_from(cache, store) == b"old"  # filled: the mark is gone, nothing committed
        store.value = b"new"
    assert redis.get(cache.key("product:1")) is None
    assert read_from(cache, store) == b"new"


# A write Redis cannot mark


def test_redis_down_refuses_the_write_before_it_is_made(
    server: fakeredis.FakeServer, cache: ReadThroughCache
) -> None:
    store = Store(b"v1")
    server.connected = False
    with pytest.raises(CacheUnavailableError):
        store.write(cache, b"v2")
    assert store.value == b"v1"


def test_redis_answering_with_an_error_refuses_the_write(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis
) -> None:
    store = Store(b"v1")
    redis.set(cache.key("product:1") + ":writing", "not a hash")  # the marker's HSET fails
    with pytest.raises(CacheUnavailableError, match="WRONGTYPE"):
        store.write(cache, b"v2")
    assert store.value == b"v1"


def test_a_mark_redis_could_not_clear_bypasses_the_cache_until_it_expires(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis, clock: Clock, lookups: Any
) -> None:
    cache = new_cache(server)
    store = Store(b"v1")
    read_from(cache, store)
    with cache.writing([cache.key("product:1")]):
        store.value = b"v2"
        server.connected = False  # Redis goes away before the marks are cleared
    server.connected = True
    clock.now += cache.retry_after  # this process tries Redis again
    lookups.since()

    assert read_from(cache, store) == b"v2"  # from the store, never the old value
    assert read_from(cache, store) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 2}

    expire(redis, cache.key("product:1") + ":writing")
    read_from(cache, store)
    assert read_from(cache, store) == b"v2"
    assert lookups.since()["hit"] == 1  # the cache is used again


def test_a_writer_that_died_mid_write_leaves_a_mark_that_expires(
    server: fakeredis.FakeServer, redis: fakeredis.FakeRedis
) -> None:
    cache = new_cache(server)
    store = Store(b"v1")
    dead = ExitStack()
    dead.enter_context(cache.writing([cache.key("product:1")]))
    store.value = b"v2"  # committed; the process dies before clearing its marks
    assert read_from(cache, store) == b"v2"
    assert redis.get(cache.key("product:1")) is None
    assert 0 < redis.pttl(cache.key("product:1") + ":writing") <= MARKER_MS
    dead.pop_all()


# The fill lock


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
    started = clock.now
    assert read(cache, load) == b"the other caller's value"
    assert clock.now - started <= 0.010001  # seen at its first look, 10 ms later
    assert load.calls == 0
    assert lookups.since() == {**NOTHING, "miss": 1}


@pytest.mark.parametrize(
    ("looks", "served"),
    [([0.1999, 0.20001], True), ([0.1999, 0.20001, 0.20003], False), ([0.2, 0.3], False)],
    ids=[
        "stored-just-after-200-ms-seen-at-the-last-look",
        "stored-later-not-waited-for",
        "a-look-at-200-ms-is-the-last",
    ],
)
def test_a_second_caller_waits_200_ms_for_the_lock_holders_value_and_no_longer(
    server: fakeredis.FakeServer,
    redis: fakeredis.FakeRedis,
    clock: Clock,
    looks: list[float],
    served: bool,
) -> None:
    cache = new_cache(server)  # the catalog's: wait_ms 200
    key = cache.key("product:1")
    redis.set(key + ":fill", "another-caller", px=2000)
    # This caller's looks land these many seconds after it started waiting; the lock holder
    # stores its value just before the last of them.
    clock.sleeps_end_at = [clock.now + seconds for seconds in looks]

    def the_other_caller_stores() -> None:
        if clock.slept < len(looks):
            clock.on_sleep.append(the_other_caller_stores)
            return
        redis.set(key, b"the other caller's value", px=60_000)
        redis.delete(key + ":fill")

    clock.on_sleep.append(the_other_caller_stores)
    expected = b"the other caller's value" if served else b"loaded by this caller"
    assert read(cache, Loader(b"loaded by this caller")) == expected


@pytest.mark.parametrize(("later", "cached"), [(1.9995, False), (2.0005, True)])
def test_a_fill_lock_left_by_a_failed_load_holds_off_fills_for_2_s(
    server: fakeredis.FakeServer, redis_clock: RedisClock, later: float, cached: bool
) -> None:
    cache = new_cache(server)  # the catalog's: lock_ms 2000

    def fail() -> bytes:
        raise LookupError("the store failed")

    with pytest.raises(LookupError):
        cache.get_or_load(KIND, lambda: cache.key("product:1"), fail, TTL)
    redis_clock.now += later
    load = Loader(b"v1")
    assert read(cache, load) == b"v1"
    assert read(cache, load) == b"v1"
    assert load.calls == (1 if cached else 2)


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


def failed_once(
    server: fakeredis.FakeServer, clock: Clock, seconds_later: float
) -> ReadThroughCache:
    """A cache (the catalog's: retry_after 2 s) holding a value, whose Redis failed one read
    and is back, still holding the value, `seconds_later`."""
    cache = new_cache(server)
    read(cache, Loader(b"cached"))
    server.connected = False
    read(cache, Loader(b"from the store"))
    server.connected = True
    clock.now += seconds_later
    return cache


def test_after_a_failure_redis_is_not_consulted_for_retry_after(
    server: fakeredis.FakeServer, clock: Clock, lookups: Any
) -> None:
    cache = failed_once(server, clock, 1.9)
    lookups.since()

    load = Loader(b"from the store again")
    assert read(cache, load) == b"from the store again"
    assert load.calls == 1
    assert lookups.since() == {**NOTHING, "error": 1}


def test_redis_is_consulted_again_once_retry_after_has_passed(
    server: fakeredis.FakeServer, clock: Clock, lookups: Any
) -> None:
    cache = failed_once(server, clock, 2.0)
    lookups.since()

    assert read(cache, Loader(b"not needed")) == b"cached"
    assert lookups.since() == {**NOTHING, "hit": 1}


# The near cache: this process's memory, evicted through the invalidation channel by a listener
# thread, kept for at most near_seconds


NEAR = 1.5


def near_cache(server: fakeredis.FakeServer, **options: Any) -> ReadThroughCache:
    return listening(new_cache(server, **{"near_seconds": NEAR, **options}))


@pytest.fixture
def near(server: fakeredis.FakeServer) -> ReadThroughCache:
    return near_cache(server)


def test_a_near_read_is_served_from_memory_without_asking_redis(
    near: ReadThroughCache, redis: fakeredis.FakeRedis, lookups: Any
) -> None:
    load = Loader(b"v1")
    assert read(near, load) == b"v1"
    redis.set(near.key("product:1"), b"changed in redis")  # not asked again within the bound
    assert read(near, load) == b"v1"
    assert lookups.since() == {**NOTHING, "miss": 1, "near": 1}
    assert load.calls == 1


def test_until_the_listener_is_subscribed_reads_go_to_redis(
    server: fakeredis.FakeServer, lookups: Any
) -> None:
    cache, gate = new_cache(server, near_seconds=NEAR), threading.Event()
    subscribe = cache.channel._subscribe
    cache.channel._subscribe = lambda: (gate.wait(WAIT), subscribe())[1]  # held back
    assert read(cache, Loader(b"v1")) == b"v1"  # starts the listener, which waits at the gate
    assert read(cache, Loader(b"v1")) == b"v1"
    gate.set()
    listening(cache)
    assert read(cache, Loader(b"unused")) == b"v1"  # kept from here on
    assert read(cache, Loader(b"unused")) == b"v1"
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 2, "near": 1}


def test_another_process_s_write_is_evicted_by_the_listener(
    server: fakeredis.FakeServer, near: ReadThroughCache, lookups: Any
) -> None:
    store = Store(b"v1")
    assert read_from(near, store) == b"v1"
    assert read_from(near, store) == b"v1"
    store.write(new_cache(server), b"v2")  # another pod's write, acknowledged now
    caught_up(near)  # with no read in between: the listener needs none
    assert read_from(near, store) == b"v2"
    assert read_from(near, store) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 2, "near": 2}


def test_another_process_s_write_evicts_only_the_keys_it_wrote(
    server: fakeredis.FakeServer, near: ReadThroughCache, lookups: Any
) -> None:
    read(near, Loader(b"one"), "product:1")
    read(near, Loader(b"two"), "product:2")
    lookups.since()
    with new_cache(server).writing([near.key("product:1")]):
        pass
    caught_up(near)
    assert read(near, Loader(b"one, again"), "product:1") == b"one, again"
    assert read(near, Loader(b"unused"), "product:2") == b"two"
    assert lookups.since() == {**NOTHING, "miss": 1, "near": 1}


def test_without_an_invalidation_an_entry_is_served_for_at_most_near_seconds(
    near: ReadThroughCache, redis: fakeredis.FakeRedis, clock: Clock, lookups: Any
) -> None:
    assert read(near, Loader(b"v1")) == b"v1"
    redis.set(near.key("product:1"), b"v2")  # changed behind the channel's back
    clock.now += NEAR - 0.01
    assert read(near, Loader(b"unused")) == b"v1"
    clock.now += 0.01
    assert read(near, Loader(b"unused")) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 1, "near": 1, "hit": 1}


def test_the_bound_counts_from_when_the_read_began_not_when_it_ended(
    near: ReadThroughCache, clock: Clock
) -> None:
    def slow_load() -> bytes:
        clock.now += 1.0  # the store took a second to answer
        return b"v1"

    assert read(near, slow_load) == b"v1"
    clock.now += NEAR - 1.0
    assert read(near, Loader(b"v2")) == b"v1"  # Redis holds v1: a hit, not a near read


def test_a_write_through_this_process_is_read_at_once(near: ReadThroughCache, lookups: Any) -> None:
    store = Store(b"v1")
    read_from(near, store)
    store.write(near, b"v2")
    assert read_from(near, store) == b"v2"  # no waiting for the listener: the writer evicts
    assert lookups.since() == {**NOTHING, "miss": 2}


def test_a_message_that_is_no_writer_s_empties_the_near_cache_and_fails_no_read(
    near: ReadThroughCache, redis: fakeredis.FakeRedis, lookups: Any
) -> None:
    assert read(near, Loader(b"v1")) == b"v1"
    redis.publish(near.channel.channel, b"\xff\xfe not text")
    caught_up(near)
    assert near.channel.ready()  # still listening
    assert read(near, Loader(b"unused")) == b"v1"  # from Redis: memory was emptied
    assert read(near, Loader(b"unused")) == b"v1"
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1, "near": 1}


def test_a_read_that_overlaps_a_write_of_this_process_keeps_nothing(
    near: ReadThroughCache, lookups: Any
) -> None:
    store = Store(b"v1")

    def load_while_written() -> bytes:
        value = store.load()  # v1, read before the write below commits
        store.write(near, b"v2")
        return value

    assert near.get_or_load(KIND, lambda: near.key("product:1"), load_while_written, TTL, near=True)
    assert read_from(near, store) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 2}


def test_a_read_that_overlaps_another_process_s_write_is_not_served_after_it(
    server: fakeredis.FakeServer, near: ReadThroughCache
) -> None:
    store = Store(b"v1")

    def load_while_written() -> bytes:
        value = store.load()  # v1, read before the other pod's write commits
        store.write(new_cache(server), b"v2")
        return value

    near.get_or_load(KIND, lambda: near.key("product:1"), load_while_written, TTL, near=True)
    caught_up(near)  # the eviction came before the read kept v1 (kept nothing) or after it
    assert read_from(near, store) == b"v2"


def test_a_value_loaded_past_a_write_s_marker_is_not_kept(
    server: fakeredis.FakeServer, near: ReadThroughCache, lookups: Any
) -> None:
    writer = new_cache(server)
    with writer.writing([near.key("product:1")]):  # the other pod's write, still under way
        assert read(near, Loader(b"v1")) == b"v1"  # from the store, past the marker
        assert read(near, Loader(b"v1")) == b"v1"
    assert lookups.since() == {**NOTHING, "miss": 2}


def test_reads_without_near_never_use_it(near: ReadThroughCache, lookups: Any) -> None:
    load = Loader(b"page")
    for _ in range(2):
        near.get_or_load(KIND, lambda: near.key("page:1"), load, TTL)
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1}


def test_the_near_cache_holds_at_most_near_entries_dropping_the_oldest(
    server: fakeredis.FakeServer, lookups: Any
) -> None:
    cache = near_cache(server, near_entries=2)
    for key in ("product:1", "product:2", "product:3"):
        read(cache, Loader(key.encode()), key)
    lookups.since()
    assert read(cache, Loader(b"unused"), "product:3") == b"product:3"
    assert read(cache, Loader(b"unused"), "product:2") == b"product:2"
    assert lookups.since() == {**NOTHING, "near": 2}
    assert read(cache, Loader(b"unused"), "product:1") == b"product:1"  # dropped: from Redis
    assert lookups.since() == {**NOTHING, "hit": 1}


def test_with_redis_down_nothing_is_kept_near(
    server: fakeredis.FakeServer, near: ReadThroughCache, lookups: Any
) -> None:
    server.connected = False
    load = Loader(b"from the store")
    assert read(near, load) == b"from the store"
    assert read(near, load) == b"from the store"
    assert load.calls == 2  # no write could be heard of: each read asks the store
    assert lookups.since() == {**NOTHING, "error": 2}


def test_a_failed_channel_empties_the_near_cache_until_it_is_subscribed_again(
    server: fakeredis.FakeServer,
    redis: fakeredis.FakeRedis,
    clock: Clock,
    lookups: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Kept long past the outage, unless emptied; the channel tries again after 0.2 s.
    near = near_cache(server, near_seconds=60.0, retry_after=0.2)
    assert read(near, Loader(b"v1")) == b"v1"
    with caplog.at_level(logging.WARNING, logger="catalog.invalidation"):
        server.connected = False  # Redis restarts: what is published meanwhile is lost
        eventually(lambda: not near.channel.ready(), "the listener saw the failure")
        assert read(near, Loader(b"from the store")) == b"from the store"
        redis_down_until = clock.now + near.retry_after
        server.connected = True
        redis.set(near.key("product:1"), b"v2")  # a write whose invalidation went unheard
        listening(near)  # subscribed again: memory emptied
    warnings = {
        record.getMessage()
        for record in caplog.records
        if record.name == "catalog.invalidation" and record.levelno == logging.WARNING
    }
    assert warnings == {"near cache off: the invalidation channel failed; reads go to Redis"}
    clock.now = redis_down_until  # this process reads Redis again (its own retry_after)
    assert read(near, Loader(b"unused")) == b"v2"  # from Redis
    assert read(near, Loader(b"unused")) == b"v2"
    assert lookups.since() == {**NOTHING, "miss": 1, "error": 1, "hit": 1, "near": 1}


def test_anything_unexpected_on_the_subscription_drops_it(
    near: ReadThroughCache, lookups: Any
) -> None:
    assert read(near, Loader(b"v1")) == b"v1"
    near.channel._connection.send_command("UNSUBSCRIBE", near.channel.channel, check_health=False)
    eventually(lambda: not near.channel.ready(), "the listener dropped the subscription")
    assert read(near, Loader(b"unused")) == b"v1"  # from Redis: memory emptied
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1}


def test_an_eviction_that_fails_turns_the_near_cache_off_and_the_listener_carries_on(
    server: fakeredis.FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    near = near_cache(server, retry_after=0.05)
    evict, failed = near.channel._on_invalidate, threading.Event()

    def fails_once(keys: Any) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a bug in the eviction")
        evict(keys)

    near.channel.listen(fails_once)
    with caplog.at_level(logging.WARNING, logger="catalog.invalidation"):
        near.client.publish(near.channel.channel, near.key("product:1"))
        eventually(
            lambda: any(
                getattr(record, "error", None) == "a bug in the eviction"
                for record in caplog.records
            ),
            "the failure logged",
        )
    listening(near)  # subscribed again by the same thread
    assert near.channel._listener is not None
    assert near.channel._listener.is_alive()


def test_a_silent_channel_is_not_trusted_after_its_heartbeat_and_is_made_again(
    server: fakeredis.FakeServer, lookups: Any
) -> None:
    """A connection whose network path died delivers nothing and raises nothing."""
    near = near_cache(server, heartbeat=0.2, retry_after=0.1)
    assert read(near, Loader(b"v1")) == b"v1"
    silent = near.channel._connection

    def nothing_arrives(timeout: float = 0) -> bool:
        time.sleep(timeout)
        return False

    silent.can_read = nothing_arrives
    cut = time.monotonic()
    eventually(lambda: not near.channel.ready(), "the channel distrusted")
    # A heartbeat after it last heard Redis (give or take a loaded machine's scheduling), and
    # not near_seconds: this test's clock does not move.
    assert time.monotonic() - cut < 1.0
    assert read(near, Loader(b"unused")) == b"v1"  # from Redis
    listening(near)  # on a new connection, after retry_after
    assert near.channel._connection is not silent
    assert read(near, Loader(b"unused")) == b"v1"  # from Redis: memory emptied when subscribed
    assert read(near, Loader(b"unused")) == b"v1"
    assert lookups.since() == {**NOTHING, "miss": 1, "near": 1, "hit": 2}


def test_a_reply_read_while_another_waits_does_not_renew_the_trust(
    server: fakeredis.FakeServer,
) -> None:
    """Trust renewed by a reply with another waiting behind it would outlast that other one's
    arrival by a heartbeat, were the listener starved of the GIL right after reading the first."""
    near = near_cache(server, heartbeat=30.0)  # no PING within the test: only these replies
    channel, held, trusted = near.channel, threading.Event(), {}
    apply = channel._on_invalidate

    def spy(keys: Any) -> None:
        if keys == ["hold"]:
            held.wait(WAIT)  # the listener is busy while the others arrive
        apply(keys)
        if keys and keys[0] in ("hold", "first", "second"):
            trusted[keys[0]] = channel._trusted_until

    channel.listen(spy)
    before = channel._trusted_until
    for message in ("hold", "first", "second"):
        near.client.publish(channel.channel, message)
    eventually(lambda: channel._connection.can_read(timeout=0), "the others waiting")
    held.set()
    eventually(lambda: "second" in trusted, "all three applied")
    # Not renewed while one waited behind; renewed by the last, with nothing behind it.
    assert trusted["hold"] == trusted["first"] == before
    eventually(lambda: channel._trusted_until > before, "the trust renewed by the last")
    channel.listen(apply)
    near.close()


def test_a_forked_process_starts_its_own_listener_on_its_own_connection(
    near: ReadThroughCache, lookups: Any
) -> None:
    assert read(near, Loader(b"v1")) == b"v1"
    parent = near.channel._connection
    near.channel._reset()  # what a gunicorn worker runs after the fork
    assert not near.channel.ready()  # its memory is not trusted until it has subscribed
    listening(near)
    assert near.channel._connection is not parent
    assert parent._sock is not None  # the parent's is left to the parent
    assert read(near, Loader(b"unused")) == b"v1"  # memory emptied when subscribed: Redis
    assert read(near, Loader(b"unused")) == b"v1"
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1, "near": 1}


def test_close_stops_the_listener(near: ReadThroughCache) -> None:
    listener = near.channel._listener
    assert listener is not None
    near.close()
    assert not listener.is_alive()
    assert not near.channel.ready()  # and none is started again


def test_an_outage_is_logged_once_and_a_failure_once_retry_after_has_passed_again(
    server: fakeredis.FakeServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = new_cache(server)  # the catalog's: retry_after 2 s
    server.connected = False
    with caplog.at_level(logging.WARNING, logger="catalog.cache"):
        read(cache, Loader(b"from the store"))
        with pytest.raises(CacheUnavailableError):  # a write tries Redis meanwhile
            Store(b"v1").write(cache, b"v2")
        assert len(caplog.records) == 1
        clock.now += 2.0
        read(cache, Loader(b"from the store"))  # Redis tried again, failing again
    assert [record.getMessage() for record in caplog.records] == [
        "cache unavailable, reading from the store"
    ] * 2


def test_a_write_redis_refused_halfway_leaves_no_entry_bypassing_the_cache(
    cache: ReadThroughCache, redis: fakeredis.FakeRedis, clock: Clock, lookups: Any
) -> None:
    redis.set(cache.key("product:2") + ":writing", "not a hash")  # its mark fails, product:1's not
    with (
        pytest.raises(CacheUnavailableError),
        cache.writing([cache.key("product:1"), cache.key("product:2")]),
    ):
        pass
    clock.now += cache.retry_after  # this process tries Redis again
    lookups.since()
    load = Loader(b"v1")
    assert read(cache, load, "product:1") == b"v1"
    assert read(cache, load, "product:1") == b"v1"
    assert load.calls == 1  # cached again: the refused write's mark did not stay behind
    assert lookups.since() == {**NOTHING, "miss": 1, "hit": 1}
