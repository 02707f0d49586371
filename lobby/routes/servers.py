"""Game servers: registered by the operator, kept alive by their heartbeats."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response, status

from lobby.deps import (
    CallingServer,
    LobbyDep,
    NoStore,
    OperatorOnly,
    ServerId,
    authenticated_server,
    is_operator,
    secret_hash,
)
from lobby.errors import Forbidden, NotFound
from lobby.schemas import Heartbeat, Leave, NewServer, game_view
from lobby.store import GameServer

router = APIRouter(prefix="/v1/servers", tags=["servers"])
SECRET_BYTES = 32


def new_server_credentials() -> tuple[str, str]:
    """A fresh server id and its secret; the secret starts with the id so it names its server."""
    server_id = "s_" + secrets.token_urlsafe(9)
    return server_id, f"{server_id}.{secrets.token_urlsafe(SECRET_BYTES)}"


async def add_server(
    lobby: LobbyDep, name: str, address: str, capacity: int
) -> tuple[GameServer, str]:
    """Register a game server; returns it and its secret, which is stored only as a hash."""
    server_id, secret = new_server_credentials()
    server = GameServer(server_id, name, address, capacity, 0, 0, lobby.now())
    await lobby.store.create_server(server, secret_hash(secret))
    return server, secret


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[OperatorOnly, NoStore])
async def register_server(body: NewServer, lobby: LobbyDep) -> dict[str, object]:
    """Register a game server (operator only); its secret is shown this once."""
    server, secret = await add_server(lobby, body.name, body.address, body.capacity)
    lobby.feed.touch(server.id)
    return {
        "id": server.id,
        "name": server.name,
        "address": server.address,
        "capacity": server.capacity,
        "secret": secret,
    }


def _own(server_id: str, caller: str) -> None:
    if server_id != caller:
        raise Forbidden("a game server may only act for itself")


@router.put("/{server_id}/heartbeat")
async def heartbeat(
    server_id: ServerId, body: Heartbeat, caller: CallingServer, lobby: LobbyDep
) -> dict[str, object]:
    """The server is alive and has `players` players."""
    _own(server_id, caller)
    now = lobby.now()
    if not await lobby.store.heartbeat(server_id, body.players, now):
        raise NotFound("no such game server")
    lobby.feed.touch(server_id)
    server = await lobby.store.get_server(server_id, now)
    if server is None:
        raise NotFound("no such game server")
    return game_view(server, now, lobby.settings.heartbeat_timeout_s)


@router.post("/{server_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave(server_id: ServerId, body: Leave, caller: CallingServer, lobby: LobbyDep) -> None:
    """A player left the server: their slot is free again."""
    _own(server_id, caller)
    if not await lobby.store.leave(server_id, body.player):
        raise NotFound("that player is not on this server")
    lobby.feed.touch(server_id)


@router.delete("/{server_id}", status_code=status.HTTP_204_NO_CONTENT)
async def deregister(server_id: ServerId, request: Request, lobby: LobbyDep) -> Response:
    """Remove a game server (the operator, or the server itself)."""
    if not is_operator(request, lobby):
        _own(server_id, await authenticated_server(request, lobby))
    deleted = await lobby.store.delete_server(server_id)
    lobby.servers.forget(server_id)
    lobby.feed.touch(server_id)
    if not deleted:
        raise NotFound("no such game server")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
