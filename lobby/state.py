"""The resources of one running lobby, opened in its lifespan and handed to routes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lobby.events import EventBus, event_bus_from_settings
from lobby.game_feed import GameFeed
from lobby.keys import KeyRing
from lobby.metrics import Metrics
from lobby.passwords import Passwords
from lobby.ratelimit import RateLimiter, rate_limiter_from_settings
from lobby.server_cache import ServerCache
from lobby.session_cache import SessionCache
from lobby.settings import Settings
from lobby.store import Store


@dataclass
class Lobby:
    """Settings, store, keys, password hasher, caches, metrics, event bus, game feed, rate limiter."""

    settings: Settings
    store: Store
    keys: KeyRing
    passwords: Passwords = field(default_factory=Passwords)
    metrics: Metrics = field(default_factory=Metrics)
    servers: ServerCache = field(init=False)
    sessions: SessionCache = field(default_factory=SessionCache)
    events: EventBus = field(init=False)
    feed: GameFeed = field(init=False)
    rate_limiter: RateLimiter | None = field(init=False)

    def __post_init__(self) -> None:
        self.servers = ServerCache(self.store)
        self.events = event_bus_from_settings(self.settings)
        self.feed = GameFeed(self.store, self.events, self.settings)
        enabled = self.settings.rate_limits_enabled
        self.rate_limiter = rate_limiter_from_settings(self.settings) if enabled else None

    @staticmethod
    def now() -> float:
        """The current time, seconds since the epoch."""
        return time.time()
