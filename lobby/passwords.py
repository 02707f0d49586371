"""Password hashing with argon2id, off the event loop and bounded in concurrency (it is memory-hard)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_CONCURRENT_HASHES = 2


class Passwords:
    """Hash and check passwords; at most `MAX_CONCURRENT_HASHES` run at once (each takes 64 MiB)."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._dummy = self._hasher.hash("playlink-dummy-password")

    async def hash(self, password: str) -> str:
        """The argon2id hash of `password`."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def check(self, stored_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no stored hash, spend the same time and say no."""
        async with self._slots:
            return await asyncio.to_thread(self._check, stored_hash, password)

    def _check(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False
