"""An in-process cache of live sessions, so a player's request does not read the store each time.

A session found in the store is trusted for `SESSION_CACHE_TTL_S`; logging out forgets it here at
once, and other lobby instances notice within that time. Misses are not cached: a new session works
at once everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lobby.store import Player

SESSION_CACHE_TTL_S = 5.0
SESSION_CACHE_MAX_ENTRIES = 50_000


class SessionCache:
    """Players of recently seen sessions, by the hash of their session token."""

    def __init__(self, ttl_s: float = SESSION_CACHE_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[bytes, tuple[float, Player]] = {}

    async def player(
        self, token_hash: bytes, now: float, load: Callable[[bytes, float], Awaitable[Player | None]]
    ) -> Player | None:
        """The session's player: from the cache while fresh, else from `load` (the store)."""
        entry = self._entries.get(token_hash)
        if entry is not None and entry[0] > now:
            return entry[1]
        player = await load(token_hash, now)
        if player is None:
            self._entries.pop(token_hash, None)
            return None
        if len(self._entries) >= SESSION_CACHE_MAX_ENTRIES:
            self._entries.clear()
        self._entries[token_hash] = (now + self._ttl_s, player)
        return player

    def forget(self, token_hash: bytes) -> None:
        """Drop a session that was just revoked here."""
        self._entries.pop(token_hash, None)
