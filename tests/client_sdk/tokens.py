"""Crafting join tokens for refusal tests: real claims re-signed with a chosen key, kid and header."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from client_sdk.verify import JOIN_TOKEN_TYPE, read_unverified


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a real token (read without trust, to re-sign them)."""
    return read_unverified(token)[1]


def forge(
    claims: dict[str, Any],
    key: object | None = None,
    kid: str = "forged-kid",
    *,
    typ: str = JOIN_TOKEN_TYPE,
    algorithm: str = "ES256",
    **changes: Any,
) -> str:
    """Sign `claims` (with `changes`; a value of None removes the claim) with `key` under `kid`."""
    body = {**claims, **changes}
    body = {name: value for name, value in body.items() if value is not None}
    signing_key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    if algorithm == "none":
        signing_key = None
    return jwt.encode(body, signing_key, algorithm=algorithm, headers={"kid": kid, "typ": typ})  # type: ignore[arg-type]


def fresh(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`claims` with a new jti and times from now."""
    now = int(time.time())
    return {**claims, "jti": f"jti-{time.monotonic_ns()}", "iat": now, "nbf": now, "exp": now + 60, **changes}
