"""The SQLite store on a real file: schema versioning, WAL, group commit, and its atomic operations."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import pytest

from lobby.errors import Conflict, LobbyError, NotFound
from lobby.store import GameServer, Player, RedeemOutcome, Reservation, SqliteStore
from lobby.store.sqlite import SCHEMA_VERSION

HEARTBEAT_TIMEOUT_S = 30


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "lobby.db"


@pytest.fixture
async def store(db_path):
    s = SqliteStore(db_path)
    await s.open()
    yield s
    await s.close()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def add_server(store: SqliteStore, capacity: int) -> GameServer:
    server = GameServer(new_id("s"), "arena", "127.0.0.1:7777", capacity, 0, 0, time.time())
    await store.create_server(server, b"\x00" * 32)
    return server


def reservation(server: GameServer, player: Player | None = None, ttl_s: float = 120) -> Reservation:
    player = player or Player(new_id("p"), "someone")
    jti = new_id("jti")
    return Reservation(jti, server.id, player, jti.encode() * 2, "kid-1", time.time() + ttl_s)


async def reserve(store: SqliteStore, r: Reservation) -> None:
    await store.reserve(r, time.time(), HEARTBEAT_TIMEOUT_S)


async def redeem(store: SqliteStore, r: Reservation):
    return await store.redeem(r.jti, r.digest, r.server_id, time.time())


def pragma(db_path, name: str):
    with sqlite3.connect(db_path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


async def test_a_new_database_records_its_schema_version(store, db_path):
    assert SCHEMA_VERSION >= 1
    assert pragma(db_path, "user_version") == SCHEMA_VERSION
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"players", "sessions", "servers", "reservations", "members"} <= tables


async def test_the_database_runs_in_wal_mode(store, db_path):
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


async def test_one_failing_operation_does_not_undo_the_others_queued_with_it(store):
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
    elsewhere = await store.redeem(r.jti, r.digest, other.id, time.time())
    assert elsewhere.outcome is RedeemOutcome.WRONG_AUDIENCE
    assert (await redeem(store, r)).outcome is RedeemOutcome.REDEEMED


async def test_two_stores_on_one_file_stay_consistent(db_path):
    a, b = SqliteStore(db_path), SqliteStore(db_path)
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


async def test_a_closed_store_is_unavailable(db_path):
    s = SqliteStore(db_path)
    await s.open()
    await s.close()
    with pytest.raises(LobbyError) as refused:
        await s.ping()
    assert refused.value.reason == "unavailable"
