"""Group commit on SQLite: writes answered only once durable, with one fsync in flight at a time."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from lobby.errors import Unavailable
from lobby.store.sqlite_batch import Batcher

FSYNC_S = 0.05


class SlowDisk(Batcher):
    """A batcher on a real file whose fsync takes `FSYNC_S`, counting fsyncs and their overlap."""

    def __init__(self, *args: object, fail: bool = False) -> None:
        super().__init__(*args)
        self.fsyncs = 0
        self.running = 0
        self.most_at_once = 0
        self.fail = fail
        self.lock = threading.Lock()

    def _fsync_wal(self) -> None:
        with self.lock:
            self.fsyncs += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(FSYNC_S)
            if self.fail:
                raise OSError("disk gone")
            super()._fsync_wal()
        finally:
            with self.lock:
                self.running -= 1


def insert(value: int):
    return lambda c: c.execute("INSERT INTO t VALUES (?)", (value,)).lastrowid


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "batch.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
    return path


async def test_writes_made_during_an_fsync_share_the_next_one(path):
    disk = SlowDisk(path, "BEGIN IMMEDIATE", True)
    await disk.start()
    calls = []
    started = time.monotonic()
    for n in range(40):  # 40 loop turns, one write each (about 2.5 ms apart), while fsyncs take 50 ms
        calls.append(disk.call(insert(n)))
        await asyncio.sleep(FSYNC_S / 20)
    assert await asyncio.gather(*calls) == list(range(1, 41))
    elapsed = time.monotonic() - started
    await disk.stop()
    assert disk.most_at_once == 1
    # One fsync per window of FSYNC_S at most, however much a loaded machine stretched the loop, and
    # the writes shared them: never one fsync per write.
    assert disk.fsyncs <= max(4, int(elapsed / FSYNC_S) + 2)
    assert disk.fsyncs <= 20
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (40,)


async def test_a_write_is_answered_only_after_an_fsync_that_began_after_its_commit(path):
    disk = SlowDisk(path, "BEGIN IMMEDIATE", True)
    await disk.start()
    first = disk.call(insert(1))
    await asyncio.sleep(FSYNC_S / 5)  # the first write's fsync is under way
    second = disk.call(insert(2))
    await first
    assert not second.done()
    await second
    assert disk.fsyncs == 2
    await disk.stop()


async def test_a_failed_fsync_fails_the_writes_it_covered_and_the_batcher_goes_on(path):
    disk = SlowDisk(path, "BEGIN IMMEDIATE", True, fail=True)
    await disk.start()
    with pytest.raises(Unavailable, match="durable"):
        await disk.call(insert(1))
    disk.fail = False
    assert await disk.call(insert(2)) == 2
    await disk.stop()


async def test_one_failing_operation_rolls_back_only_itself(path):
    disk = SlowDisk(path, "BEGIN IMMEDIATE", True)
    await disk.start()
    results = await asyncio.gather(
        disk.call(insert(1)), disk.call(insert(1)), disk.call(insert(3)), return_exceptions=True
    )
    assert results[0] == 1
    assert isinstance(results[1], Unavailable)
    assert results[2] == 2
    await disk.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT v FROM t ORDER BY v").fetchall() == [(1,), (3,)]
