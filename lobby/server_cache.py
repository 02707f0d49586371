"""An in-process cache of game servers' immutable facts (address, secret hash) for the hot paths.

A server's address and secret never change; only its removal does, and every operation that
matters after a removal (reserve, redeem, heartbeat) checks existence in the store atomically.
Entries therefore live `SERVER_CACHE_TTL_S` and misses are cached too, for the same time.
"""

from __future__ import annotations

import time

from lobby.store import ServerFacts, Store

SERVER_CACHE_TTL_S = 5.0
SERVER_CACHE_MAX_ENTRIES = 10_000


class ServerCache:
    """Look up a server's immutable facts, going to the store at most once per TTL per server."""

    def __init__(self, store: Store, ttl_s: float = SERVER_CACHE_TTL_S) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, ServerFacts | None]] = {}

    async def get(self, server_id: str) -> ServerFacts | None:
        """The facts of `server_id`, or None when it does not exist."""
        now = time.monotonic()
        entry = self._entries.get(server_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        facts = await self._store.server_facts(server_id)
        if len(self._entries) >= SERVER_CACHE_MAX_ENTRIES:
            self._entries.clear()
        self._entries[server_id] = (now + self._ttl_s, facts)
        return facts

    def forget(self, server_id: str) -> None:
        """Drop what is cached of `server_id` (it was just removed here)."""
        self._entries.pop(server_id, None)
