"""The resources of one running lobby, opened in its lifespan and handed to routes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lobby.events import EventBus, event_bus_from_settings
from lobby.game_feed import GAME_REMOVED, GameFeed
from lobby.keys import KeyRing
from lobby.login_throttle import LoginThrottle
from lobby.metrics import Metrics
from lobby.passwords import Passwords
from lobby.ratelimit import RateLimiter, rate_limiter_from_settings
from lobby.settings import Settings
from lobby.store import Player, ServerFacts, Store
from lobby.ttl_cache import TtlCache

# A game server's address and secret never change; only its removal does, and everything that
# matters after a removal (reserve, redeem, heartbeat) checks existence in the store atomically.
# So its facts, and its absence, are trusted this long.
SERVER_FACTS_TTL_S = 5.0
SERVER_FACTS_MAX_ENTRIES = 10_000
# A session found in the store is trusted this long. Logging out forgets it here at once and, through
# the event bus, in every other worker and instance within the bus's delay; this time bounds the
# rest (an event lost while Redis fails). An unknown session is remembered as unknown for the same
# time, apart from the known ones (so a flood of bogus tokens neither reads the store per request
# nor pushes real sessions out): a new session still works at once everywhere, because its token is
# 256 random bits that nobody can have looked up before it existed.
SESSION_TTL_S = 5.0
SESSION_MAX_ENTRIES = 50_000
SESSION_ENDED = "_session_ended"  # internal event: {"session": the hex SHA-256 of its token}


@dataclass
class Lobby:
    """Settings, store, keys, password hasher, caches, metrics, event bus, game feed, rate limits."""

    settings: Settings
    store: Store
    keys: KeyRing
    passwords: Passwords = field(init=False)
    metrics: Metrics = field(default_factory=Metrics)
    servers: TtlCache[str, ServerFacts] = field(
        default_factory=lambda: TtlCache(
            SERVER_FACTS_TTL_S, SERVER_FACTS_MAX_ENTRIES, keep_misses=True
        )
    )
    sessions: TtlCache[bytes, Player] = field(
        default_factory=lambda: TtlCache(SESSION_TTL_S, SESSION_MAX_ENTRIES, keep_misses=True)
    )
    events: EventBus = field(init=False)
    feed: GameFeed = field(init=False)
    rate_limiter: RateLimiter | None = field(init=False)
    login_throttle: LoginThrottle | None = field(init=False)

    def __post_init__(self) -> None:
        self.events = event_bus_from_settings(self.settings)
        self.events.listen(SESSION_ENDED, self._session_ended)
        self.events.listen(GAME_REMOVED, lambda data: self.servers.forget(str(data["id"])))
        self.feed = GameFeed(self.store, self.events, self.settings)
        enabled = self.settings.rate_limits_enabled
        self.rate_limiter = rate_limiter_from_settings(self.settings) if enabled else None
        self.login_throttle = LoginThrottle(self.rate_limiter, self.settings) if self.rate_limiter else None
        self.passwords = Passwords(self.settings.password_hash_queue)

    async def server_facts(self, server_id: str) -> ServerFacts | None:
        """A game server's immutable facts, or None when it does not exist (cached)."""
        return await self.servers.get(server_id, lambda: self.store.server_facts(server_id))

    async def session_player(self, token_hash: bytes) -> Player | None:
        """The player of a live session, by the hash of its token, or None (cached)."""
        return await self.sessions.get(
            token_hash, lambda: self.store.session_player(token_hash, self.now())
        )

    async def end_session(self, token_hash: bytes) -> None:
        """Log a session out: in the store, in this process's cache, then in every other's."""
        await self.store.delete_session(token_hash)
        self.sessions.forget(token_hash)
        await self.events.publish(SESSION_ENDED, {"session": token_hash.hex()})

    def _session_ended(self, data: Mapping[str, Any]) -> None:
        self.sessions.forget(bytes.fromhex(str(data["session"])))

    @staticmethod
    def now() -> float:
        """The current time, seconds since the epoch."""
        return time.time()
