"""An async cache of one lobby's JWKS, built on `jwt.PyJWKSet`.

It keeps the keys for the lobby's `Cache-Control: max-age`, serves them stale while the lobby is
unreachable (never dropping keys on a failed fetch), refetches on an unknown `kid` at most once per
`refetch_interval_s` (so forged kids cannot flood the lobby), shares one fetch among concurrent
callers, and bounds each fetch by one overall deadline (`timeout_s`, 2 s by default, which a lobby
dripping its answer cannot extend) so that an unknown kid with the lobby down fails promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable

import httpx
import jwt

from client_sdk.errors import LobbyUnavailable, PlaylinkError, UnknownKey, error_from_response
from client_sdk.untrusted_json import loads

JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_MAX_AGE_S = 60.0
MAX_MAX_AGE_S = 24 * 3600.0
REFETCH_INTERVAL_S = 10.0
FETCH_TIMEOUT_S = 2.0
MAX_JWKS_BYTES = 64 * 1024
ALGORITHM = "ES256"
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.I)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.I)

log = logging.getLogger("client_sdk")


def max_age_of(cache_control: str | None, default_s: float = DEFAULT_MAX_AGE_S) -> float:
    """The freshness lifetime a `Cache-Control` header grants, in seconds (clamped to one day)."""
    if not cache_control:
        return default_s
    if _NO_CACHE.search(cache_control):
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return min(float(found.group(1)), MAX_MAX_AGE_S) if found else default_s


def usable_keys(document: object) -> jwt.PyJWKSet:
    """The ES256 signing keys (EC P-256) of a JWKS document as a `PyJWKSet`; others are ignored."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    keys = [
        key
        for key in document["keys"]
        if isinstance(key, dict)
        and key.get("kty") == "EC"
        and key.get("crv") == "P-256"
        and key.get("alg", ALGORITHM) == ALGORITHM
        and key.get("use", "sig") == "sig"
        and isinstance(key.get("kid"), str)
    ]
    if not keys:
        raise ValueError("the JWK set has no ES256 signing key")
    return jwt.PyJWKSet(keys)


class JWKSCache:
    """One lobby's signing keys, fetched over HTTP and cached; `await key(kid)` is the one entry."""

    def __init__(
        self,
        lobby_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        refetch_interval_s: float = REFETCH_INTERVAL_S,
        timeout_s: float = FETCH_TIMEOUT_S,
        default_max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = lobby_url.rstrip("/") + JWKS_PATH
        self.refetch_interval_s = refetch_interval_s
        self.default_max_age_s = default_max_age_s
        self._clock = clock
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._timeout = httpx.Timeout(timeout_s)
        self.timeout_s = timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fresh_until = float("-inf")
        self._last_attempt = float("-inf")
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0

    @property
    def kids(self) -> frozenset[str]:
        """The ids of the keys held now (possibly stale)."""
        return frozenset(self._keys)

    def cached(self, kid: str) -> jwt.PyJWK | None:
        """The key `kid` if it is held and fresh, without any I/O (the fast path)."""
        if self._clock() < self._fresh_until:
            return self._keys.get(kid)
        return None

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key `kid`: cached, or refetched when stale or unknown (rate limited), else `UnknownKey`."""
        known = self._keys.get(kid)
        if known is not None and self._clock() < self._fresh_until:
            return known
        if self._inflight is not None and not self._inflight.done():
            await self._settle()
        elif self._clock() - self._last_attempt >= self.refetch_interval_s:
            self._inflight = asyncio.ensure_future(self._fetch())
            await self._settle()
        key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys:
            raise LobbyUnavailable("no keys of the lobby yet, and it cannot be reached now")
        raise UnknownKey("the token names a key the lobby does not publish (or not reachable now)")

    async def _settle(self) -> None:
        """Wait for the fetch in flight; a failure leaves the keys held as they were."""
        assert self._inflight is not None
        with contextlib.suppress(PlaylinkError):
            await asyncio.shield(self._inflight)

    async def refresh(self) -> None:
        """Fetch the JWKS now (one fetch shared by concurrent callers); keep the old keys on failure."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._fetch())
        await asyncio.shield(self._inflight)

    async def _fetch(self) -> None:
        """GET the JWKS within an overall deadline and a size limit, and replace the keys on success.

        httpx's timeouts bound each read, so a lobby dripping one byte at a time could stretch them
        without end; `timeout_s` bounds the whole fetch instead.
        """
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                body, max_age = await self._download()
        except TimeoutError:
            log.warning("the lobby's JWKS did not arrive within %s s", self.timeout_s)
            raise LobbyUnavailable(f"the lobby's JWKS did not arrive within {self.timeout_s} s") from None
        try:
            keyset = usable_keys(loads(body))
        except (ValueError, jwt.PyJWTError) as exc:
            raise LobbyUnavailable(f"the lobby's JWKS is not usable: {exc}") from None
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        self._fresh_until = self._clock() + max_age

    async def _download(self) -> tuple[bytes, float]:
        """The JWKS body (at most 64 KiB) and its freshness lifetime, or `LobbyUnavailable`."""
        try:
            async with self._client.stream("GET", self.url, timeout=self._timeout) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise LobbyUnavailable("the lobby's JWKS is larger than 64 KiB")
                if response.status_code != 200:
                    await response.aread()
                    raise error_from_response(response)
                return body, max_age_of(response.headers.get("cache-control"), self.default_max_age_s)
        except httpx.HTTPError as exc:
            log.warning("the lobby's JWKS could not be fetched: %s", type(exc).__name__)
            raise LobbyUnavailable(f"the lobby could not be reached ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        """Close the HTTP client if this cache created it."""
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> JWKSCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
