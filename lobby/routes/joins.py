"""Join progress reported by whoever holds the join token (the game client, through its SDK)."""

from __future__ import annotations

from fastapi import APIRouter, status

from lobby.deps import LobbyDep
from lobby.joins import ack_join
from lobby.schemas import TokenBody

router = APIRouter(prefix="/v1/joins", tags=["joins"])


@router.post("/ack", status_code=status.HTTP_202_ACCEPTED)
async def ack(body: TokenBody, lobby: LobbyDep) -> dict[str, str]:
    """The game client got this join: the player's page hears `received`. Consumes nothing, and
    answers the same for the same token; `joined` once the game server has redeemed it."""
    return {"state": await ack_join(lobby, body.token)}
