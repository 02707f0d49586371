"""Logging in and out."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Response, status

from lobby.deps import SESSION_COOKIE, CurrentSession, LobbyDep, NoStore, secret_hash
from lobby.errors import AuthError
from lobby.login_throttle import account_key
from lobby.schemas import Credentials, player_view

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
SESSION_TOKEN_BYTES = 32


@router.post("", dependencies=[NoStore])
async def log_in(body: Credentials, lobby: LobbyDep, response: Response) -> dict[str, object]:
    """Log in: sets the session cookie and returns the same session as a bearer token; 429 while the
    name waits after too many wrong passwords (`lobby.login_throttle`)."""
    throttle, account = lobby.login_throttle, account_key(body.name)
    if throttle is not None:
        await throttle.check(account)
    found = await lobby.store.player_credentials(body.name)
    if not await lobby.passwords.check(found[1] if found else None, body.password) or not found:
        if throttle is not None:
            await throttle.failed(account)
        raise AuthError("wrong name or password")
    if throttle is not None:
        await throttle.succeeded(account)
    player = found[0]
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    ttl = lobby.settings.session_ttl_s
    await lobby.store.create_session(secret_hash(token), player.id, lobby.now() + ttl)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        secure=lobby.settings.secure_cookies,
        path="/",
    )
    return {"token": token, "player": player_view(player)}


@router.delete("/current", status_code=status.HTTP_204_NO_CONTENT)
async def log_out(session: CurrentSession, lobby: LobbyDep, response: Response) -> None:
    """Log out: the session stops working everywhere."""
    await lobby.end_session(session[0])
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=lobby.settings.secure_cookies
    )
