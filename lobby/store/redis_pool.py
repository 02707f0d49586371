"""A Redis connection pool that checks a connection idle for a while with PING before lending it.

A pooled connection can outlive the Redis it was opened to: after a restart behind NAT, a
failover to another address, or a host reboot, nothing tells the idle socket, and the next command
written on it fails. The store retries no command (a script whose reply was lost may have run), so
that command's request would fail. Instead, a connection idle longer than `idle_check_s` is
checked with PING when it is taken from the pool; a PING that fails costs a reconnect, never a
second run of any command. A busy pool reuses its connections within milliseconds and sends no
PINGs (the semantics of redis-py's `health_check_interval`, whose PING is not retried separately
from commands). `ConnectionPool.ensure_connection` and `release` are public methods of redis-py's
asyncio pool.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lobby.settings import REDIS_IDLE_CHECK_S

PING_TIMEOUT_S = 0.5


class CheckedConnectionPool(ConnectionPool):
    """redis-py's pool, plus a PING before lending a connection idle longer than `idle_check_s`."""

    def __init__(self, *args: Any, idle_check_s: float = REDIS_IDLE_CHECK_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_check_s = idle_check_s
        self._idle_since: dict[int, float] = {}

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        """Connect `connection` if needed and, when it sat idle too long, check it answers."""
        await super().ensure_connection(connection)
        idle_since = self._idle_since.pop(id(connection), None)
        if not self.idle_check_s or idle_since is None:
            return
        if asyncio.get_running_loop().time() - idle_since < self.idle_check_s:
            return
        if not await _answers_ping(connection):
            await connection.disconnect(nowait=True)
            await connection.connect()

    async def release(self, connection: AbstractConnection) -> None:
        """Take `connection` back, remembering when it became idle."""
        self._idle_since[id(connection)] = asyncio.get_running_loop().time()
        await super().release(connection)


async def _answers_ping(connection: AbstractConnection) -> bool:
    """Whether the connection answers PING with PONG within `PING_TIMEOUT_S`."""
    try:
        await connection.send_command("PING", check_health=False)
        reply = await connection.read_response(timeout=PING_TIMEOUT_S)
    except (RedisConnectionError, RedisTimeoutError, OSError):
        return False
    return reply in (b"PONG", "PONG")
