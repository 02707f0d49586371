"""Join tokens: ES256 JWTs the lobby signs, and their full verification with a reason on refusal.

Verification is the client SDK's (`client_sdk.verify`): the lobby and every game server check a
token with the same code; the lobby only supplies its own keys and turns refusals into `TokenError`.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import jwt

from client_sdk import verify as sdk
from client_sdk.errors import TokenRefused, UnknownKey
from client_sdk.verify import JOIN_TOKEN_TYPE, JoinClaims
from lobby.errors import TokenError
from lobby.keys import KeyRing

ALGORITHM = "ES256"
JTI_BYTES = 16

__all__ = ["JOIN_TOKEN_TYPE", "JoinClaims", "digest", "issue", "peek", "verify"]


def digest(token: str) -> bytes:
    """The SHA-256 of a token, kept with its reservation to recognise it without re-verifying."""
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def issue(
    keys: KeyRing,
    *,
    issuer: str,
    player_id: str,
    player_name: str,
    server_id: str,
    server_address: str,
    now: int,
    ttl_s: int,
) -> tuple[str, JoinClaims, str]:
    """Sign a new join token; returns the token, its claims and the signing key's id."""
    key = keys.current
    claims = JoinClaims(
        iss=issuer,
        sub=player_id,
        name=player_name,
        aud=server_id,
        srv=server_address,
        iat=now,
        nbf=now,
        exp=now + ttl_s,
        jti=secrets.token_urlsafe(JTI_BYTES),
    )
    token = jwt.encode(
        claims._asdict(),
        key.private,
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": JOIN_TOKEN_TYPE},
    )
    return token, claims, key.kid


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a well-shaped token, read without any trust, or None."""
    try:
        return sdk.read_unverified(token)
    except TokenRefused:
        return None


def verify(token: str, keys: KeyRing, *, issuer: str, audience: str, leeway_s: int) -> JoinClaims:
    """Fully verify a join token for `audience`; raise `TokenError` with the reason otherwise."""
    try:
        kid = sdk.check_header(token)["kid"]
        keys.refresh()
        key = keys.get(kid)
        if key is None:
            raise UnknownKey("the token names a key this lobby does not have")
        if key.retired:
            raise UnknownKey("the token's signing key has been retired")
        return sdk.check_signed(
            token, jwt.PyJWK(key.jwk()), issuer=issuer, audience=audience, leeway_s=leeway_s
        )
    except TokenRefused as refused:
        raise TokenError(refused.reason, str(refused)) from None
