"""Request dependencies: the lobby's resources and who is calling (player, game server, operator)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from lobby.errors import AuthError, Forbidden, NotFound
from lobby.state import Lobby
from lobby.store import Player

SESSION_COOKIE = "playlink_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Every id the lobby makes (`s_` + base64url, `p_` + base64url) has this shape; anything else, such
# as Redis key punctuation (`s_x:pending`), is refused before it reaches a store key.
ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_id(value: str) -> bool:
    """Whether `value` has the shape of an id the lobby makes."""
    return ID_SHAPE.fullmatch(value) is not None


async def game_id_in_path(game_id: str) -> str:
    """The `{game_id}` of the path; 404 unless it has an id's shape."""
    if not is_id(game_id):
        raise NotFound("no such game server")
    return game_id


async def server_id_in_path(server_id: str) -> str:
    """The `{server_id}` of the path; 404 unless it has an id's shape."""
    if not is_id(server_id):
        raise NotFound("no such game server")
    return server_id


GameId = Annotated[str, Depends(game_id_in_path)]
ServerId = Annotated[str, Depends(server_id_in_path)]

NO_STORE = "no-store"


async def get_lobby(request: Request) -> Lobby:
    """The lobby serving this request."""
    return request.app.state.lobby


LobbyDep = Annotated[Lobby, Depends(get_lobby)]


def secret_hash(secret: str) -> bytes:
    """The stored form of a high-entropy secret (session token, server secret)."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).digest()


def bearer_credential(authorization: str) -> str | None:
    """The credential of an `Authorization: Bearer ...` header value, or None."""
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


def bearer(request: Request) -> str | None:
    """The bearer credential of the request, if any."""
    return bearer_credential(request.headers.get("authorization", ""))


def is_admin_credential(credential: str, admin_token: str) -> bool:
    """Whether `credential` is the operator's admin token (compared in constant time)."""
    return bool(admin_token) and hmac.compare_digest(credential.encode(), admin_token.encode())


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_same_origin(request: Request, lobby: Lobby) -> None:
    """Refuse a cookie-authenticated state change that a page of another origin could have sent."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site") == "same-origin":
        return
    origin = request.headers.get("origin")
    if origin is None:
        raise Forbidden("cookie-authenticated changes need an Origin header")
    allowed = {_origin_of(lobby.settings.issuer), _origin_of(str(request.base_url))}
    if origin.lower() not in allowed:
        raise Forbidden("request from another origin refused")


async def session_credential(request: Request, lobby: Lobby) -> tuple[bytes, Player] | None:
    """The session (its token's hash) and player of the request, or None when it has none or a
    dead one."""
    token = bearer(request)
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        if token is None:
            return None
        check_same_origin(request, lobby)
    token_hash = secret_hash(token)
    player = await lobby.session_player(token_hash)
    return (token_hash, player) if player else None


async def current_session(request: Request) -> tuple[bytes, Player]:
    """The caller's session (its token's hash) and player; 401 without a live session."""
    found = await session_credential(request, request.app.state.lobby)
    if found is None:
        raise AuthError("log in first")
    return found


async def current_player(request: Request) -> Player:
    """The logged-in player."""
    return (await current_session(request))[1]


CurrentSession = Annotated[tuple[bytes, Player], Depends(current_session)]
CurrentPlayer = Annotated[Player, Depends(current_player)]


def is_operator(request: Request, lobby: Lobby) -> bool:
    """Whether the request carries the operator's admin token."""
    credential = bearer(request)
    return credential is not None and is_admin_credential(credential, lobby.settings.admin_token)


async def require_operator(request: Request, lobby: LobbyDep) -> None:
    """Allow only the operator."""
    if not lobby.settings.admin_token:
        raise Forbidden("the operator API is off: no LOBBY_ADMIN_TOKEN is set")
    if not is_operator(request, lobby):
        raise AuthError("the operator's admin token is required")


async def authenticated_server(request: Request, lobby: LobbyDep) -> str:
    """The id of the game server whose secret the request carries; 401 otherwise."""
    credential = bearer(request)
    server_id, dot, _rest = (credential or "").partition(".")
    if not dot or not is_id(server_id):
        raise AuthError("a game server's secret is required")
    facts = await lobby.server_facts(server_id)
    if facts is None or not hmac.compare_digest(facts.secret_hash, secret_hash(credential or "")):
        raise AuthError("unknown game server or wrong secret")
    return server_id


OperatorOnly = Depends(require_operator)
CallingServer = Annotated[str, Depends(authenticated_server)]


async def no_store(response: Response) -> None:
    """Mark a response that carries a secret (a token, a session) as never to be cached."""
    response.headers["Cache-Control"] = NO_STORE


NoStore = Depends(no_store)
