"""Group commit for SQLite: concurrent requests' operations run as one transaction per loop turn.

Each call queues a function; once per loop turn the queued functions run in one `BEGIN IMMEDIATE`
transaction (each in its own savepoint, so one failure rolls back only itself) in the loop's own
thread, which commits once; a worker thread then fsyncs the WAL, and all callers are answered
(group commit). A statement costs tens of microseconds, while a thread hop per statement costs
more than that under load (the GIL changes hands each time), so only the fsync leaves the loop.
One fsync is in flight at a time: batches committed meanwhile wait for the next one, which
covers them all, so under load the fsyncs (and their thread hops) grow fewer, not more.
The write lock is released at commit, before the fsync, so other processes on the host wait
for a batch's statements only.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lobby.errors import Unavailable

BUSY_TIMEOUT_MS = 1000

Op = Callable[[sqlite3.Connection], Any]
_Result = tuple[asyncio.Future[Any], Any, BaseException | None]


class Batcher:
    """One connection whose queued operations run together once per event-loop turn.

    Operations queued while the loop is busy run as one transaction when the loop next gets to
    this batcher, in the loop's own thread: no thread hop per operation and no contention for the
    GIL. A durable batcher then has its WAL fsynced in a worker thread (one hop per batch) and
    answers the batch's callers only after that: group commit.
    """

    def __init__(self, path: Path, begin: str, durable: bool) -> None:
        self.path = path
        self.begin = begin
        self.durable = durable
        self.pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self.pending_durable = False
        self.conn: sqlite3.Connection | None = None
        self.wal_fd: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.syncing: asyncio.Future[None] | None = None
        self.unsynced: list[_Result] = []

    async def start(self) -> None:
        """Open the connection."""
        self.loop = asyncio.get_running_loop()
        try:
            self.conn = connect(self.path)
        except sqlite3.Error as exc:
            raise Unavailable(f"the database cannot be opened: {exc}") from None

    async def stop(self) -> None:
        """Run what is queued, wait for its durability, and close the connection."""
        self._flush()
        while self.syncing is not None:
            await asyncio.gather(self.syncing, return_exceptions=True)
        if self.wal_fd is not None:
            os.close(self.wal_fd)
            self.wal_fd = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, op: Op, durable: bool = True) -> asyncio.Future[Any]:
        """Queue `op`; its future is settled once its batch has committed (and, if asked, is durable).

        `durable=False` is for what may be lost in a crash (live events): a batch of only such
        operations is answered at commit, without waiting for an fsync.
        """
        if self.conn is None or self.loop is None:
            raise Unavailable("the store is closed")
        future: asyncio.Future[Any] = self.loop.create_future()
        if not self.pending:
            self.loop.call_soon(self._flush)
        self.pending.append((op, future))
        self.pending_durable = self.pending_durable or durable
        return future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        needs_sync, self.pending_durable = self.durable and self.pending_durable, False
        if not batch or self.conn is None or self.loop is None:
            return
        results = _run_batch(self.conn, self.begin, batch)
        if not needs_sync:
            _settle_all(results)
            return
        self.unsynced += results
        if self.syncing is None:
            self._start_sync()

    def _start_sync(self) -> None:
        """fsync the WAL for every batch committed so far; later batches wait for the next fsync."""
        assert self.loop is not None
        covered, self.unsynced = self.unsynced, []
        self.syncing = self.loop.run_in_executor(None, self._fsync_wal)
        self.syncing.add_done_callback(lambda done: self._after_sync(done, covered))

    def _fsync_wal(self) -> None:
        if self.wal_fd is None:
            self.wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        os.fsync(self.wal_fd)

    def _after_sync(self, sync: asyncio.Future[None], results: list[_Result]) -> None:
        self.syncing = None
        if sync.cancelled() or sync.exception() is not None:
            failure = Unavailable("the database could not be made durable")
            results = [(future, None, failure) for future, _value, _error in results]
        _settle_all(results)
        if self.unsynced:
            self._start_sync()


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode; commits are made durable by fsyncing the WAL after each batch."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _run_batch(
    conn: sqlite3.Connection, begin: str, batch: list[tuple[Op, asyncio.Future[Any]]]
) -> list[_Result]:
    """Run a batch of operations in one transaction; each op's failure stays its own."""
    results: list[_Result] = []
    try:
        conn.execute(begin)
        for op, future in batch:
            conn.execute("SAVEPOINT op")
            try:
                value = op(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                results.append((future, None, _as_lobby_error(exc)))
            else:
                results.append((future, value, None))
            conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.rollback()
        failure = Unavailable(f"the database failed: {exc}")
        return [(future, None, failure) for _op, future in batch]
    return results


def _as_lobby_error(exc: Exception) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return Unavailable(f"the database failed: {exc}")
    return exc


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _settle_all(results: list[_Result]) -> None:
    for future, value, error in results:
        _settle(future, value, error)
