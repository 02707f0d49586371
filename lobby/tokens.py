"""Join tokens: ES256 JWTs the lobby signs, and their full verification with a reason on refusal."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import jwt

from lobby.errors import TokenError
from lobby.keys import KeyRing
from lobby.settings import MAX_TOKEN_LENGTH

JOIN_TOKEN_TYPE = "playlink-join+jwt"  # noqa: S105 - a media type, not a secret
ALGORITHM = "ES256"
REQUIRED_CLAIMS = ("iss", "sub", "name", "aud", "srv", "iat", "nbf", "exp", "jti")
STRING_CLAIMS = ("iss", "sub", "name", "aud", "srv", "jti")
TIME_CLAIMS = ("iat", "nbf", "exp")
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
JTI_BYTES = 16


@dataclass(frozen=True)
class JoinClaims:
    """The verified claims of a join token."""

    iss: str
    sub: str
    name: str
    aud: str
    srv: str
    iat: int
    nbf: int
    exp: int
    jti: str


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
        claims.__dict__,
        key.private,
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": JOIN_TOKEN_TYPE},
    )
    return token, claims, key.kid


def _b64_json(segment: str) -> dict[str, Any] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a well-shaped token, read without any trust, or None."""
    if len(token) > MAX_TOKEN_LENGTH or not JWT_SHAPE.fullmatch(token):
        return None
    header_b64, payload_b64, _sig = token.split(".")
    header, payload = _b64_json(header_b64), _b64_json(payload_b64)
    if header is None or payload is None:
        return None
    return header, payload


ERRORS_TO_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "bad_signature"),
    (jwt.MissingRequiredClaimError, "malformed"),
)


def verify(
    token: str, keys: KeyRing, *, issuer: str, audience: str, leeway_s: int
) -> JoinClaims:
    """Fully verify a join token for `audience`; raise `TokenError` with the reason otherwise."""
    seen = peek(token)
    if seen is None:
        raise TokenError("malformed", "not a well-formed join token")
    header, _payload = seen
    if header.get("alg") != ALGORITHM:
        raise TokenError("bad_signature", "join tokens are signed with ES256 only")
    if header.get("typ") != JOIN_TOKEN_TYPE:
        raise TokenError("wrong_type", f"the token's typ is not {JOIN_TOKEN_TYPE}")
    kid = header.get("kid")
    keys.refresh()
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenError("unknown_key", "the token names a key this lobby does not have")
    if key.retired:
        raise TokenError("unknown_key", "the token's signing key has been retired")
    try:
        claims = jwt.decode(
            token,
            key.public,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
        )
    except jwt.PyJWTError as exc:
        for error_type, reason in ERRORS_TO_REASONS:
            if isinstance(exc, error_type):
                raise TokenError(reason, str(exc)) from None
        raise TokenError("malformed", "the token could not be decoded") from None
    return _typed_claims(claims)


def _typed_claims(claims: dict[str, Any]) -> JoinClaims:
    for name in STRING_CLAIMS:
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise TokenError("malformed", f"claim {name} must be a non-empty string")
    for name in TIME_CLAIMS:
        if type(claims.get(name)) is not int:
            raise TokenError("malformed", f"claim {name} must be an integer NumericDate")
    return JoinClaims(**{name: claims[name] for name in REQUIRED_CLAIMS})
