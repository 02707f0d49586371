"""The SQLite store: the schema, its migrations, and each store operation as one function.

Operations run through `sqlite_batch.Batcher` (group commit in the event loop's thread); every
operation is a function of a connection, atomic within its batch's transaction.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from lobby.errors import Conflict, NotFound, too_many_reservations
from lobby.names import legacy_name_key, name_key
from lobby.private_files import private_database
from lobby.store.base import (
    GameServer,
    Player,
    RedeemOutcome,
    RedeemResult,
    Reservation,
    ReservationState,
    ServerFacts,
)
from lobby.store.sqlite_batch import Batcher

T = TypeVar("T")

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE players (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        player_id TEXT NOT NULL REFERENCES players(id) ON DELETE CASCADE,
        expires_at REAL NOT NULL
    );
    CREATE TABLE servers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        capacity INTEGER NOT NULL,
        secret_hash BLOB NOT NULL,
        players INTEGER NOT NULL DEFAULT 0,
        last_seen REAL NOT NULL
    );
    CREATE TABLE reservations (
        jti TEXT PRIMARY KEY,
        server_id TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
        player_id TEXT NOT NULL,
        player_name TEXT NOT NULL,
        digest BLOB NOT NULL,
        kid TEXT NOT NULL,
        expires_at REAL NOT NULL,
        redeemed_at REAL
    );
    CREATE INDEX reservations_live ON reservations (server_id, expires_at)
        WHERE redeemed_at IS NULL;
    CREATE INDEX reservations_player ON reservations (player_id, server_id)
        WHERE redeemed_at IS NULL;
    CREATE TABLE members (
        server_id TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
        player_id TEXT NOT NULL,
        player_name TEXT NOT NULL,
        joined_at REAL NOT NULL,
        PRIMARY KEY (server_id, player_id)
    );
    """,
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        player TEXT,
        created_at REAL NOT NULL
    );
    """,
    """
    ALTER TABLE reservations ADD COLUMN address TEXT NOT NULL DEFAULT '';
    CREATE INDEX reservations_address ON reservations (address, expires_at)
        WHERE redeemed_at IS NULL;
    """,
    # Names are unique by their look-alike key (lobby.names.name_key) instead of their casefold.
    # Where two existing names share a key, the first registered takes it; the others keep their
    # casefold as their key and still log in by their exact name.
    """
    UPDATE OR IGNORE players SET name_key = playlink_name_key(name);
    """,
)
EventRow = tuple[int, str, str, str | None]
SCHEMA_VERSION = len(MIGRATIONS)

SERVER_COLUMNS = """
    s.id, s.name, s.address, s.capacity, s.players, s.last_seen,
    (SELECT count(*) FROM reservations r
      WHERE r.server_id = s.id AND r.redeemed_at IS NULL AND r.expires_at > ?)
"""


def _server(row: tuple[Any, ...], members: tuple[Player, ...] = ()) -> GameServer:
    sid, name, address, capacity, players, last_seen, reserved = row
    return GameServer(sid, name, address, capacity, players, reserved, last_seen, members)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to `SCHEMA_VERSION`, refusing a database newer than this code."""
    conn.create_function("playlink_name_key", 1, name_key, deterministic=True)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {version} is newer than this lobby ({SCHEMA_VERSION})")
    for number in range(version, SCHEMA_VERSION):
        for statement in MIGRATIONS[number].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number + 1}")


