"""Storage engines of the lobby behind one `Store` interface, chosen by the `LOBBY_STORE` URL."""

from __future__ import annotations

from pathlib import Path

from lobby.settings import REDIS_IDLE_CHECK_S, REDIS_SCHEMES
from lobby.store.base import (
    GameServer,
    Player,
    RedeemOutcome,
    RedeemResult,
    Reservation,
    ReservationState,
    ServerFacts,
    Store,
)
from lobby.store.redis import RedisStore
from lobby.store.sqlite import SqliteStore

__all__ = [
    "GameServer",
    "Player",
    "RedeemOutcome",
    "RedeemResult",
    "RedisStore",
    "Reservation",
    "ReservationState",
    "ServerFacts",
    "SqliteStore",
    "Store",
    "store_from_url",
]


def store_from_url(url: str, redis_idle_check_s: float = REDIS_IDLE_CHECK_S) -> Store:
    """Build the store a `LOBBY_STORE` URL names (not yet opened)."""
    if url.startswith("sqlite:///"):
        return SqliteStore(Path(url.removeprefix("sqlite://")))
    if url.startswith(REDIS_SCHEMES):
        return RedisStore(url, idle_check_s=redis_idle_check_s)
    raise ValueError(f"unsupported store URL scheme in {url.split(':', 1)[0]!r}")
