"""Rate limits: named policies over the `limits` package's async API, and concurrent-stream slots.

Each request is counted against one bucket per policy that applies to it: `address` (the client
address of the connection), `player` (the session it carries), `server` (the game-server secret it
carries) and, for logging in and registering, the stricter `login` (per address). Storage: with the
Redis store (and no `LOBBY_RATE_LIMIT_STORAGE` set) `limits.aio.storage.RedisStorage` on the store's
own connection pool, and the concurrent-stream count a Redis counter, so every instance shares both;
otherwise what `LOBBY_RATE_LIMIT_STORAGE` names (default memory: per process, or, under
`lobby serve --workers N` with N > 1, a SQLite file the workers share, `lobby.shared_limits`, which
then holds the stream slots too). An
IPv6 client counts by its /64 (`address_bucket`). An unreachable storage is `Unavailable`.
Headers follow draft-ietf-httpapi-ratelimit-headers:
`RateLimit-Policy: "address";q=300;w=60` and `RateLimit: "address";r=299;t=60`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis, RedisCluster

from lobby.addresses import address_bucket
from lobby.errors import LobbyError, Unavailable
from lobby.metrics import SHARED_DIR_ENV
from lobby.settings import REDIS_CLUSTER_SCHEME, Settings
from lobby.shared_limits import SHARED_LIMITS_FILE, SharedFileStorage
from lobby.store import RedisStore, Store
from lobby.store.redis import client_options

log = logging.getLogger("lobby")
STREAMS_POLICY = "streams"
STREAM_RETRY_AFTER_S = 5
LIMITS_KEY_PREFIX = "limits"
STREAMS_KEY = "streams:"
STREAM_SLOT_TTL_S = 3600  # a crashed instance's slots are forgotten after this; refreshed on open
ADDRESS_POLICIES = frozenset({"address", "login"})


@dataclass(frozen=True)
class Policy:
    """A named limit: `quota` requests per `window_s` seconds."""

    name: str
    limit: RateLimitItem

    @property
    def header(self) -> str:
        """This policy as one item of `RateLimit-Policy`."""
        return f'"{self.name}";q={self.limit.amount};w={self.limit.get_expiry()}'


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one request: allowed or not, with the headers to send."""

    allowed: bool
    headers: list[tuple[bytes, bytes]]
    retry_after_s: int = 0
    policy: str = ""


def limit_storage(url: str, key_prefix: str = RedisStorage.PREFIX) -> Storage:
    """The storage of the rate-limit counters a `LOBBY_RATE_LIMIT_STORAGE` URL names."""
    if url.startswith("memory://"):
        return MemoryStorage()
    if url.startswith(REDIS_CLUSTER_SCHEME):  # bounded like the store: a hung master is a quick 503
        options = client_options()
        return RedisClusterStorage("async+" + url, implementation="redispy", key_prefix=key_prefix, **options)
    return RedisStorage(url, implementation="redispy", key_prefix=key_prefix)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Turn a failure of the counters' storage into `Unavailable` (any exception a client raises)."""
    try:
        yield
    except LobbyError:
        raise
    except Exception as exc:  # redis-py's cluster client fails with non-Redis errors too
        raise Unavailable(f"the rate-limit storage failed: {type(exc).__name__}") from None


class StreamSlots(Protocol):
    """Concurrent event streams per address."""

    async def take(self, address: str, quota: int) -> int | None:
        """Take a slot; how many are in use now, or None when all `quota` already are."""

    async def give_back(self, address: str) -> None:
        """Release a slot taken by `take`."""


class MemoryStreamSlots:
    """Stream slots counted in this process."""

    def __init__(self) -> None:
        self._in_use: Counter[str] = Counter()

    async def take(self, address: str, quota: int) -> int | None:
        """See `StreamSlots.take`."""
        if self._in_use[address] >= quota:
            return None
        self._in_use[address] += 1
        return self._in_use[address]

    async def give_back(self, address: str) -> None:
        """See `StreamSlots.give_back`."""
        self._in_use[address] -= 1
        if self._in_use[address] <= 0:
            del self._in_use[address]


class SharedFileStreamSlots:
    """Stream slots counted in the workers' shared file (`lobby.shared_limits`), so all share them."""

    def __init__(self, storage: SharedFileStorage) -> None:
        self._storage = storage

    async def take(self, address: str, quota: int) -> int | None:
        """See `StreamSlots.take`; the count expires `STREAM_SLOT_TTL_S` after the last take."""
        with reachable():
            return await self._storage.take_slot(STREAMS_KEY + address, quota, STREAM_SLOT_TTL_S)

    async def give_back(self, address: str) -> None:
        """See `StreamSlots.give_back`; a failure is logged (the count's expiry repairs it)."""
        try:
            await self._storage.give_back_slot(STREAMS_KEY + address)
        except (OSError, sqlite3.Error) as exc:
            log.warning("stream slot not given back: %s", type(exc).__name__)


TAKE_SLOT = """
    local n = redis.call('INCR', KEYS[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return -1 end
    return n
"""
GIVE_BACK_SLOT = """
    if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
    return 0
"""


