"""Password hashing with argon2id, off the event loop and bounded in concurrency (it is memory-hard).

At most `MAX_CONCURRENT_HASHES` run at once, and at most `LOBBY_PASSWORD_HASH_QUEUE` more wait for
a slot; one more is refused at once (503 `unavailable`, `Retry-After: 1`) rather than queued
without bound, which let a flood of guesses delay every honest log-in by seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lobby.errors import Unavailable
from lobby.settings import PASSWORD_HASH_QUEUE

MAX_CONCURRENT_HASHES = 2
BUSY_RETRY_AFTER_S = 1


class Passwords:
    """Hash and check passwords; `MAX_CONCURRENT_HASHES` at once (each takes 64 MiB), a bounded queue."""

    def __init__(self, max_waiting: int = PASSWORD_HASH_QUEUE) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._max_admitted = MAX_CONCURRENT_HASHES + max_waiting
        self._admitted = 0
        self._dummy = self._hasher.hash("playlink-dummy-password")

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """A hashing slot, waited for in a bounded queue; `Unavailable` when the queue is full."""
        if self._admitted >= self._max_admitted:
            raise Unavailable(
                f"too many passwords are being checked; retry in {BUSY_RETRY_AFTER_S} s",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
            )
        self._admitted += 1
        try:
            async with self._slots:
                yield
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        """The argon2id hash of `password`."""
        async with self._slot():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def check(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no stored hash, spend the same time and say no."""
        async with self._slot():
            return await asyncio.to_thread(self._check, stored_hash, password)

    def _check(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False
