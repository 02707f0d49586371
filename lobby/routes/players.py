"""Player accounts."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, status

from lobby.deps import CurrentPlayer, LobbyDep, NoStore
from lobby.schemas import Registration, player_view
from lobby.store import Player

router = APIRouter(prefix="/v1/players", tags=["players"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def register(body: Registration, lobby: LobbyDep) -> dict[str, str]:
    """Register a player; 409 when the name, or one that looks like it, is taken."""
    player = Player("p_" + secrets.token_urlsafe(12), body.name)
    password_hash = await lobby.passwords.hash(body.password)
    await lobby.store.create_player(player, password_hash, lobby.now())
    return player_view(player)


@router.get("/me", dependencies=[NoStore])
async def me(player: CurrentPlayer) -> dict[str, str]:
    """The logged-in player."""
    return player_view(player)