class RedisStreamSlots:
    """Stream slots counted in Redis (`<prefix>streams:<address>`), shared by every instance."""

    def __init__(self, client: Redis | RedisCluster, prefix: str) -> None:
        self._prefix = prefix + STREAMS_KEY
        self._take = client.register_script(TAKE_SLOT)
        self._give_back = client.register_script(GIVE_BACK_SLOT)

    async def take(self, address: str, quota: int) -> int | None:
        """See `StreamSlots.take`; the counter expires `STREAM_SLOT_TTL_S` after the last take."""
        with reachable():
            n = await self._take(keys=[self._prefix + address], args=[quota, STREAM_SLOT_TTL_S])
        return None if n < 0 else int(n)

    async def give_back(self, address: str) -> None:
        """See `StreamSlots.give_back`; a failure is logged (the counter's TTL repairs it)."""
        try:
            await self._give_back(keys=[self._prefix + address])
        except Exception as exc:  # any client failure: the counter's TTL repairs it
            log.warning("stream slot not given back: %s", type(exc).__name__)


def _headers(policies: list[str], states: list[str]) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-policy", ", ".join(policies).encode()),
        (b"ratelimit", ", ".join(states).encode()),
    ]


class RateLimiter:
    """Counts requests per policy and key, and holds concurrent event-stream slots per address."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._settings = settings
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._shares_store = False
        self._slots: StreamSlots = (
            SharedFileStreamSlots(storage) if isinstance(storage, SharedFileStorage) else MemoryStreamSlots()
        )
        self.policies = {
            name: Policy(name, parse(value))
            for name, value in (
                ("address", settings.rate_limit_per_address),
                ("player", settings.rate_limit_per_player),
                ("server", settings.rate_limit_per_server),
                ("login", settings.rate_limit_login),
            )
        }
        self.streams_per_address = settings.event_streams_per_address

    async def open(self, store: Store) -> None:
        """On the Redis store, unless `LOBBY_RATE_LIMIT_STORAGE` says otherwise, count in that Redis
        through the store's connection pool, so that every instance shares the limits."""
        if not isinstance(store, RedisStore) or "rate_limit_storage" in self._settings.model_fields_set:
            return
        client = store.client
        key_prefix = store.prefix + LIMITS_KEY_PREFIX
        if isinstance(client, RedisCluster):  # limits talks to a cluster through its own client
            self.storage = limit_storage(store.url, key_prefix)
        else:
            self.storage = RedisStorage(
                store.url,
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=client.connection_pool,
            )
            self._shares_store = True
        self._strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._slots = RedisStreamSlots(client, store.prefix)

    async def check(self, keys: list[tuple[str, str]]) -> Decision:
        """Count one request against each `(policy, key)`; stop at the first exhausted bucket."""
        policies: list[str] = []
        states: list[str] = []
        for name, key in keys:
            policy = self.policies[name]
            key = address_bucket(key) if name in ADDRESS_POLICIES else key
            with reachable():
                allowed = await self._strategy.hit(policy.limit, name, key)
                stats = await self._strategy.get_window_stats(policy.limit, name, key)
            reset_s = max(0, math.ceil(stats.reset_time - time.time()))
            reset_s = min(reset_s, policy.limit.get_expiry())
            policies.append(policy.header)
            states.append(f'"{name}";r={stats.remaining};t={reset_s}')
            if not allowed:
                return Decision(False, _headers(policies, states), max(1, reset_s), name)
        return Decision(True, _headers(policies, states))

    async def open_stream(self, address: str) -> Decision:
        """Take one of `address`'s event-stream slots; refused when all are in use."""
        quota = self.streams_per_address
        policy = f'"{STREAMS_POLICY}";q={quota}'
        in_use = await self._slots.take(address_bucket(address), quota)
        if in_use is None:
            state = f'"{STREAMS_POLICY}";r=0;t={STREAM_RETRY_AFTER_S}'
            return Decision(False, _headers([policy], [state]), STREAM_RETRY_AFTER_S, STREAMS_POLICY)
        return Decision(True, _headers([policy], [f'"{STREAMS_POLICY}";r={quota - in_use};t=0']))

    async def close_stream(self, address: str) -> None:
        """Give back a slot taken by `open_stream`."""
        await self._slots.give_back(address_bucket(address))

    async def close(self) -> None:
        """Release the storage's connections, if it has its own (a shared pool is the store's)."""
        closer = getattr(self.storage, "aclose", None) or getattr(self.storage, "close", None)
        if closer is not None and not isinstance(self.storage, MemoryStorage) and not self._shares_store:
            await closer()


def rate_limiter_from_settings(settings: Settings) -> RateLimiter:
    """The rate limiter these settings describe, on the storage they name; in-memory counters are
    kept in the workers' shared directory instead when there is one (`lobby serve --workers` > 1)."""
    storage = limit_storage(settings.rate_limit_storage)
    shared_dir = os.environ.get(SHARED_DIR_ENV)
    if isinstance(storage, MemoryStorage) and shared_dir:
        storage = SharedFileStorage(Path(shared_dir) / SHARED_LIMITS_FILE)
    return RateLimiter(settings, storage)
