"""The Playlink client SDK: what game clients and game servers embed to talk to the lobby.

Game servers: `AsyncGameServer` (or the blocking `GameServer`) registers, heartbeats, validates join
tokens by a `Policy` (online redeem, offline verify, or online with offline fallback) and reports
leaves. Game clients: `AsyncGameClient` (or `GameClient`) receives joins from the launcher, shows
them, verifies them against the lobby the game pins, and connects with the reference handshake.
Every error is a `PlaylinkError` with a machine-readable `reason`. The guide: docs/sdk.md (the
lifecycle for asyncio and for a frame loop, errors per method, policies, the `client_sdk` logger);
the protocol: docs/protocol.md.
"""

from __future__ import annotations

from client_sdk.attempt import JoinAttempt, JoinState
from client_sdk.client import AsyncGameClient, GameClient, JoinHandler, JoinStream
from client_sdk.errors import (
    BadSignature,
    Conflict,
    Expired,
    Forbidden,
    HandshakeFailed,
    LobbyRefused,
    LobbyUnavailable,
    Malformed,
    NotFound,
    NotYetValid,
    PlaylinkError,
    RateLimited,
    Replayed,
    ServerFull,
    ServerOffline,
    TokenRefused,
    Unauthorized,
    Unavailable,
    UnknownKey,
    UnknownToken,
    UntrustedLobby,
    ValidationError,
    WrongAudience,
    WrongIssuer,
    WrongType,
    error_for_reason,
    error_from_response,
)
from client_sdk.handshake import Connection, Player
from client_sdk.joins import IncomingJoin, JoinPreview, VerifiedJoin, split_address
from client_sdk.jwks import JWKSCache
from client_sdk.server import Admission, AsyncGameServer, GameServer, HeartbeatState, Policy
from client_sdk.verify import JoinClaims, ReplayGuard, TokenVerifier

__all__ = [
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
