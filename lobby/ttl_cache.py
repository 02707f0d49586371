"""A bounded in-process cache whose entries are trusted for a fixed time after they were loaded."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values by key, loaded on a miss and reused for `ttl_s` seconds; `forget` drops one at once.

    With `keep_misses`, a key the loader found nothing for is remembered as absent for the same
    time; without it, the next lookup asks the loader again. Values and remembered misses are held
    apart, each up to `max_entries`, so a flood of unknown keys never pushes a value out. When a
    side reaches its bound it starts over empty, which bounds memory without bookkeeping on the
    hot path.
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int,
        *,
        keep_misses: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._keep_misses = keep_misses
        self._entries: dict[K, tuple[float, V]] = {}
        self._misses: dict[K, float] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The value of `key`: cached while fresh, else whatever `load()` returns (None: absent)."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        if self._misses.get(key, now) > now:
            return None
        value = await load()
        if value is None:
            self._entries.pop(key, None)
            if self._keep_misses:
                _put(self._misses, key, now + self._ttl_s, self._max_entries)
            return None
        self._misses.pop(key, None)
        _put(self._entries, key, (now + self._ttl_s, value), self._max_entries)
        return value

    def forget(self, key: K) -> None:
        """Drop what is cached of `key` (it just changed here)."""
        self._entries.pop(key, None)
        self._misses.pop(key, None)


def _put(entries: dict[K, V], key: K, value: V, max_entries: int) -> None:
    if len(entries) >= max_entries and key not in entries:
        entries.clear()
    entries[key] = value
