"""The whole path without a browser: lobby, launcher, SDK game client, SDK game server, lobby again."""

from __future__ import annotations

import asyncio

import httpx

from client_sdk import AsyncGameClient, Policy
from tests.support.lobby import LobbyProcess, add_server, new_player

from .conftest import SCHEME, Desktop, game_host


async def test_a_join_goes_from_the_lobby_through_the_launcher_and_client_to_the_server_and_back(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop
) -> None:
    server = add_server(api, capacity=4)
    player = new_player(api)
    desktop.install(lobby.url)
    async with (
        game_host(lobby.url, server, policy=Policy.ONLINE) as host,
        AsyncGameClient(SCHEME, lobby.url) as client,
        client.listen() as joins,
    ):
        issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth)
        assert issued.status_code == 201, issued.text
        launch_url = issued.json()["launch_url"]
        assert launch_url.startswith(f"{SCHEME}://join?v=1&lobby=")

        code, stderr = await desktop.open(launch_url)
        assert code == 0, stderr
        join = await asyncio.wait_for(anext(joins), 5)
        assert join.preview.player_name == player.name
        listed = api.get(f"/v1/games/{server.id}").json()["name"]
        assert join.prompt() == f"Join {listed} ({server.address}) as {player.name}?"
        assert 0 < join.seconds_left() <= 125  # type: ignore[operator]

        verified = await client.verify(join)
        assert (f"{verified.host}:{verified.port}", verified.claims.aud) == (server.address, server.id)
        connection = await client.connect(verified)
        assert (connection.player.id, connection.player.name) == (player.id, player.name)
        assert await connection.reader.readline() == b"welcome\n"
        await connection.aclose()

    assert [(a.player.id, a.online) for a in host.admitted] == [(player.id, True)]
    game = api.get(f"/v1/games/{server.id}").json()
    assert {"id": player.id, "name": player.name} in game["members"]


async def test_the_join_reaches_a_client_using_the_callback_api_too(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop
) -> None:
    server = add_server(api)
    player = new_player(api)
    desktop.install(lobby.url)
    received: asyncio.Queue[object] = asyncio.Queue()
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        serving = asyncio.create_task(client.serve(received.put))
        try:
            await asyncio.sleep(0.2)
            issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth).json()
            code, stderr = await desktop.open(issued["launch_url"])
            assert code == 0, stderr
            join = await asyncio.wait_for(received.get(), 5)
            assert (await client.verify(join)).claims.sub == player.id  # type: ignore[arg-type]
        finally:
            serving.cancel()
