"""The Redis store: several lobby instances on several hosts share one Redis.

Every key lives under a prefix (`playlink:` by default; on a Redis Cluster the hash tag `{playlink}:`,
so that every key is in one slot, see `cluster_prefix`):

    layout                  string  the key layout's version (a newer one is refused)
    player:<id>             hash    name, password_hash, created_at
    player-name:<name key>  string  the id of the player with that name (SET NX: names are unique);
                                    the key is `lobby.names.name_key` (layout 1 had the casefold)
    session:<hash hex>      hash    player_id, player_name, expires_at; the key expires then too
    servers                 zset    server ids scored by registration order (oldest first)
    server-seq              string  the counter behind that order
    server:<id>             hash    name, address, capacity, secret_hash, players, last_seen
    server:<id>:pending     zset    jtis of unredeemed, unreplaced reservations scored by expires_at
    server:<id>:holds       hash    player id -> jti of that player's latest reservation there
    server:<id>:members     hash    player id -> "<joined_at> <name>"
    reservation:<jti>       hash    server_id, player_id, player_name, digest, kid, expires_at,
                                    address and, once redeemed, redeemed_at (the redemption mark)
    player-hold:<id>        hash    jti, server, address of the player's latest reservation
    address-reservations:<address>  zset  jtis of reservations made from that client address,
                                    scored by expires_at (redeemed ones leave it lazily)

A reservation counts against capacity while its jti is pending with a score above now. Replacing
or redeeming it takes it out of `pending`, so a replaced token stops redeeming; a reservation key,
and its pending entry, are forgotten `RESERVATION_RETENTION_S` after the token expires (the key by
its TTL). Operations that change several keys together are Lua scripts, each given every key it
touches: `reserve` (count and hold a slot) and `redeem` (exactly once) above all, so any number of
instances never overfill a server nor redeem a token twice. A server's presence is its `last_seen`
(`offline` past the heartbeat timeout, as in SQLite). Any Redis failure or timeout is `Unavailable`,
and so is any other exception redis-py raises (under connection churn its cluster client has been
seen failing with `AttributeError` on a connection closed under it): a store that cannot answer
is a 503, never a 500 nor a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError

from lobby.errors import Conflict, LobbyError, NotFound, Unavailable, too_many_reservations
from lobby.names import legacy_name_key, name_key
from lobby.settings import REDIS_CLUSTER_SCHEME, REDIS_IDLE_CHECK_S
from lobby.store.base import (
    GameServer,
    Player,
    RedeemOutcome,
    RedeemResult,
    Reservation,
    ReservationState,
    ServerFacts,
)
from lobby.store.redis_pool import CheckedConnectionPool

PREFIX = "playlink:"
LAYOUT_VERSION = 2  # 2: player names keyed by `name_key` (1: by their casefold)
RESERVATION_RETENTION_S = 600  # past the token's exp: far beyond any clock leeway
SOCKET_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 256  # more requests at once than this are answered 503 at once, not queued
RESERVE_ATTEMPTS = 50  # a reserve whose view of the player's hold went stale (a concurrent join of
# the same player won) reads it again; of N concurrent joins one wins each round
# No command is retried: a script whose reply was lost may have run, and must not run twice.

SERVER_FIELDS = ("name", "address", "capacity", "players", "last_seen")
RESERVATION_FIELDS = ("server_id", "player_id", "player_name", "digest", "kid", "expires_at")

SCRIPTS = {
    "create_player": """
        if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
        redis.call('HSET', KEYS[2], 'name', ARGV[2], 'password_hash', ARGV[3], 'created_at', ARGV[4])
        return 1
    """,
    "create_session": """
        local name = redis.call('HGET', KEYS[2], 'name')
        if not name then return 0 end
        redis.call('HSET', KEYS[1], 'player_id', ARGV[1], 'player_name', name, 'expires_at', ARGV[2])
        redis.call('PEXPIREAT', KEYS[1], ARGV[3])
        return 1
    """,
    "create_server": """
        if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
        redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[1]), ARGV[1])
        redis.call('HSET', KEYS[3], 'name', ARGV[2], 'address', ARGV[3], 'capacity', ARGV[4],
                   'secret_hash', ARGV[5], 'players', ARGV[6], 'last_seen', ARGV[7])
        return 1
    """,
    "heartbeat": """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'players', ARGV[1], 'last_seen', ARGV[2])
        return 1
    """,
    "delete_server": """
        if redis.call('DEL', KEYS[1]) == 0 then return 0 end
        redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
        redis.call('ZREM', KEYS[5], ARGV[1])
        return 1
    """,
    # KEYS: server, pending, holds, the new reservation, the player's hold, the address's reservations,
    # the pending, holds and address keys of the player's hold as the caller read it (or the first
    # ones again), then the reservation key of each jti the caller read in the address's set.
    # ARGV: jti, server id, player id, player name, digest, kid, expires_at, now, heartbeat timeout,
    # the score up to which pending entries are forgotten, when the new keys expire (ms since the
    # epoch), address, the address's cap (0: none), the hold's jti, server and address as the caller
    # read them ('' for none), then the jtis whose reservation keys were passed, in their order.
    "reserve": """
        local s = redis.call('HMGET', KEYS[1], 'capacity', 'players', 'last_seen')
        if not s[1] then return 'not_found' end
        local now = tonumber(ARGV[8])
        local hold = redis.call('HMGET', KEYS[5], 'jti', 'server', 'address')
        if (hold[1] or '') ~= ARGV[14] or (hold[2] or '') ~= ARGV[15] or (hold[3] or '') ~= ARGV[16] then
            return 'retry'
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[10])
        if now - tonumber(s[3]) > tonumber(ARGV[9]) then return 'server_offline' end
        local held = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[8], '+inf')
        local old = redis.call('HGET', KEYS[3], ARGV[3])
        local old_expiry = old and tonumber(redis.call('ZSCORE', KEYS[2], old))
        if old_expiry and old_expiry > now then held = held - 1 end
        if tonumber(s[2]) + held >= tonumber(s[1]) then return 'server_full' end
        local cap = tonumber(ARGV[13])
        if cap > 0 then
            local passed = {}
            for i = 17, #ARGV do passed[ARGV[i]] = KEYS[i - 7] end
            local live = redis.call('ZRANGEBYSCORE', KEYS[6], '(' .. ARGV[8], '+inf', 'WITHSCORES')
            local count, first = 0, nil
            for i = 1, #live, 2 do
                local jti, key, gone = live[i], passed[live[i]], false
                if key then
                    gone = redis.call('EXISTS', key) == 0 or redis.call('HEXISTS', key, 'redeemed_at') == 1
                end
                if gone then
                    redis.call('ZREM', KEYS[6], jti)
                elseif jti ~= ARGV[14] then
                    count = count + 1
                    first = first or tonumber(live[i + 1])
                end
            end
            if count >= cap then return 'too_many_reservations ' .. tostring(first - now) end
        end
        if old then redis.call('ZREM', KEYS[2], old) end
        if ARGV[14] ~= '' then
            redis.call('ZREM', KEYS[7], ARGV[14])
            if redis.call('HGET', KEYS[8], ARGV[3]) == ARGV[14] then redis.call('HDEL', KEYS[8], ARGV[3]) end
            redis.call('ZREM', KEYS[9], ARGV[14])
        end
        redis.call('HSET', KEYS[4], 'server_id', ARGV[2], 'player_id', ARGV[3], 'player_name', ARGV[4],
                   'digest', ARGV[5], 'kid', ARGV[6], 'expires_at', ARGV[7], 'address', ARGV[12])
        redis.call('PEXPIREAT', KEYS[4], ARGV[11])
        redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
        redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
        redis.call('HSET', KEYS[5], 'jti', ARGV[1], 'server', ARGV[2], 'address', ARGV[12])
        redis.call('PEXPIREAT', KEYS[5], ARGV[11])
        if cap > 0 then
            redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', ARGV[8])
            redis.call('ZADD', KEYS[6], ARGV[7], ARGV[1])
            redis.call('PEXPIREAT', KEYS[6], ARGV[11])
        end
        return 'ok'
    """,
    # KEYS: reservation, server, pending, holds, members. ARGV: digest, server id, now, jti.
    # The digests are compared in constant time (a byte-wise OR of XORs).
    "redeem": """
        local r = redis.call('HMGET', KEYS[1], 'server_id', 'player_id', 'player_name', 'digest', 'kid',
                             'expires_at', 'redeemed_at')
        local given, diff = ARGV[1], 0
        if not r[4] or #r[4] ~= #given then return {'not_issued'} end
        for i = 1, #given do
            diff = bit.bor(diff, bit.bxor(string.byte(r[4], i), string.byte(given, i)))
        end
        if diff ~= 0 then return {'not_issued'} end
        local found = {r[1], r[2], r[3], r[5], r[6]}
        if r[1] ~= ARGV[2] then return {'wrong_audience', found} end
        if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_issued'} end
        if r[7] then return {'replayed', found} end
        if not redis.call('ZSCORE', KEYS[3], ARGV[4]) then return {'not_issued'} end
        if tonumber(ARGV[3]) >= tonumber(r[6]) then return {'expired', found} end
        redis.call('HSET', KEYS[1], 'redeemed_at', ARGV[3])
        redis.call('ZREM', KEYS[3], ARGV[4])
        if redis.call('HGET', KEYS[4], r[2]) == ARGV[4] then redis.call('HDEL', KEYS[4], r[2]) end
        if redis.call('HSETNX', KEYS[5], r[2], ARGV[3] .. ' ' .. r[3]) == 1 then
            redis.call('HINCRBY', KEYS[2], 'players', 1)
        end
        return {'redeemed', found}
    """,
    # KEYS: reservation, server, pending, holds, the player's hold, the address's reservations.
    # ARGV: digest, now, jti. Reservation fields never change but `redeemed_at`, so the keys the
    # caller derived from them stay right; the digests are compared in constant time.
    "decline": """
        local r = redis.call('HMGET', KEYS[1], 'server_id', 'player_id', 'player_name', 'digest', 'kid',
                             'expires_at', 'redeemed_at')
        local given, diff = ARGV[1], 0
        if not r[4] or #r[4] ~= #given then return {'none'} end
        for i = 1, #given do
            diff = bit.bor(diff, bit.bxor(string.byte(r[4], i), string.byte(given, i)))
        end
        if diff ~= 0 or redis.call('EXISTS', KEYS[2]) == 0 then return {'none'} end
        local found = {r[1], r[2], r[3], r[5], r[6]}
        if r[7] then return {'redeemed', found, r[7]} end
        if not redis.call('ZSCORE', KEYS[3], ARGV[3]) then return {'none'} end
        if tonumber(ARGV[2]) >= tonumber(r[6]) then return {'expired', found} end
        redis.call('ZREM', KEYS[3], ARGV[3])
        if redis.call('HGET', KEYS[4], r[2]) == ARGV[3] then redis.call('HDEL', KEYS[4], r[2]) end
        if redis.call('HGET', KEYS[5], 'jti') == ARGV[3] then redis.call('DEL', KEYS[5]) end
        redis.call('ZREM', KEYS[6], ARGV[3])
        redis.call('DEL', KEYS[1])
        return {'declined', found}
    """,
    "leave": """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        local players = tonumber(redis.call('HGET', KEYS[2], 'players'))
        if players and players > 0 then redis.call('HSET', KEYS[2], 'players', players - 1) end
        return 1
    """,
    "purge_server": """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
        local holds = redis.call('HGETALL', KEYS[2])
        for i = 1, #holds, 2 do
            if not redis.call('ZSCORE', KEYS[1], holds[i + 1]) then redis.call('HDEL', KEYS[2], holds[i]) end
        end
        return 0
    """,
}


def cluster_prefix(prefix: str) -> str:
    """`prefix` as a hash tag, so that every key lands in one slot of a Redis Cluster.

    The scripts change several keys together (a token's and its server's, above all), which a
    cluster allows only within one slot; all of the lobby's keys then live on one shard, which
    the cluster still replicates and fails over.
    """
    if "{" in prefix and "}" in prefix.partition("{")[2]:
        return prefix
    return "{" + prefix.removesuffix(":") + "}:"


def client_options(max_connections: int = MAX_CONNECTIONS) -> dict[str, Any]:
    """The options of every redis-py client of the lobby: bounded waits, no command retried."""
    return {
        "max_connections": max_connections,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), 0),
    }


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8")


def _server(
    server_id: str, fields: Sequence[bytes | None], reserved: int, members: tuple[Player, ...] = ()
) -> GameServer:
    name, address, capacity, players, last_seen = fields
    return GameServer(
        server_id, _text(name), _text(address), int(capacity or 0), int(players or 0), reserved,
        float(last_seen or 0), members,
    )


def _members(raw: dict[bytes, bytes]) -> tuple[Player, ...]:
    joined = []
    for pid, value in raw.items():
        at, _, name = value.decode("utf-8").partition(" ")
        joined.append((float(at), Player(pid.decode("utf-8"), name)))
    return tuple(player for _at, player in sorted(joined, key=lambda item: item[0]))


class RedisStore:
    """The `Store` on Redis through one connection pool; every lobby instance may use the same Redis."""

    def __init__(
        self,
        url: str,
        prefix: str = PREFIX,
        max_connections: int = MAX_CONNECTIONS,
        idle_check_s: float = REDIS_IDLE_CHECK_S,
    ) -> None:
        self.url = url
        self.idle_check_s = idle_check_s
        self.cluster = url.startswith(REDIS_CLUSTER_SCHEME)
        self.prefix = cluster_prefix(prefix) if self.cluster else prefix
        self.max_connections = max_connections
        self._redis: Redis | RedisCluster | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._dropping: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn a Redis failure or timeout into `Unavailable`; on a lost connection, drop the idle ones.

        Redis going away leaves the pool's idle connections dead, and with no retries each would
        fail one request once Redis is back; dropping them makes the next requests connect afresh.
        Every connection being in use is no loss: that request alone is refused.
        """
        try:
            yield
        except (MaxConnectionsError, LobbyError) as exc:
            if isinstance(exc, LobbyError):
                raise
            raise Unavailable("the store is busy: every connection to Redis is in use") from None
        except Exception as exc:  # redis-py's own bugs too: see the module's docstring
            if not isinstance(exc, RedisError) or isinstance(exc, RedisConnectionError):
                self._drop_idle_connections()
            raise Unavailable(f"the store failed: {type(exc).__name__}") from None

    def _drop_idle_connections(self) -> None:
        if self._redis is None or (self._dropping is not None and not self._dropping.done()):
            return
        if isinstance(self._redis, RedisCluster):
            return  # the cluster client reconnects to its nodes by itself
        pool = self._redis.connection_pool
        self._dropping = asyncio.get_running_loop().create_task(pool.disconnect(inuse_connections=False))

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _server_keys(self, server_id: str, *parts: str) -> list[str]:
        base = self._key("server", server_id)
        return [f"{base}:{part}" if part else base for part in parts]

    @property
    def _client(self) -> Redis | RedisCluster:
        if self._redis is None:
            raise Unavailable("the store is closed")
        return self._redis

    @property
    def client(self) -> Redis | RedisCluster:
        """The open client (one pool per lobby), which the event bus and rate limits share."""
        return self._client

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._client
        with self._reachable():
            return await self._scripts[script](keys=keys, args=args, client=client)

    async def open(self) -> None:
        """Create the pool, register the scripts, and check the key layout's version."""
        options = client_options(self.max_connections)
        if self.cluster:
            node = "redis://" + self.url.removeprefix(REDIS_CLUSTER_SCHEME)
            self._redis = RedisCluster.from_url(node, **options)
        else:
            pool = CheckedConnectionPool.from_url(self.url, idle_check_s=self.idle_check_s, **options)
            self._redis = Redis(connection_pool=pool)
        self._scripts = {name: self._redis.register_script(src) for name, src in SCRIPTS.items()}
        with self._reachable():
            await self._redis.set(self._key("layout"), LAYOUT_VERSION, nx=True)
            found = int(await self._redis.get(self._key("layout")) or 0)
        if found < LAYOUT_VERSION:
            with self._reachable():
                await self._rekey_names()
                await self._redis.set(self._key("layout"), LAYOUT_VERSION)
        if found > LAYOUT_VERSION:
            await self.close()
            raise RuntimeError(f"redis key layout {found} is newer than this lobby ({LAYOUT_VERSION})")

    async def _rekey_names(self) -> None:
        """Layout 1 to 2: give every player the `name_key` of their name too (the first one wins).

        The casefold keys stay: a player whose look-alike key an earlier player holds logs in by
        that exact name (see `lobby.names.legacy_name_key`).
        """
        client = self._client
        async for key in client.scan_iter(match=self._key("player-name", "*"), count=1000):
            pid = await client.get(key)
            name = await client.hget(self._key("player", pid.decode()), "name") if pid else None
            if name is not None:
                await client.set(self._key("player-name", name_key(name.decode())), pid, nx=True)

    async def close(self) -> None:
        """Disconnect every pooled connection."""
        if self._redis is not None:
            redis, self._redis = self._redis, None
            with contextlib.suppress(RedisError, OSError):
                await redis.aclose()

    async def ping(self) -> None:
        """Answer when Redis does: on a cluster, the master holding the lobby's shared keys."""
        client = self._client
        with self._reachable():
            if isinstance(client, RedisCluster):
                await client.ping(target_nodes=client.get_node_from_key(self._key("layout")))
            else:
                await client.ping()

    async def create_player(self, player: Player, password_hash: str, now: float) -> None:
        """Add a player; `Conflict` when the name is taken."""
        keys = [self._key("player-name", name_key(player.name)), self._key("player", player.id)]
        if not await self._run("create_player", keys, [player.id, player.name, password_hash, now]):
            raise Conflict("that name, or one that looks like it, is taken")

    async def player_credentials(self, name: str) -> tuple[Player, str] | None:
        """The player called `name` and their password hash (see `lobby.names` for the lookup)."""
        client = self._client
        keys = [self._key("player-name", legacy_name_key(name)), self._key("player-name", name_key(name))]
        with self._reachable():
            exact, alike = await client.mget(keys)
            pid = exact or alike
            if pid is None:
                return None
            found = await client.hmget(self._key("player", pid.decode()), "name", "password_hash")
        player_name, password_hash = found
        if player_name is None or password_hash is None:
            return None
        return Player(pid.decode(), player_name.decode()), password_hash.decode()

    async def create_session(self, token_hash: bytes, player_id: str, expires_at: float) -> None:
        """Remember a session until it expires."""
        keys = [self._key("session", token_hash.hex()), self._key("player", player_id)]
        if not await self._run("create_session", keys, [player_id, expires_at, int(expires_at * 1000)]):
            raise NotFound("no such player")

    async def session_player(self, token_hash: bytes, now: float) -> Player | None:
        """The player of a live session."""
        client = self._client
        with self._reachable():
            pid, name, expires_at = await client.hmget(
                self._key("session", token_hash.hex()), "player_id", "player_name", "expires_at"
            )
        if pid is None or name is None or float(expires_at or 0) <= now:
            return None
        return Player(pid.decode(), name.decode())

    async def delete_session(self, token_hash: bytes) -> None:
        """Revoke a session."""
        client = self._client
        with self._reachable():
            await client.delete(self._key("session", token_hash.hex()))

    async def create_server(self, server: GameServer, secret_hash: bytes) -> None:
        """Register a game server, last in the listing order."""
        s = server
        keys = [self._key("server-seq"), self._key("servers"), self._key("server", s.id)]
        args = [s.id, s.name, s.address, s.capacity, secret_hash, s.players, s.last_seen]
        if not await self._run("create_server", keys, args):
            raise Conflict("that server id is taken")

    async def server_facts(self, server_id: str) -> ServerFacts | None:
        """The address and secret hash of a server."""
        client = self._client
        with self._reachable():
            address, secret = await client.hmget(self._key("server", server_id), "address", "secret_hash")
        if address is None or secret is None:
            return None
        return ServerFacts(address.decode(), secret)

    async def get_server(self, server_id: str, now: float) -> GameServer | None:
        """One server with its live counts and members, read in one transaction."""
        server, pending, members = self._server_keys(server_id, "", "pending", "members")
        client = self._client
        with self._reachable():
            async with client.pipeline(transaction=True) as pipe:
                pipe.hmget(server, *SERVER_FIELDS)
                pipe.zcount(pending, f"({now!r}", "+inf")
                pipe.hgetall(members)
                fields, reserved, joined = await pipe.execute()
        if fields[0] is None:
            return None
        return _server(server_id, fields, reserved, _members(joined))

    async def list_servers(self, now: float, ids: Collection[str] | None = None) -> list[GameServer]:
        """Every server (or only those of `ids` that exist) with its live counts, oldest first."""
        client = self._client
        with self._reachable():
            if ids is None:
                listed = [raw.decode() for raw in await client.zrange(self._key("servers"), 0, -1)]
            else:
                listed = await self._registration_order(client, ids)
            async with client.pipeline(transaction=True) as pipe:
                for sid in listed:
                    server, pending = self._server_keys(sid, "", "pending")
                    pipe.hmget(server, *SERVER_FIELDS)
                    pipe.zcount(pending, f"({now!r}", "+inf")
                replies = await pipe.execute()
        found = zip(listed, replies[0::2], replies[1::2], strict=True)
        return [_server(sid, fields, reserved) for sid, fields, reserved in found if fields[0] is not None]

    async def _registration_order(self, client: Redis, ids: Collection[str]) -> list[str]:
        """Those of `ids` that are registered, oldest first."""
        wanted = list(set(ids))
        if not wanted:
            return []
        scores = await client.zmscore(self._key("servers"), wanted)
        order = {sid: score for sid, score in zip(wanted, scores, strict=True) if score is not None}
        return sorted(order, key=order.__getitem__)

    async def heartbeat(self, server_id: str, players: int, now: float) -> bool:
        """Mark a server alive with its player count."""
        return bool(await self._run("heartbeat", [self._key("server", server_id)], [players, now]))

    async def delete_server(self, server_id: str) -> bool:
        """Deregister a server with its reservations and members."""
        keys = [*self._server_keys(server_id, "", "pending", "holds", "members"), self._key("servers")]
        return bool(await self._run("delete_server", keys, [server_id]))

    async def reserve(
        self,
        reservation: Reservation,
        now: float,
        heartbeat_timeout_s: float,
        *,
        address: str = "",
        max_per_address: int = 0,
    ) -> str | None:
        """Hold a slot, or raise why not; atomic across every instance on this Redis.

        The player's hold and the address's reservations are read first, so that the script is
        given every key it touches; it refuses to act (and this reads again) if the hold changed.
        """
        r = reservation
        hold_key = self._key("player-hold", r.player.id)
        address_key = self._key("address-reservations", address)
        for _attempt in range(RESERVE_ATTEMPTS):
            hold, listed = await self._reserve_view(hold_key, address_key, now, max_per_address)
            old_jti, old_server, old_address = hold
            old_keys = (
                [*self._server_keys(old_server, "pending", "holds"),
                 self._key("address-reservations", old_address)]
                if old_jti
                else [*self._server_keys(r.server_id, "pending", "holds"), address_key]
            )
            keys = [
                *self._server_keys(r.server_id, "", "pending", "holds"), self._key("reservation", r.jti),
                hold_key, address_key, *old_keys, *(self._key("reservation", jti) for jti in listed),
            ]
            forget_at_ms = int((r.expires_at + RESERVATION_RETENTION_S) * 1000)
            args = [
                r.jti, r.server_id, r.player.id, r.player.name, r.digest, r.kid, r.expires_at,
                now, heartbeat_timeout_s, now - RESERVATION_RETENTION_S, forget_at_ms,
                address, max_per_address, old_jti, old_server, old_address, *listed,
            ]
            outcome = (await self._run("reserve", keys, args)).decode()
            if outcome != "retry":
                break
        else:
            raise Unavailable("the store is busy: this player's joins keep racing; retry")
        if outcome == "not_found":
            raise NotFound("no such game server")
        if outcome.startswith("too_many_reservations"):
            raise too_many_reservations(max_per_address, float(outcome.split()[1]))
        if outcome != "ok":
            status = outcome.removeprefix("server_")
            raise Conflict(f"the game server is {status}", outcome)
        return old_server if old_jti and old_server != r.server_id else None

    async def _reserve_view(
        self, hold_key: str, address_key: str, now: float, max_per_address: int
    ) -> tuple[tuple[str, str, str], list[str]]:
        """The player's hold (jti, server, address; '' when none) and the address's live jtis."""
        client = self._client
        with self._reachable():
            async with client.pipeline(transaction=True) as pipe:
                pipe.hmget(hold_key, "jti", "server", "address")
                if max_per_address:
                    pipe.zrangebyscore(address_key, f"({now!r}", "+inf")
                replies = await pipe.execute()
        jti, server, address = (_text(value) for value in replies[0])
        listed = [raw.decode() for raw in replies[1]] if max_per_address else []
        return (jti, server, address), listed

    async def redeem(self, jti: str, digest: bytes, server_id: str, now: float) -> RedeemResult:
        """Atomically redeem the reservation of `jti`: of concurrent attempts, exactly one wins."""
        keys = [
            self._key("reservation", jti),
            *self._server_keys(server_id, "", "pending", "holds", "members"),
        ]
        reply = await self._run("redeem", keys, [digest, server_id, now, jti])
        outcome = RedeemOutcome(reply[0].decode())
        if len(reply) < 2:
            return RedeemResult(outcome)
        sid, pid, name, kid, expires_at = (value.decode() for value in reply[1])
        return RedeemResult(outcome, Reservation(jti, sid, Player(pid, name), digest, kid, float(expires_at)))

    async def reservation(self, jti: str) -> ReservationState | None:
        """The reservation of `jti`, redeemed or still pending on an existing server, or None."""
        client = self._client
        with self._reachable():
            fields = await client.hmget(self._key("reservation", jti), *RESERVATION_FIELDS)
            if fields[0] is None:
                return None
            server, pending = self._server_keys(fields[0].decode(), "", "pending")
            async with client.pipeline(transaction=True) as pipe:
                pipe.exists(server)
                pipe.zscore(pending, jti)
                pipe.hget(self._key("reservation", jti), "redeemed_at")
                exists, score, redeemed_at = await pipe.execute()
        if not exists or (score is None and redeemed_at is None):
            return None
        sid, pid, name, digest, kid, expires_at = fields
        found = Reservation(jti, sid.decode(), Player(pid.decode(), name.decode()), digest, kid.decode(),
                            float(expires_at))
        return ReservationState(found, None if redeemed_at is None else float(redeemed_at))

    async def decline(self, jti: str, digest: bytes, now: float) -> ReservationState | None:
        """Drop a live unredeemed reservation whose digest matches, atomically; what was found."""
        key = self._key("reservation", jti)
        with self._reachable():
            sid, pid, address = await self._client.hmget(key, "server_id", "player_id", "address")
        if sid is None or pid is None:
            return None
        keys = [
            key, *self._server_keys(sid.decode(), "", "pending", "holds"),
            self._key("player-hold", pid.decode()), self._key("address-reservations", _text(address)),
        ]
        reply = await self._run("decline", keys, [digest, now, jti])
        if reply[0] == b"none":
            return None
        sid, pid, name, kid, expires_at = (value.decode() for value in reply[1])
        found = Reservation(jti, sid, Player(pid, name), digest, kid, float(expires_at))
        return ReservationState(found, float(reply[2]) if len(reply) > 2 else None)

    async def leave(self, server_id: str, player_id: str) -> bool:
        """Free a player's slot."""
        keys = self._server_keys(server_id, "members", "")
        return bool(await self._run("leave", keys, [player_id]))

    async def purge(self, now: float) -> None:
        """Forget pending entries past retention and holds of no pending reservation (the rest has TTLs)."""
        client = self._client
        with self._reachable():
            ids = [raw.decode() for raw in await client.zrange(self._key("servers"), 0, -1)]
        for sid in ids:
            keys = self._server_keys(sid, "pending", "holds")
            await self._run("purge_server", keys, [now - RESERVATION_RETENTION_S])
