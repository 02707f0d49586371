"""Password guessing against one account: a few free failures, then a wait that doubles per failure.

This is Keycloak's brute-force detector in its "temporary lockout" mode (Django-axes' cool-off is
the same idea): failures are counted per account, whatever the address they come from; past
`LOBBY_LOGIN_FREE_FAILURES` each failure makes the account wait `LOBBY_LOGIN_WAIT_S`, doubled per
further failure up to `LOBBY_LOGIN_MAX_WAIT_S`; `LOBBY_LOGIN_FAILURE_RESET_S` after the first
failure the count starts over, and a successful log-in clears it. While the account waits, a
log-in is answered 429 with `Retry-After` without checking the password, and is not counted: so
guesses cannot extend the wait, an attacker gets at most one checked guess per wait, and the
account's owner is kept out no longer than the wait (never locked for good). Unknown names are
throttled alike, so the throttle does not tell which names exist. Counts live in the rate
limiter's storage, so every worker and instance that shares limits shares them.
"""

from __future__ import annotations

import hashlib
import math
import time

from lobby.errors import RateLimited
from lobby.names import name_key
from lobby.ratelimit import RateLimiter, reachable
from lobby.settings import Settings

FAILURES_KEY = "login-failures/"
WAIT_KEY = "login-wait/"


def account_key(name: str) -> str:
    """The throttle's key for the account a typed name means (its look-alike key, hashed)."""
    return hashlib.blake2b(name_key(name).encode("utf-8", "replace"), digest_size=16).hexdigest()


class LoginThrottle:
    """Per-account failure counts and waits, in the rate limiter's storage."""

    def __init__(self, limiter: RateLimiter, settings: Settings) -> None:
        self._limiter = limiter
        self.free_failures = settings.login_free_failures
        self.wait_s = settings.login_wait_s
        self.max_wait_s = settings.login_max_wait_s
        self.reset_s = settings.login_failure_reset_s

    def wait_after(self, failures: int) -> int:
        """Seconds the account waits after its `failures`-th failure in a row (0 while free)."""
        extra = failures - self.free_failures
        if extra <= 0:
            return 0
        return min(self.max_wait_s, self.wait_s * 2 ** min(extra - 1, 32))

    async def check(self, account: str) -> None:
        """Raise `RateLimited` with `Retry-After` while `account` waits."""
        storage = self._limiter.storage
        with reachable():
            if not await storage.get(WAIT_KEY + account):
                return
            until = await storage.get_expiry(WAIT_KEY + account)
        retry_s = max(1, math.ceil(until - time.time()))
        raise RateLimited(
            f"too many failed log-ins for this name; retry in {retry_s} s",
            headers={"Retry-After": str(retry_s)},
        )

    async def failed(self, account: str) -> None:
        """Count a wrong password for `account`, and make it wait when past its free failures."""
        storage = self._limiter.storage
        with reachable():
            failures = await storage.incr(FAILURES_KEY + account, self.reset_s)
            wait = self.wait_after(failures)
            if wait:
                await storage.clear(WAIT_KEY + account)
                await storage.incr(WAIT_KEY + account, wait)

    async def succeeded(self, account: str) -> None:
        """Forget `account`'s failures: its owner got in."""
        storage = self._limiter.storage
        with reachable():
            await storage.clear(FAILURES_KEY + account)
            await storage.clear(WAIT_KEY + account)
