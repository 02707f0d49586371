"""Rate-limit counters in one SQLite file that the workers of one `lobby serve` share.

With in-memory counters each worker would count alone, and a client spread over N workers would
get N times its limit. When the supervisor gives its workers a shared directory (`--workers` > 1,
see `lobby.metrics`), the counters live in a SQLite file there instead: a `limits` storage with
the sliding-window-counter support the lobby's strategy needs. Each check is one short
`BEGIN IMMEDIATE` transaction, run in the event loop's thread (tens of microseconds; a thread hop
would cost more), serialised across the workers by SQLite's lock. The counters need no durability:
the file is not synced, and goes with the directory when the supervisor exits.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from limits.aio.storage import SlidingWindowCounterSupport, Storage

from lobby.private_files import PRIVATE_FILE_MODE

SHARED_LIMITS_FILE = "rate-limits.sqlite3"  # not *.db: prometheus_client reads those in that directory
BUSY_TIMEOUT_S = 1.0
PURGE_EVERY_WRITES = 1024
T = TypeVar("T")


class SharedFileStorage(Storage, SlidingWindowCounterSupport):
    """`limits` counters (fixed keys and sliding windows) in a SQLite file shared by processes."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["async+playlink-shared-file"]

    def __init__(self, path: Path) -> None:
        super().__init__(None, wrap_exceptions=False)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._writes = 0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """The errors of this storage (SQLite's)."""
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.touch(mode=PRIVATE_FILE_MODE, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS counters "
                "(key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL)"
            )
            self._conn = conn
        return self._conn

    def _transaction(self, op: Callable[[sqlite3.Connection, float], T]) -> T:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = op(conn, time.time())
            self._writes += 1
            if self._writes % PURGE_EVERY_WRITES == 0:
                conn.execute("DELETE FROM counters WHERE expires <= ?", (time.time(),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str, now: float) -> int:
        row = conn.execute("SELECT value FROM counters WHERE key = ? AND expires > ?", (key, now)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _incr(conn: sqlite3.Connection, key: str, expiry: float, amount: int, now: float) -> int:
        conn.execute(
            "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "value = CASE WHEN expires > ? THEN value + excluded.value ELSE excluded.value END, "
            "expires = CASE WHEN expires > ? THEN expires ELSE excluded.expires END",
            (key, amount, now + expiry, now, now),
        )
        return SharedFileStorage._get(conn, key, now)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to `key`'s counter, which expires `expiry` seconds after it was created."""
        return self._transaction(lambda c, now: self._incr(c, key, expiry, amount, now))

    async def get(self, key: str) -> int:
        """The counter of `key` (0 when absent or expired)."""
        return self._get(self._db(), key, time.time())

    async def get_expiry(self, key: str) -> float:
        """When `key`'s counter expires (epoch seconds; now when it has none)."""
        row = self._db().execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else time.time()

    async def check(self) -> bool:
        """Whether the file can be read."""
        self._db().execute("SELECT 1").fetchone()
        return True

    async def reset(self) -> int | None:
        """Forget every counter."""
        return self._transaction(lambda c, _now: c.execute("DELETE FROM counters").rowcount)

    async def clear(self, key: str) -> None:
        """Forget `key`'s counter."""
        self._transaction(lambda c, _now: c.execute("DELETE FROM counters WHERE key = ?", (key,)))

    @staticmethod
    def _window(conn: sqlite3.Connection, key: str, expiry: int, now: float) -> tuple[int, float, int, float]:
        """The previous and current windows of `key`: (count, seconds left) each, weighed as `limits` does."""
        index = math.floor(now / expiry)
        previous = SharedFileStorage._get(conn, f"{key}/{index - 1}", now)
        current = SharedFileStorage._get(conn, f"{key}/{index}", now)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        return previous, previous_ttl, current, (1 - ((now / expiry) % 1)) * expiry + expiry

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count `amount` hits in `key`'s current window unless that would pass `limit` (atomically)."""

        def op(conn: sqlite3.Connection, now: float) -> bool:
            previous, previous_ttl, current, _ = self._window(conn, key, expiry, now)
            if amount > limit or math.floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            self._incr(conn, f"{key}/{math.floor(now / expiry)}", 2 * expiry, amount, now)
            return True

        return self._transaction(op)

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """The previous and current windows of `key`, as `limits`' sliding window counter reads them."""
        return self._window(self._db(), key, expiry, time.time())

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        """Forget both windows of `key`."""
        index = math.floor(time.time() / expiry)

        def op(conn: sqlite3.Connection, _now: float) -> None:
            conn.execute("DELETE FROM counters WHERE key IN (?, ?)", (f"{key}/{index - 1}", f"{key}/{index}"))

        self._transaction(op)

    async def take_slot(self, key: str, quota: int, ttl_s: float) -> int | None:
        """Take one of `quota` slots of `key`: how many are in use now, or None when all already are.

        The count expires `ttl_s` after the last take, which forgets the slots of a worker that died.
        """

        def op(conn: sqlite3.Connection, now: float) -> int | None:
            in_use = self._get(conn, key, now)
            if in_use >= quota:
                return None
            conn.execute(
                "INSERT INTO counters VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET "
                "value = CASE WHEN expires > ? THEN value + 1 ELSE 1 END, expires = excluded.expires",
                (key, now + ttl_s, now),
            )
            return in_use + 1

        return self._transaction(op)

    async def give_back_slot(self, key: str) -> None:
        """Give back a slot taken by `take_slot`."""

        def op(conn: sqlite3.Connection, _now: float) -> None:
            conn.execute("UPDATE counters SET value = value - 1 WHERE key = ?", (key,))
            conn.execute("DELETE FROM counters WHERE key = ? AND value <= 0", (key,))

        self._transaction(op)

    async def aclose(self) -> None:
        """Close the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
