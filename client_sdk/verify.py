"""Offline verification of join tokens, shared by game clients and game servers.

The algorithm (ES256) and the `typ` (`playlink-join+jwt`) are pinned, never taken from the token;
every claim of DESIGN.md is required; `iss` must be the pinned lobby; the clock leeway defaults to
5 s. A `ReplayGuard` remembers each used `jti` until its token expires, so a replay at the same
server is refused without the lobby.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jwt

from client_sdk.errors import (
    BadSignature,
    Expired,
    Malformed,
    NotYetValid,
    PlaylinkError,
    Replayed,
    TokenRefused,
    Unavailable,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongType,
)
from client_sdk.jwks import ALGORITHM, JWKSCache
from client_sdk.untrusted_json import loads

JOIN_TOKEN_TYPE = "playlink-join+jwt"  # noqa: S105 - a media type, not a secret
REQUIRED_CLAIMS = ("iss", "sub", "name", "aud", "srv", "iat", "nbf", "exp", "jti")
TIME_CLAIMS = frozenset({"iat", "nbf", "exp"})
LEEWAY_S = 5
MAX_TOKEN_CHARS = 4096
MAX_USED_JTIS = 65_536
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ERRORS_TO_REFUSALS: tuple[tuple[type[Exception], type[TokenRefused]], ...] = (
    (jwt.ExpiredSignatureError, Expired),
    (jwt.ImmatureSignatureError, NotYetValid),
    (jwt.InvalidAudienceError, WrongAudience),
    (jwt.InvalidIssuerError, WrongIssuer),
    (jwt.InvalidSignatureError, BadSignature),
    (jwt.InvalidAlgorithmError, BadSignature),
)


class JoinClaims(NamedTuple):
    """The claims of a join token that passed verification."""

    iss: str
    sub: str
    name: str
    aud: str
    srv: str
    iat: int
    nbf: int
    exp: int
    jti: str


def _segment(segment: str) -> dict[str, Any] | None:
    """One base64url JSON object segment of a JWT, or None (pyjwt re-reads it strictly when decoding)."""
    try:
        value = loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT-shaped token, read WITHOUT any trust (for display only)."""
    if len(token) > MAX_TOKEN_CHARS or not _JWT_SHAPE.fullmatch(token):
        raise Malformed("not a JWT-shaped join token")
    header_b64, claims_b64, _signature = token.split(".")
    header, claims = _segment(header_b64), _segment(claims_b64)
    if header is None or claims is None:
        raise Malformed("the token's header or claims are not base64url JSON objects")
    return header, claims


class ReplayGuard:
    """The `jti`s already admitted, each kept until its token's `exp` plus leeway; bounded in size."""

    def __init__(self, max_entries: int = MAX_USED_JTIS, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, jti: str) -> bool:
        """Whether `jti` was used and its token could still be accepted."""
        with self._lock:
            return self._expiry.get(jti, float("-inf")) > self._clock()

    def use(self, jti: str, until: float) -> None:
        """Record `jti` as used until `until` (epoch seconds); `Replayed` if it already was."""
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            if jti in self._expiry:
                raise Replayed("this join token was already used at this server")
            if len(self._expiry) >= self.max_entries:
                raise Unavailable("too many live join tokens to remember; try again shortly")
            self._expiry[jti] = until
            heapq.heappush(self._heap, (until, jti))

    def _drop_expired(self, now: float) -> None:
        """Forget every entry whose token can no longer be accepted anyway."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _until, jti = heapq.heappop(heap)
            if self._expiry.get(jti, now + 1) <= now:
                del self._expiry[jti]


class TokenVerifier:
    """Verifies join tokens of one pinned lobby with its cached JWKS; `audience` pins the server."""

    def __init__(
        self,
        jwks: JWKSCache,
        *,
        issuer: str,
        audience: str | None = None,
        leeway_s: float = LEEWAY_S,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.leeway_s = leeway_s
        self.replay_guard = replay_guard
        self._options = verify_options(audience)

    async def verify(self, token: str) -> JoinClaims:
        """Verify `token` fully and, with a replay guard, use it up; `TokenRefused` with the reason."""
        header = self.check_header(token)
        kid = header["kid"]
        key = self.jwks.cached(kid) or await self.jwks.key(kid)
        claims = self.check_signed(token, key)
        if self.replay_guard is not None:
            self.replay_guard.use(claims.jti, claims.exp + self.leeway_s)
        return claims

    def check_header(self, token: str) -> dict[str, Any]:
        """The token's header, refused unless it is ES256, of our `typ`, and names a `kid`."""
        return check_header(token)

    def check_signed(self, token: str, key: jwt.PyJWK) -> JoinClaims:
        """Check the signature with `key` and every claim; the typed claims, or `TokenRefused`."""
        return check_signed(
            token,
            key,
            issuer=self.issuer,
            leeway_s=self.leeway_s,
            options=self._options,
            audience=self.audience,
        )


def check_header(token: str) -> dict[str, Any]:
    """The header of a join token, refused unless it is ES256, of our `typ`, and names a `kid`."""
    header = _decoded_header(token)
    if header.get("alg") != ALGORITHM:
        raise BadSignature("join tokens are signed with ES256 only")
    if header.get("typ") != JOIN_TOKEN_TYPE:
        raise WrongType(f"the token's typ is not {JOIN_TOKEN_TYPE}")
    if not isinstance(header.get("kid"), str):
        raise UnknownKey("the token's header names no key")
    return header


def _decoded_header(token: str) -> dict[str, Any]:
    """The header of a token whose header and claims both decode as bounded JSON objects."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise Malformed("not a join token of sane length and shape")
    header_b64, claims_b64, _signature = token.split(".")
    header = _segment(header_b64)
    if header is None or _segment(claims_b64) is None:
        raise Malformed("the token's header or claims are not base64url JSON objects")
    return header


def verify_options(audience: str | None) -> dict[str, Any]:
    """pyjwt options that require every claim and match the audience exactly (when one is pinned)."""
    return {"require": list(REQUIRED_CLAIMS), "strict_aud": True, "verify_aud": audience is not None}


def check_signed(
    token: str,
    key: jwt.PyJWK,
    *,
    issuer: str,
    audience: str | None,
    leeway_s: float = LEEWAY_S,
    options: dict[str, Any] | None = None,
) -> JoinClaims:
    """Check a join token's ES256 signature with `key` and every claim; `TokenRefused` otherwise."""
    _decoded_header(token)  # pyjwt's own JSON decoding is unbounded: it must see only bounded JSON
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options=options or verify_options(audience),  # type: ignore[arg-type]
        )
    except jwt.PyJWTError as exc:
        raise _refusal(exc) from None
    return typed_claims(claims)


def typed_claims(claims: dict[str, Any]) -> JoinClaims:
    """The claims as `JoinClaims`, refusing a missing, empty or mistyped one as `Malformed`."""
    values = [claims.get(name) for name in REQUIRED_CLAIMS]
    for name, value in zip(REQUIRED_CLAIMS, values, strict=True):
        if name in TIME_CLAIMS:
            if type(value) is not int:
                raise Malformed(f"claim {name} must be an integer number of seconds")
        elif type(value) is not str or not value:
            raise Malformed(f"claim {name} must be a non-empty string")
    return JoinClaims(*values)  # type: ignore[arg-type]


def _refusal(exc: jwt.PyJWTError) -> PlaylinkError:
    """The SDK refusal for a pyjwt error."""
    for error_type, refusal in _ERRORS_TO_REFUSALS:
        if isinstance(exc, error_type):
            return refusal(str(exc))
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return Malformed(str(exc))
    return Malformed("the token could not be decoded")
