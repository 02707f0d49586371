"""The store on its real engines: every test of the interface runs on SQLite and on Redis alike.

Sections: the `Store` interface (both engines), SQLite only (schema version, WAL, batch isolation),
Redis only (several instances on one Redis, and Redis going away and coming back).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from lobby.errors import Conflict, LobbyError, NotFound, RateLimited, Unavailable
from lobby.store import (
    GameServer,
    Player,
    RedeemOutcome,
    RedisStore,
    Reservation,
    SqliteStore,
    Store,
    store_from_url,
)
from lobby.store.redis import LAYOUT_VERSION, SOCKET_TIMEOUT_S
from lobby.store.sqlite import SCHEMA_VERSION
from tests.support.redis import RedisProcess

HEARTBEAT_TIMEOUT_S = 30
MakeStore = Callable[[], Store]


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "lobby.db"


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def make_store(request, db_path) -> MakeStore:
    """Build unopened stores that share one database: one SQLite file, or one Redis key prefix
    (on one Redis, or on a Redis Cluster of three nodes)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(db_path)
    server = "redis_server" if request.param == "redis" else "redis_cluster"
    url = request.getfixturevalue(server).url()
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    return lambda: RedisStore(url, prefix)


@pytest.fixture
async def store(make_store) -> AsyncIterator[Store]:
    s = make_store()
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(db_path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    yield s
    await s.close()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def add_server(store: Store, capacity: int, last_seen: float | None = None) -> GameServer:
    seen = time.time() if last_seen is None else last_seen
    server = GameServer(new_id("s"), "arena", "127.0.0.1:7777", capacity, 0, 0, seen)
    await store.create_server(server, b"\x00" * 32)
    return server


def reservation(server: GameServer, player: Player | None = None, ttl_s: float = 120) -> Reservation:
    player = player or Player(new_id("p"), "someone")
    jti = new_id("jti")
    return Reservation(jti, server.id, player, jti.encode() * 2, "kid-1", time.time() + ttl_s)


async def reserve(store: Store, r: Reservation, now: float | None = None) -> None:
    await store.reserve(r, time.time() if now is None else now, HEARTBEAT_TIMEOUT_S)


async def redeem(store: Store, r: Reservation, now: float | None = None):
    return await store.redeem(r.jti, r.digest, r.server_id, time.time() if now is None else now)


def pragma(db_path, name: str):
    with sqlite3.connect(db_path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


# The `Store` interface: SQLite and Redis alike.


async def test_reopening_keeps_the_data(make_store):
    first = make_store()
    await first.open()
    await first.create_player(Player("p_keep", "Keeper"), "hash", time.time())
    await first.close()

    again = make_store()
    await again.open()
    try:
        assert await again.player_credentials("keeper") == (Player("p_keep", "Keeper"), "hash")
    finally:
        await again.close()


async def test_player_names_are_unique_whatever_their_case(store):
    await store.create_player(Player("p_ada", "Ada Lovelace"), "hash", time.time())
    with pytest.raises(Conflict):
        await store.create_player(Player("p_other", "ADA LOVELACE"), "hash", time.time())
    assert await store.player_credentials("ada lovelace") == (Player("p_ada", "Ada Lovelace"), "hash")
    assert await store.player_credentials("nobody") is None


async def test_a_session_names_its_player_until_it_expires_or_is_deleted(store):
    await store.create_player(Player("p_s", "Sessions"), "hash", time.time())
    expires_at = time.time() + 60
    await store.create_session(b"t" * 32, "p_s", expires_at)
    assert await store.session_player(b"t" * 32, time.time()) == Player("p_s", "Sessions")
    assert await store.session_player(b"t" * 32, expires_at) is None
    assert await store.session_player(b"u" * 32, time.time()) is None
    await store.delete_session(b"t" * 32)
    assert await store.session_player(b"t" * 32, time.time()) is None


async def test_servers_are_listed_oldest_first_with_their_facts(store):
    servers = [await add_server(store, capacity) for capacity in (1, 2, 3)]
    listed = [s for s in await store.list_servers(time.time()) if s in servers]
    assert [s.id for s in listed] == [s.id for s in servers]
    facts = await store.server_facts(servers[1].id)
    assert (facts.address, facts.secret_hash) == ("127.0.0.1:7777", b"\x00" * 32)
    assert await store.server_facts("s_missing") is None
    assert await store.get_server("s_missing", time.time()) is None


async def test_listing_some_servers_gives_those_that_exist_oldest_first(store):
    servers = [await add_server(store, capacity) for capacity in (1, 2, 3)]
    wanted = {servers[2].id, "s_missing", servers[0].id}
    listed = await store.list_servers(time.time(), wanted)
    assert [s.id for s in listed] == [servers[0].id, servers[2].id]
    assert listed[0] == next(s for s in await store.list_servers(time.time()) if s.id == servers[0].id)
    assert await store.list_servers(time.time(), []) == []


async def test_a_heartbeat_updates_the_count_and_presence_of_existing_servers_only(store):
    server = await add_server(store, 4, last_seen=time.time() - 100)
    stale = await store.get_server(server.id, time.time())
    assert stale.status(time.time(), HEARTBEAT_TIMEOUT_S) == "offline"
    assert await store.heartbeat(server.id, 3, time.time())
    seen = await store.get_server(server.id, time.time())
    assert (seen.players, seen.status(time.time(), HEARTBEAT_TIMEOUT_S)) == (3, "online")
    assert not await store.heartbeat("s_missing", 1, time.time())


async def test_reserve_refuses_a_missing_or_offline_server(store):
    with pytest.raises(NotFound):
        await reserve(store, reservation(GameServer("s_missing", "x", "a:1", 1, 0, 0, 0)))
    stale = await add_server(store, 4, last_seen=time.time() - HEARTBEAT_TIMEOUT_S - 1)
    with pytest.raises(Conflict) as refused:
        await reserve(store, reservation(stale))
    assert refused.value.reason == "server_offline"


async def test_fifty_concurrent_reserves_never_overfill_a_server(store):
    server = await add_server(store, 10)
    results = await asyncio.gather(
        *(reserve(store, reservation(server)) for _ in range(50)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert results.count(None) == 10
    assert len(refused) == 40
    assert all(isinstance(r, Conflict) and r.reason == "server_full" for r in refused)
    seen = await store.get_server(server.id, time.time())
    assert (seen.players, seen.reserved) == (0, 10)
    assert seen.status(time.time(), HEARTBEAT_TIMEOUT_S) == "full"


async def test_a_players_new_reservation_replaces_the_earlier_one(store):
    server = await add_server(store, 1)
    player = Player(new_id("p"), "twice")
    first, second = reservation(server, player), reservation(server, player)
    await reserve(store, first)
    await reserve(store, second)
    assert (await store.get_server(server.id, time.time())).reserved == 1
    assert (await redeem(store, first)).outcome is RedeemOutcome.NOT_ISSUED
    assert await store.reservation(first.jti) is None
    assert (await redeem(store, second)).outcome is RedeemOutcome.REDEEMED


async def test_a_refused_reserve_keeps_the_players_earlier_reservation(store):
    server = await add_server(store, 1)
    player = Player(new_id("p"), "keeps")
    held = reservation(server, player)
    await reserve(store, held)
    await store.heartbeat(server.id, 1, time.time())
    with pytest.raises(Conflict):
        await reserve(store, reservation(server, player))
    await store.heartbeat(server.id, 0, time.time())
    assert (await redeem(store, held)).outcome is RedeemOutcome.REDEEMED


async def test_a_players_join_on_another_server_replaces_the_earlier_one(store):
    a, b = await add_server(store, 1), await add_server(store, 1)
    player = Player(new_id("p"), "roams")
    first, second = reservation(a, player), reservation(b, player)
    assert await store.reserve(first, time.time(), HEARTBEAT_TIMEOUT_S) is None
    assert await store.reserve(second, time.time(), HEARTBEAT_TIMEOUT_S) == a.id
    assert (await store.get_server(a.id, time.time())).reserved == 0
    assert (await store.get_server(b.id, time.time())).reserved == 1
    assert (await redeem(store, first)).outcome is RedeemOutcome.NOT_ISSUED
    assert await store.reservation(first.jti) is None
    await reserve(store, reservation(a))  # the slot it held is free for someone else
    assert (await redeem(store, second)).outcome is RedeemOutcome.REDEEMED


async def test_concurrent_joins_of_one_player_leave_one_reservation(store):
    servers = [await add_server(store, 5) for _ in range(6)]
    player = Player(new_id("p"), "everywhere")
    joins = [reservation(server, player) for server in servers for _ in range(3)]
    await asyncio.gather(*(reserve(store, r) for r in joins))
    seen = await store.list_servers(time.time(), [s.id for s in servers])
    assert sum(server.reserved for server in seen) == 1
    outcomes = [(await redeem(store, r)).outcome for r in joins]
    assert outcomes.count(RedeemOutcome.REDEEMED) == 1


async def reserve_from(store: Store, r: Reservation, address: str, cap: int) -> str | None:
    return await store.reserve(r, time.time(), HEARTBEAT_TIMEOUT_S, address=address, max_per_address=cap)


async def test_unredeemed_reservations_from_one_address_are_capped(store):
    a, b = await add_server(store, 100), await add_server(store, 100)
    held = [reservation(a if i % 2 else b) for i in range(3)]
    for r in held:
        await reserve_from(store, r, "203.0.113.5", cap=3)
    with pytest.raises(RateLimited) as refused:
        await reserve_from(store, reservation(a), "203.0.113.5", cap=3)
    assert refused.value.reason == "too_many_reservations"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 120
    await reserve_from(store, reservation(a), "203.0.113.6", cap=3)  # another address
    await reserve_from(store, reservation(b, held[0].player), "203.0.113.5", cap=3)  # a replacement
    assert (await redeem(store, held[1])).outcome is RedeemOutcome.REDEEMED
    await reserve_from(store, reservation(a), "203.0.113.5", cap=3)  # the redeemed one left room


async def test_a_join_refused_over_the_address_cap_changes_nothing(store):
    server = await add_server(store, 100)
    player = Player(new_id("p"), "travels")
    earlier = reservation(server, player)
    await reserve_from(store, earlier, "198.51.100.1", cap=1)
    await reserve_from(store, reservation(server), "203.0.113.9", cap=1)
    with pytest.raises(RateLimited):
        await reserve_from(store, reservation(server, player), "203.0.113.9", cap=1)
    assert (await store.get_server(server.id, time.time())).reserved == 2
    assert (await redeem(store, earlier)).outcome is RedeemOutcome.REDEEMED


async def test_concurrent_joins_from_one_address_never_pass_its_cap(store):
    server = await add_server(store, 100)
    results = await asyncio.gather(
        *(reserve_from(store, reservation(server), "192.0.2.77", cap=5) for _ in range(20)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 15
    assert not [r for r in results if isinstance(r, BaseException) and r not in refused]
    assert (await store.get_server(server.id, time.time())).reserved == 5


async def test_an_expired_reservation_frees_its_slot_and_stops_redeeming_at_once(store):
    server = await add_server(store, 1)
    r = reservation(server, ttl_s=10)
    await reserve(store, r)
    assert (await store.get_server(server.id, r.expires_at - 0.001)).reserved == 1
    assert (await redeem(store, r, now=r.expires_at)).outcome is RedeemOutcome.EXPIRED
    assert (await store.get_server(server.id, r.expires_at)).reserved == 0
    await reserve(store, reservation(server), now=r.expires_at)


async def test_a_reservation_is_redeemed_exactly_once_under_concurrency(store):
    server = await add_server(store, 4)
    r = reservation(server)
    await reserve(store, r)
    results = await asyncio.gather(*(redeem(store, r) for _ in range(50)))
    outcomes = [res.outcome for res in results]
    assert outcomes.count(RedeemOutcome.REDEEMED) == 1
    assert outcomes.count(RedeemOutcome.REPLAYED) == 49
    seen = await store.get_server(server.id, time.time())
    assert (seen.players, seen.reserved, seen.members) == (1, 0, (r.player,))


async def test_redeem_refuses_a_wrong_digest_and_a_wrong_server(store):
    server, other = await add_server(store, 4), await add_server(store, 4)
    r = reservation(server)
    await reserve(store, r)
    forged = await store.redeem(r.jti, b"x" * 32, server.id, time.time())
    assert forged.outcome is RedeemOutcome.NOT_ISSUED
    short = await store.redeem(r.jti, r.digest[:-1], server.id, time.time())
    assert short.outcome is RedeemOutcome.NOT_ISSUED
    elsewhere = await store.redeem(r.jti, r.digest, other.id, time.time())
    assert elsewhere.outcome is RedeemOutcome.WRONG_AUDIENCE
    assert elsewhere.reservation == r
    assert (await redeem(store, r)).outcome is RedeemOutcome.REDEEMED
    assert (await store.redeem(new_id("jti"), r.digest, server.id, time.time())).outcome is (
        RedeemOutcome.NOT_ISSUED
    )


async def test_the_reservation_of_a_token_is_found_redeemed_or_not(store):
    server = await add_server(store, 4)
    r = reservation(server)
    await reserve(store, r)
    pending = await store.reservation(r.jti)
    assert (pending.reservation, pending.redeemed_at) == (r, None)
    now = time.time()
    await redeem(store, r, now)
    redeemed = await store.reservation(r.jti)
    assert (redeemed.reservation, redeemed.redeemed_at) == (r, now)
    assert await store.reservation(new_id("jti")) is None


async def test_a_declined_reservation_frees_its_slot_and_its_token_stops_redeeming(store):
    server = await add_server(store, 1)
    r = reservation(server)
    await reserve_from(store, r, "203.0.113.9", cap=1)
    assert await store.decline(r.jti, b"x" * 32, time.time()) is None
    declined = await store.decline(r.jti, r.digest, time.time())
    assert (declined.reservation, declined.redeemed_at) == (r, None)
    assert (await store.get_server(server.id, time.time())).reserved == 0
    assert (await redeem(store, r)).outcome is RedeemOutcome.NOT_ISSUED
    assert await store.reservation(r.jti) is None
    assert await store.decline(r.jti, r.digest, time.time()) is None
    again = reservation(server, r.player)
    assert await reserve_from(store, again, "203.0.113.9", cap=1) is None
    assert (await store.get_server(server.id, time.time())).reserved == 1


async def test_a_redeemed_or_expired_reservation_is_not_declined(store):
    server = await add_server(store, 4)
    redeemed, expired = reservation(server), reservation(server, ttl_s=10)
    for r in (redeemed, expired):
        await reserve(store, r)
    now = time.time()
    await redeem(store, redeemed, now)
    assert (await store.decline(redeemed.jti, redeemed.digest, now)).redeemed_at == now
    assert (await store.decline(expired.jti, expired.digest, expired.expires_at)).redeemed_at is None
    seen = await store.get_server(server.id, time.time())
    assert (seen.players, seen.reserved) == (1, 1)
    assert (await redeem(store, expired)).outcome is RedeemOutcome.REDEEMED


async def test_leave_frees_a_members_slot_once(store):
    server = await add_server(store, 2)
    first, second = reservation(server), reservation(server)
    for r in (first, second):
        await reserve(store, r)
        await redeem(store, r)
    seen = await store.get_server(server.id, time.time())
    assert (seen.players, seen.members) == (2, (first.player, second.player))
    assert await store.leave(server.id, first.player.id)
    assert not await store.leave(server.id, first.player.id)
    seen = await store.get_server(server.id, time.time())
    assert (seen.players, seen.members) == (1, (second.player,))


async def test_deleting_a_server_drops_its_reservations(store):
    server = await add_server(store, 2)
    r = reservation(server)
    await reserve(store, r)
    assert await store.delete_server(server.id)
    assert not await store.delete_server(server.id)
    assert await store.get_server(server.id, time.time()) is None
    assert server.id not in {s.id for s in await store.list_servers(time.time())}
    assert (await redeem(store, r)).outcome is RedeemOutcome.NOT_ISSUED
    assert await store.reservation(r.jti) is None


async def test_purge_forgets_only_what_can_no_longer_matter(store):
    server = await add_server(store, 4)
    live, old = reservation(server), reservation(server)
    await reserve(store, live)
    await reserve(store, old)
    await store.purge(time.time())
    assert (await store.reservation(live.jti)).reservation == live
    assert (await redeem(store, live)).outcome is RedeemOutcome.REDEEMED
    await store.purge(old.expires_at + 3601)
    assert await store.reservation(old.jti) is None
    assert (await redeem(store, old, now=old.expires_at + 3601)).outcome is RedeemOutcome.NOT_ISSUED


async def test_two_stores_on_one_database_stay_consistent(make_store):
    a, b = make_store(), make_store()
    await a.open()
    await b.open()
    try:
        await a.create_player(Player("p_shared", "Shared"), "hash", time.time())
        assert await b.player_credentials("SHARED") == (Player("p_shared", "Shared"), "hash")
        with pytest.raises(Conflict):
            await b.create_player(Player("p_other", "shared"), "hash", time.time())

        server = await add_server(a, 10)
        reserves = [reserve(a if i % 2 else b, reservation(server)) for i in range(50)]
        results = await asyncio.gather(*reserves, return_exceptions=True)
        assert results.count(None) == 10
        assert all(isinstance(r, LobbyError) for r in results if r is not None)

        r = reservation(await add_server(b, 4))
        await reserve(b, r)
        redemptions = await asyncio.gather(*(redeem(a if i % 2 else b, r) for i in range(40)))
        assert [x.outcome for x in redemptions].count(RedeemOutcome.REDEEMED) == 1
        seen_a = await a.get_server(r.server_id, time.time())
        seen_b = await b.get_server(r.server_id, time.time())
        assert seen_a.members == seen_b.members == (r.player,)
        assert (await a.get_server(server.id, time.time())).reserved == 10
    finally:
        await a.close()
        await b.close()


async def test_a_closed_store_is_unavailable(make_store):
    s = make_store()
    await s.open()
    await s.close()
    with pytest.raises(LobbyError) as refused:
        await s.ping()
    assert refused.value.reason == "unavailable"


# SQLite only: the schema version, WAL, and the writer's batches (group commit).


async def test_a_new_database_records_its_schema_version(sqlite_store, db_path):
    assert SCHEMA_VERSION >= 1
    assert pragma(db_path, "user_version") == SCHEMA_VERSION
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"players", "sessions", "servers", "reservations", "members"} <= tables


async def test_the_database_runs_in_wal_mode(sqlite_store, db_path):
    assert pragma(db_path, "journal_mode") == "wal"


async def test_reopening_keeps_the_data_and_the_version(db_path):
    first = SqliteStore(db_path)
    await first.open()
    await first.create_player(Player("p_keep", "Keeper"), "hash", time.time())
    await first.close()

    again = SqliteStore(db_path)
    await again.open()
    try:
        assert await again.player_credentials("keeper") == (Player("p_keep", "Keeper"), "hash")
    finally:
        await again.close()
    assert pragma(db_path, "user_version") == SCHEMA_VERSION


async def test_a_database_from_a_newer_schema_is_refused(db_path):
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE future (x)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    s = SqliteStore(db_path)
    try:
        with pytest.raises(Exception, match="newer"):
            await s.open()
    finally:
        await s.close()
    assert pragma(db_path, "user_version") == SCHEMA_VERSION + 1
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"future"}


async def test_one_failing_operation_does_not_undo_the_others_queued_with_it(sqlite_store):
    store = sqlite_store
    now = time.time()
    await store.create_player(Player("p_taken", "Taken"), "hash", now)
    names = [f"batch-{i}" for i in range(60)]
    names[30] = "TAKEN"
    missing = await add_server(store, 1)
    await store.delete_server(missing.id)

    ops = [store.create_player(Player(f"p_{i}", name), "hash", now) for i, name in enumerate(names)]
    ops.insert(10, reserve(store, reservation(missing)))
    results = await asyncio.gather(*ops, return_exceptions=True)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 2
    assert isinstance(results[10], NotFound)
    assert isinstance(results[31], Conflict)
    assert results[31].reason == "conflict"
    for i, name in enumerate(names):
        found = await store.player_credentials(name)
        expected = "p_taken" if i == 30 else f"p_{i}"
        assert found is not None
        assert found[0].id == expected


# Redis only: two lobby instances are two stores with their own pools on one Redis.


@pytest.fixture
async def two_instances(redis_server) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    a, b = RedisStore(redis_server.url(), prefix), RedisStore(redis_server.url(), prefix)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


def test_a_redis_url_builds_a_redis_store(redis_server):
    assert isinstance(store_from_url(redis_server.url(3)), RedisStore)
    assert isinstance(store_from_url("rediss://cache.example:6380/0"), RedisStore)


async def test_of_200_redemptions_over_two_instances_exactly_one_wins(two_instances):
    a, b = two_instances
    r = reservation(await add_server(a, 4))
    await reserve(b, r)
    results = await asyncio.gather(*(redeem(a if i % 2 else b, r) for i in range(200)))
    outcomes = [res.outcome for res in results]
    assert outcomes.count(RedeemOutcome.REDEEMED) == 1
    assert outcomes.count(RedeemOutcome.REPLAYED) == 199
    seen = await b.get_server(r.server_id, time.time())
    assert (seen.players, seen.reserved, seen.members) == (1, 0, (r.player,))


async def test_100_reserves_over_two_instances_on_capacity_10_hold_exactly_10(two_instances):
    a, b = two_instances
    server = await add_server(a, 10)
    results = await asyncio.gather(
        *(reserve(a if i % 2 else b, reservation(server)) for i in range(100)), return_exceptions=True
    )
    assert results.count(None) == 10
    assert {r.reason for r in results if r is not None} == {"server_full"}
    assert (await b.get_server(server.id, time.time())).reserved == 10


async def test_a_newer_key_layout_is_refused(redis_server):
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    future = RedisStore(redis_server.url(), prefix)
    await future.open()
    await future._client.set(f"{prefix}layout", LAYOUT_VERSION + 1)
    await future.close()
    with pytest.raises(RuntimeError, match="newer"):
        await RedisStore(redis_server.url(), prefix).open()


async def test_with_every_connection_in_use_a_call_is_refused_and_the_store_keeps_working(redis_server):
    store = RedisStore(redis_server.url(), f"test-{uuid.uuid4().hex[:12]}:", max_connections=3)
    await store.open()
    try:
        server = await add_server(store, 4)
        results = await asyncio.gather(
            *(store.get_server(server.id, time.time()) for _ in range(12)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, Unavailable)]
        assert refused
        assert all("every connection" in r.detail for r in refused)
        assert [r.id for r in results if not isinstance(r, Unavailable)] == [server.id] * (12 - len(refused))
        assert (await store.get_server(server.id, time.time())).id == server.id
    finally:
        await store.close()


@pytest.fixture
def own_redis(tmp_path) -> RedisProcess:
    process = RedisProcess(tmp_path / "redis").start()
    yield process
    process.stop()


def every_operation(store: Store, server: GameServer, r: Reservation) -> list:
    now = time.time()
    return [
        store.ping(),
        store.create_player(Player(new_id("p"), new_id("name")), "hash", now),
        store.player_credentials("someone"),
        store.create_session(b"s" * 32, "p_x", now + 60),
        store.session_player(b"s" * 32, now),
        store.delete_session(b"s" * 32),
        store.create_server(GameServer(new_id("s"), "n", "a:1", 1, 0, 0, now), b"h"),
        store.server_facts(server.id),
        store.get_server(server.id, now),
        store.list_servers(now),
        store.heartbeat(server.id, 0, now),
        store.reserve(reservation(server), now, HEARTBEAT_TIMEOUT_S),
        store.redeem(r.jti, r.digest, server.id, now),
        store.reservation(r.jti),
        store.leave(server.id, "p_x"),
        store.purge(now),
        store.delete_server(server.id),
    ]


async def test_with_redis_stopped_every_operation_is_unavailable_at_once_and_recovers(own_redis):
    store = RedisStore(own_redis.url())
    await store.open()
    try:
        server = await add_server(store, 4)
        r = reservation(server)
        await reserve(store, r)
        own_redis.stop()
        started = time.monotonic()
        results = await asyncio.gather(*every_operation(store, server, r), return_exceptions=True)
        assert time.monotonic() - started < 1.0
        assert all(isinstance(x, Unavailable) for x in results), results

        own_redis.start()
        await store.ping()
        again = await add_server(store, 1)
        await reserve(store, reservation(again))
        assert (await store.get_server(again.id, time.time())).reserved == 1
    finally:
        await store.close()


async def test_a_redis_that_stops_answering_is_unavailable_after_the_socket_timeout(own_redis):
    store = RedisStore(own_redis.url())
    await store.open()
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await store.ping()
        assert time.monotonic() - started < SOCKET_TIMEOUT_S + 1
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    try:
        await store.ping()
    finally:
        await store.close()
