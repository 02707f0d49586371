"""Game servers as players see them, and joining one."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from lobby.addresses import address_bucket
from lobby.deps import CurrentPlayer, GameId, LobbyDep, NoStore
from lobby.errors import NotFound
from lobby.joins import issue_join
from lobby.schemas import game_view, player_view, rfc3339

router = APIRouter(prefix="/v1/games", tags=["games"])


@router.get("")
async def list_games(lobby: LobbyDep) -> dict[str, list[dict[str, object]]]:
    """Every game server with its address, capacity, counts and status."""
    now = lobby.now()
    timeout = lobby.settings.heartbeat_timeout_s
    servers = await lobby.store.list_servers(now)
    return {"games": [game_view(s, now, timeout) for s in servers]}


@router.get("/{game_id}")
async def get_game(game_id: GameId, lobby: LobbyDep) -> dict[str, object]:
    """One game server, with the players the lobby admitted to it."""
    now = lobby.now()
    server = await lobby.store.get_server(game_id, now)
    if server is None:
        raise NotFound("no such game server")
    view = game_view(server, now, lobby.settings.heartbeat_timeout_s)
    return {**view, "members": [player_view(p) for p in server.members]}


@router.post("/{game_id}/join", status_code=status.HTTP_201_CREATED, dependencies=[NoStore])
async def join(game_id: GameId, request: Request, player: CurrentPlayer, lobby: LobbyDep) -> dict[str, str]:
    """Reserve a slot and get the join token and the URL that starts the game; 409 when full, 429
    when this address already holds too many unredeemed reservations. A player's earlier
    unredeemed reservation, on any server, is replaced."""
    address = address_bucket(request.client.host) if request.client else "unknown"
    issued = await issue_join(lobby, player, game_id, address)
    return {
        "token": issued.token,
        "launch_url": issued.launch_url,
        "expires_at": rfc3339(issued.expires_at),
    }
