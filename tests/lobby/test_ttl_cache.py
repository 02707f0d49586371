"""The TTL cache in front of the store: what it reuses, for how long, and what it forgets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from lobby.ttl_cache import TtlCache


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """A store stand-in that counts its reads and answers from a dict."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads = 0

    def of(self, key: str) -> Callable[[], Awaitable[str | None]]:
        """The zero-argument loader of `key` that `TtlCache.get` takes."""

        async def load() -> str | None:
            self.reads += 1
            return self.values.get(key)

        return load


def lookup(cache: TtlCache[str, str], loader: Loader, key: str) -> str | None:
    return asyncio.run(cache.get(key, loader.of(key)))


def test_a_fresh_value_is_reused_and_an_expired_one_reloaded() -> None:
    clock, loader = Clock(), Loader({"a": "one"})
    cache: TtlCache[str, str] = TtlCache(5.0, 10, keep_misses=False, clock=clock)
    assert lookup(cache, loader, "a") == "one"
    loader.values["a"] = "two"
    clock.now += 4.9
    assert lookup(cache, loader, "a") == "one"
    assert loader.reads == 1
    clock.now += 0.2
    assert lookup(cache, loader, "a") == "two"
    assert loader.reads == 2


def test_misses_are_remembered_only_when_asked() -> None:
    clock = Clock()
    for keep_misses, reads_after_second_lookup in ((True, 1), (False, 2)):
        loader = Loader({})
        cache: TtlCache[str, str] = TtlCache(5.0, 10, keep_misses=keep_misses, clock=clock)
        assert lookup(cache, loader, "gone") is None
        loader.values["gone"] = "back"
        second = lookup(cache, loader, "gone")
        assert loader.reads == reads_after_second_lookup
        assert second == (None if keep_misses else "back")


def test_a_value_that_disappears_is_not_kept_once_reloaded() -> None:
    clock, loader = Clock(), Loader({"s": "player"})
    cache: TtlCache[str, str] = TtlCache(5.0, 10, keep_misses=False, clock=clock)
    assert lookup(cache, loader, "s") == "player"
    del loader.values["s"]
    clock.now += 6
    assert lookup(cache, loader, "s") is None
    loader.values["s"] = "again"
    assert lookup(cache, loader, "s") == "again"


def test_forget_drops_one_entry_at_once() -> None:
    clock, loader = Clock(), Loader({"a": "1", "b": "2"})
    cache: TtlCache[str, str] = TtlCache(5.0, 10, keep_misses=True, clock=clock)
    lookup(cache, loader, "a")
    lookup(cache, loader, "b")
    loader.values.update(a="1'", b="2'")
    cache.forget("a")
    assert lookup(cache, loader, "a") == "1'"
    assert lookup(cache, loader, "b") == "2"


def test_the_cache_never_holds_more_than_its_bound() -> None:
    clock = Clock()
    loader = Loader({str(i): f"v{i}" for i in range(25)})
    cache: TtlCache[str, str] = TtlCache(5.0, 10, keep_misses=True, clock=clock)
    for i in range(25):
        assert lookup(cache, loader, str(i)) == f"v{i}"
        assert len(cache._entries) <= 10
    reads = loader.reads
    assert lookup(cache, loader, "24") == "v24"
    assert loader.reads == reads


def test_a_flood_of_unknown_keys_is_remembered_without_pushing_values_out() -> None:
    clock, loader = Clock(), Loader({"real": "session"})
    cache: TtlCache[str, str] = TtlCache(5.0, 10, keep_misses=True, clock=clock)
    assert lookup(cache, loader, "real") == "session"
    for i in range(25):
        assert lookup(cache, loader, f"bogus{i}") is None
    assert lookup(cache, loader, "bogus24") is None
    reads = loader.reads
    assert lookup(cache, loader, "real") == "session"
    assert loader.reads == reads, "the value stayed cached"
