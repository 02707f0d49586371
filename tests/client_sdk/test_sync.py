"""The blocking flavours run the same core: a sync game server and a sync game client, end to end."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from client_sdk import GameClient, GameServer, IncomingJoin, Policy, Replayed
from tests.support.lobby import (
    ADMIN_TOKEN,
    LobbyProcess,
    Server,
    add_server,
    free_port,
    join,
    new_player,
    unique,
)

from .conftest import SCHEME, Desktop, game_host


def test_a_sync_game_server_registers_redeems_verifies_leaves_and_deregisters(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    options = {"name": unique("sync"), "address": f"127.0.0.1:{free_port()}", "capacity": 2}
    with GameServer.register(lobby.url, admin_token=ADMIN_TOKEN, policy=Policy.OFFLINE, **options) as server:
        stub = Server(server.id, "", options["address"])
        player = new_player(api)
        online = server.redeem(join(api, player, stub))
        assert (online.player.id, online.online) == (player.id, True)
        token = join(api, new_player(api), stub)
        offline = server.admit(token)
        assert offline.online is False
        assert server.unreported == [offline]
        with pytest.raises(Replayed):
            server.verify(token)
        assert server.report_offline_admissions() == 1
        assert server.unreported == server.unreported_leaves == []
        assert server.leave(player.id) is True
    assert api.get(f"/v1/games/{stub.id}").status_code == 404


async def test_a_sync_game_client_polls_a_join_from_the_launcher_verifies_and_connects(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop
) -> None:
    desktop.install(lobby.url)
    server, player = add_server(api), new_player(api)
    async with game_host(lobby.url, server) as host:
        client = GameClient(SCHEME, lobby.url)
        try:
            await asyncio.to_thread(client.start)
            assert client.poll() is None
            issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth).json()
            code, stderr = await desktop.open(issued["launch_url"])
            assert code == 0, stderr
            join_ = await asyncio.to_thread(client.poll, 5)
            assert join_ is not None
            verified = await asyncio.to_thread(client.verify, join_)
            sock, admitted = await asyncio.to_thread(client.connect, verified)
            sock.close()
            assert admitted.id == player.id
        finally:
            await asyncio.to_thread(client.close)
    assert [a.player.id for a in host.admitted] == [player.id]


async def test_poll_none_waits_for_the_next_join_and_connect_hands_over_a_socket_without_timeout(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop
) -> None:
    desktop.install(lobby.url)
    server, player = add_server(api), new_player(api)
    async with game_host(lobby.url, server):
        client = GameClient(SCHEME, lobby.url)
        try:
            await asyncio.to_thread(client.start)
            waiting = asyncio.ensure_future(asyncio.to_thread(client.poll, None))
            await asyncio.sleep(0.5)
            assert not waiting.done(), "poll(None) returned before any join arrived"
            issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth).json()
            code, stderr = await desktop.open(issued["launch_url"])
            assert code == 0, stderr
            join_ = await asyncio.wait_for(waiting, 30)
            assert join_ is not None
            verified = await asyncio.to_thread(client.verify, join_, expected_server_id=server.id)
            sock, admitted = await asyncio.to_thread(client.connect, verified)
            assert sock.gettimeout() is None
            sock.close()
            assert admitted.id == player.id
        finally:
            await asyncio.to_thread(client.close)


async def test_a_waiting_poll_none_returns_none_when_the_client_closes(
    lobby: LobbyProcess, desktop: Desktop
) -> None:
    client = GameClient(SCHEME, lobby.url)
    await asyncio.to_thread(client.start)
    waiting = asyncio.ensure_future(asyncio.to_thread(client.poll, None))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(client.close)
    assert await asyncio.wait_for(waiting, 30) is None


async def test_a_sync_client_declines_a_join_and_the_slot_is_free(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server = add_server(api, capacity=1)
    token = join(api, new_player(api), server)
    client = GameClient(SCHEME, lobby.url)
    try:
        assert await asyncio.to_thread(client.decline, IncomingJoin(lobby.url, token)) is True
    finally:
        await asyncio.to_thread(client.close)
    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 0