class SqliteStore:
    """The `Store` on one SQLite file in WAL mode; several processes on one host may share it.

    Writes are batched on one connection and answered once their WAL is fsynced; reads are
    batched on another, so they never wait behind a write batch's fsync.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = Batcher(path, "BEGIN IMMEDIATE", durable=True)
        self._reader = Batcher(path, "BEGIN DEFERRED", durable=False)

    async def open(self) -> None:
        """Open the connections and migrate the schema."""
        private_database(self.path)
        await self._writer.start()
        await self._write(migrate)
        await self._reader.start()

    async def close(self) -> None:
        """Finish queued operations and close the connections."""
        await self._reader.stop()
        await self._writer.stop()

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writer.call(op)

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await self._reader.call(op)

    async def ping(self) -> None:
        """Answer when the database does."""
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    async def create_player(self, player: Player, password_hash: str, now: float) -> None:
        """Add a player; `Conflict` when the name, or one that looks like it, is taken."""

        def op(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO players VALUES (?, ?, ?, ?, ?)",
                    (player.id, player.name, name_key(player.name), password_hash, now),
                )
            except sqlite3.IntegrityError:
                raise Conflict("that name, or one that looks like it, is taken") from None

        await self._write(op)

    async def player_credentials(self, name: str) -> tuple[Player, str] | None:
        """The player called `name` and their password hash (see `lobby.names` for the lookup)."""
        exact, key = legacy_name_key(name), name_key(name)

        def op(c: sqlite3.Connection) -> tuple[Player, str] | None:
            row = c.execute(
                "SELECT id, name, password_hash FROM players WHERE name_key IN (?, ?)"
                " ORDER BY name_key = ? DESC LIMIT 1",
                (exact, key, exact),
            ).fetchone()
            return (Player(row[0], row[1]), row[2]) if row else None

        return await self._read(op)

    async def create_session(self, token_hash: bytes, player_id: str, expires_at: float) -> None:
        """Remember a session."""
        await self._write(
            lambda c: c.execute(
                "INSERT INTO sessions VALUES (?, ?, ?)", (token_hash, player_id, expires_at)
            )
        )

    async def session_player(self, token_hash: bytes, now: float) -> Player | None:
        """The player of a live session."""

        def op(c: sqlite3.Connection) -> Player | None:
            row = c.execute(
                "SELECT p.id, p.name FROM sessions s JOIN players p ON p.id = s.player_id"
                " WHERE s.token_hash = ? AND s.expires_at > ?",
                (token_hash, now),
            ).fetchone()
            return Player(row[0], row[1]) if row else None

        return await self._read(op)

    async def delete_session(self, token_hash: bytes) -> None:
        """Revoke a session."""
        await self._write(lambda c: c.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,)))

    async def create_server(self, server: GameServer, secret_hash: bytes) -> None:
        """Register a game server."""
        await self._write(
            lambda c: c.execute(
                "INSERT INTO servers VALUES (?, ?, ?, ?, ?, ?, ?)",
                (server.id, server.name, server.address, server.capacity, secret_hash,
                 server.players, server.last_seen),
            )
        )

    async def server_facts(self, server_id: str) -> ServerFacts | None:
        """The address and secret hash of a server."""

        def op(c: sqlite3.Connection) -> ServerFacts | None:
            row = c.execute(
                "SELECT address, secret_hash FROM servers WHERE id = ?", (server_id,)
            ).fetchone()
            return ServerFacts(row[0], row[1]) if row else None

        return await self._read(op)

    async def get_server(self, server_id: str, now: float) -> GameServer | None:
        """One server with its live counts and members."""

        def op(c: sqlite3.Connection) -> GameServer | None:
            row = c.execute(
                f"SELECT {SERVER_COLUMNS} FROM servers s WHERE s.id = ?",  # noqa: S608
                (now, server_id),
            ).fetchone()
            if row is None:
                return None
            members = tuple(
                Player(pid, pname)
                for pid, pname in c.execute(
                    "SELECT player_id, player_name FROM members WHERE server_id = ?"
                    " ORDER BY joined_at",
                    (server_id,),
                )
            )
            return _server(row, members)

        return await self._read(op)

    async def list_servers(self, now: float, ids: Collection[str] | None = None) -> list[GameServer]:
        """Every server (or only those of `ids` that exist) with its live counts, oldest first."""
        if ids is None:
            where, params = "", (now,)
        else:
            where, params = "WHERE s.id IN (SELECT value FROM json_each(?))", (now, json.dumps(list(ids)))
        query = f"SELECT {SERVER_COLUMNS} FROM servers s {where} ORDER BY s.rowid"  # noqa: S608
        return await self._read(lambda c: [_server(row) for row in c.execute(query, params)])

    async def heartbeat(self, server_id: str, players: int, now: float) -> bool:
        """Mark a server alive with its player count."""
        return await self._write(
            lambda c: c.execute(
                "UPDATE servers SET players = ?, last_seen = ? WHERE id = ?",
                (players, now, server_id),
            ).rowcount
            == 1
        )

    async def delete_server(self, server_id: str) -> bool:
        """Deregister a server."""
        return await self._write(
            lambda c: c.execute("DELETE FROM servers WHERE id = ?", (server_id,)).rowcount == 1
        )

    async def reserve(
        self,
        reservation: Reservation,
        now: float,
        heartbeat_timeout_s: float,
        *,
        address: str = "",
        max_per_address: int = 0,
    ) -> str | None:
        """Hold a slot, or raise why not (the whole operation rolls back on a refusal)."""

        def op(c: sqlite3.Connection) -> str | None:
            replaced = c.execute(
                "DELETE FROM reservations WHERE player_id = ? AND redeemed_at IS NULL RETURNING server_id",
                (reservation.player.id,),
            ).fetchall()
            row = c.execute(
                f"SELECT {SERVER_COLUMNS} FROM servers s WHERE s.id = ?",  # noqa: S608
                (now, reservation.server_id),
            ).fetchone()
            if row is None:
                raise NotFound("no such game server")
            status = _server(row).status(now, heartbeat_timeout_s)
            if status != "online":
                reason = "server_offline" if status == "offline" else "server_full"
                raise Conflict(f"the game server is {status}", reason)
            if max_per_address:
                held, first_expiry = c.execute(  # reads at most `max_per_address` index entries
                    "SELECT count(*), min(expires_at) FROM (SELECT expires_at FROM reservations"
                    " WHERE address = ? AND redeemed_at IS NULL AND expires_at > ? LIMIT ?)",
                    (address, now, max_per_address),
                ).fetchone()
                if held >= max_per_address:
                    raise too_many_reservations(max_per_address, first_expiry - now)
            r = reservation
            c.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                (r.jti, r.server_id, r.player.id, r.player.name, r.digest, r.kid, r.expires_at, address),
            )
            others = {sid for (sid,) in replaced if sid != r.server_id}
            return others.pop() if others else None

        return await self._write(op)

    async def redeem(self, jti: str, digest: bytes, server_id: str, now: float) -> RedeemResult:
        """Atomically redeem the reservation of `jti`."""

        def op(c: sqlite3.Connection) -> RedeemResult:
            row = c.execute(
                "SELECT server_id, player_id, player_name, digest, kid, expires_at, redeemed_at"
                " FROM reservations WHERE jti = ?",
                (jti,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[3], digest):
                return RedeemResult(RedeemOutcome.NOT_ISSUED)
            sid, pid, pname, _digest, kid, expires_at, redeemed_at = row
            found = Reservation(jti, sid, Player(pid, pname), digest, kid, expires_at)
            if sid != server_id:
                return RedeemResult(RedeemOutcome.WRONG_AUDIENCE, found)
            if redeemed_at is not None:
                return RedeemResult(RedeemOutcome.REPLAYED, found)
            if now >= expires_at:
                return RedeemResult(RedeemOutcome.EXPIRED, found)
            c.execute("UPDATE reservations SET redeemed_at = ? WHERE jti = ?", (now, jti))
            joined = c.execute(
                "INSERT OR IGNORE INTO members VALUES (?, ?, ?, ?)", (sid, pid, pname, now)
            ).rowcount
            c.execute("UPDATE servers SET players = players + ? WHERE id = ?", (joined, sid))
            return RedeemResult(RedeemOutcome.REDEEMED, found)

        return await self._write(op)

    async def reservation(self, jti: str) -> ReservationState | None:
        """The reservation of `jti` and when it was redeemed."""

        return await self._read(lambda c: _reservation_state(c, jti))

    async def decline(self, jti: str, digest: bytes, now: float) -> ReservationState | None:
        """Drop a live unredeemed reservation whose digest matches; what was found."""

        def op(c: sqlite3.Connection) -> ReservationState | None:
            state = _reservation_state(c, jti)
            if state is None or not hmac.compare_digest(state.reservation.digest, digest):
                return None
            if state.redeemed_at is None and now < state.reservation.expires_at:
                c.execute("DELETE FROM reservations WHERE jti = ?", (jti,))
            return state

        return await self._write(op)

    async def leave(self, server_id: str, player_id: str) -> bool:
        """Free a player's slot."""

        def op(c: sqlite3.Connection) -> bool:
            gone = c.execute(
                "DELETE FROM members WHERE server_id = ? AND player_id = ?", (server_id, player_id)
            ).rowcount
            if gone:
                c.execute(
                    "UPDATE servers SET players = max(players - 1, 0) WHERE id = ?", (server_id,)
                )
            return gone == 1

        return await self._write(op)

    async def append_event(
        self, name: str, data: str, player: str | None, now: float, keep: int
    ) -> int:
        """Append an event (`data` is JSON) and forget all but the latest `keep`; its id."""

        def op(c: sqlite3.Connection) -> int:
            cursor = c.execute(
                "INSERT INTO events (name, data, player, created_at) VALUES (?, ?, ?, ?)",
                (name, data, player, now),
            )
            event_id = cursor.lastrowid or 0
            c.execute("DELETE FROM events WHERE id <= ?", (event_id - keep,))
            return event_id

        return await self._writer.call(op, durable=False)

    async def events_after(self, after: int, limit: int) -> list[EventRow]:
        """Up to `limit` events with ids above `after`, oldest first: (id, name, data, player)."""
        return await self._read(
            lambda c: c.execute(
                "SELECT id, name, data, player FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        )

    async def purge(self, now: float) -> None:
        """Forget expired sessions, and reservations past any use."""

        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            c.execute("DELETE FROM reservations WHERE expires_at <= ?", (now - 3600,))

        await self._write(op)


def _reservation_state(c: sqlite3.Connection, jti: str) -> ReservationState | None:
    """Read the reservation of `jti` and when it was redeemed, or None."""
    row = c.execute(
        "SELECT server_id, player_id, player_name, digest, kid, expires_at, redeemed_at"
        " FROM reservations WHERE jti = ?",
        (jti,),
    ).fetchone()
    if row is None:
        return None
    sid, pid, pname, digest, kid, expires_at, redeemed_at = row
    return ReservationState(Reservation(jti, sid, Player(pid, pname), digest, kid, expires_at), redeemed_at)
