"""Redeeming join tokens, by the game server they name."""

from __future__ import annotations

from fastapi import APIRouter

from lobby.deps import CallingServer, LobbyDep
from lobby.joins import redeem_join
from lobby.schemas import TokenBody, player_view, rfc3339

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post("/redeem")
async def redeem(body: TokenBody, server_id: CallingServer, lobby: LobbyDep) -> dict[str, object]:
    """Admit the player a join token names: once per token, only at the server it names."""
    r = await redeem_join(lobby, body.token, server_id)
    return {
        "player": player_view(r.player),
        "game": r.server_id,
        "jti": r.jti,
        "expires_at": rfc3339(r.expires_at),
    }
