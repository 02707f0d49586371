"""Rate limits: named policies over the `limits` package's async API, and concurrent-stream slots.

Each request is counted against one bucket per policy that applies to it: `address` (the client
address of the connection), `player` (the session it carries), `server` (the game-server secret it
carries) and, for logging in and registering, the stricter `login` (per address). The storage comes
from `limit_storage(url)`: memory now, Redis (`limits.aio.storage.RedisStorage`) for several lobby
instances, with the same code. Headers follow draft-ietf-httpapi-ratelimit-headers:
`RateLimit-Policy: "address";q=300;w=60` and `RateLimit: "address";r=299;t=60`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from lobby.settings import Settings

STREAMS_POLICY = "streams"
STREAM_RETRY_AFTER_S = 5


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


def limit_storage(url: str) -> Storage:
    """The storage of the rate-limit counters a `LOBBY_RATE_LIMIT_STORAGE` URL names."""
    if url.startswith("memory://"):
        return MemoryStorage()
    return RedisStorage(url, implementation="redispy")


def _headers(policies: list[str], states: list[str]) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-policy", ", ".join(policies).encode()),
        (b"ratelimit", ", ".join(states).encode()),
    ]


class RateLimiter:
    """Counts requests per policy and key, and holds concurrent event-stream slots per address."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)
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
        self._streams: Counter[str] = Counter()

    async def check(self, keys: list[tuple[str, str]]) -> Decision:
        """Count one request against each `(policy, key)`; stop at the first exhausted bucket."""
        policies: list[str] = []
        states: list[str] = []
        for name, key in keys:
            policy = self.policies[name]
            allowed = await self._strategy.hit(policy.limit, name, key)
            stats = await self._strategy.get_window_stats(policy.limit, name, key)
            reset_s = max(0, math.ceil(stats.reset_time - time.time()))
            reset_s = min(reset_s, policy.limit.get_expiry())
            policies.append(policy.header)
            states.append(f'"{name}";r={stats.remaining};t={reset_s}')
            if not allowed:
                return Decision(False, _headers(policies, states), max(1, reset_s), name)
        return Decision(True, _headers(policies, states))

    def open_stream(self, address: str) -> Decision:
        """Take one of `address`'s event-stream slots; refused when all are in use."""
        in_use = self._streams[address]
        quota = self.streams_per_address
        policy = f'"{STREAMS_POLICY}";q={quota}'
        if in_use >= quota:
            state = f'"{STREAMS_POLICY}";r=0;t={STREAM_RETRY_AFTER_S}'
            return Decision(False, _headers([policy], [state]), STREAM_RETRY_AFTER_S, STREAMS_POLICY)
        self._streams[address] = in_use + 1
        return Decision(True, _headers([policy], [f'"{STREAMS_POLICY}";r={quota - in_use - 1};t=0']))

    def close_stream(self, address: str) -> None:
        """Give back a slot taken by `open_stream`."""
        self._streams[address] -= 1
        if self._streams[address] <= 0:
            del self._streams[address]

    async def close(self) -> None:
        """Release the storage's connections, if it has any."""
        closer = getattr(self.storage, "aclose", None) or getattr(self.storage, "close", None)
        if closer is not None and not isinstance(self.storage, MemoryStorage):
            await closer()


def rate_limiter_from_settings(settings: Settings) -> RateLimiter:
    """The rate limiter these settings describe, on the storage they name."""
    return RateLimiter(settings, limit_storage(settings.rate_limit_storage))
