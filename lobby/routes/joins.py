"""Join progress reported by whoever holds the join token (the game client, through its SDK)."""

from __future__ import annotations

from fastapi import APIRouter, status

from lobby.deps import LobbyDep
from lobby.joins import ack_join, decline_join
from lobby.schemas import TokenBody

router = APIRouter(prefix="/v1/joins", tags=["joins"])


@router.post("/ack", status_code=status.HTTP_202_ACCEPTED)
async def ack(body: TokenBody, lobby: LobbyDep) -> dict[str, str]:
    """The game client got this join: the player's page hears `received`. Consumes nothing, and
    answers the same for the same token; `joined` once the game server has redeemed it."""
    return {"state": await ack_join(lobby, body.token)}


@router.post("/decline", status_code=status.HTTP_202_ACCEPTED)
async def decline(body: TokenBody, lobby: LobbyDep) -> dict[str, str]:
    """The game client's player turned this join down: its slot is freed at once, the token no
    longer redeems, and the player's page hears `declined`; `joined` if already redeemed."""
    return {"state": await decline_join(lobby, body.token)}
