"""The public surface of `client_sdk` is exactly what is pinned here."""

from __future__ import annotations

import subprocess
import sys

import client_sdk
import client_sdk.client

EXPORTED = [
    "Admission",
    "AsyncGameClient",
    "AsyncGameServer",
    "BadSignature",
    "Conflict",
    "Connection",
    "Expired",
    "Forbidden",
    "GameClient",
    "GameServer",
    "HandshakeFailed",
    "HeartbeatState",
    "IncomingJoin",
    "JWKSCache",
    "JoinAttempt",
    "JoinClaims",
    "JoinHandler",
    "JoinPreview",
    "JoinState",
    "JoinStream",
    "LobbyRefused",
    "LobbyUnavailable",
    "Malformed",
    "NotFound",
    "NotYetValid",
    "Player",
    "PlaylinkError",
    "Policy",
    "RateLimited",
    "ReplayGuard",
    "Replayed",
    "ServerFull",
    "ServerOffline",
    "TokenRefused",
    "TokenVerifier",
    "Unauthorized",
    "Unavailable",
    "UnknownKey",
    "UnknownToken",
    "UntrustedLobby",
    "ValidationError",
    "VerifiedJoin",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
    "error_for_reason",
    "error_from_response",
    "split_address",
]


def test_all_is_pinned() -> None:
    assert client_sdk.__all__ == EXPORTED


def test_every_exported_member_exists_and_is_documented() -> None:
    for name in client_sdk.__all__:
        member = getattr(client_sdk, name)
        if name == "JoinHandler":  # a type alias: its module and docstring are typing's
            assert member is client_sdk.client.JoinHandler
            continue
        assert member.__module__.startswith("client_sdk."), name
        assert (member.__doc__ or "").strip(), name


def test_importing_the_sdk_pulls_in_neither_the_lobby_nor_fastapi() -> None:
    code = (
        "import sys, client_sdk; "
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'lobby', 'fastapi', 'starlette', 'pydantic'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_help_shows_no_specific_reason_as_the_default_of_a_family() -> None:
    leaves = {cls.reason for cls in (client_sdk.Malformed, client_sdk.ValidationError)}
    assert client_sdk.TokenRefused.reason not in leaves
    assert client_sdk.LobbyRefused.reason not in leaves
