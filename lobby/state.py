"""The resources of one running lobby, opened in its lifespan and handed to routes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lobby.keys import KeyRing
from lobby.passwords import Passwords
from lobby.server_cache import ServerCache
from lobby.settings import Settings
from lobby.store import Store


@dataclass
class Lobby:
    """Settings, store, keys and password hasher of a lobby."""

    settings: Settings
    store: Store
    keys: KeyRing
    passwords: Passwords = field(default_factory=Passwords)
    servers: ServerCache = field(init=False)

    def __post_init__(self) -> None:
        self.servers = ServerCache(self.store)

    @staticmethod
    def now() -> float:
        """The current time, seconds since the epoch."""
        return time.time()
