"""The game-client side: previews for the prompt, ack, the handshake's refusals, single instance."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from client_sdk import (
    AsyncGameClient,
    Conflict,
    IncomingJoin,
    Replayed,
    UnknownToken,
    UntrustedLobby,
    WrongAudience,
)
from tests.support.lobby import LobbyProcess, add_server, join, new_player, unique

from .conftest import SCHEME, Desktop, game_host


def test_a_preview_reads_claims_without_trust_and_never_shows_the_token() -> None:
    garbage = IncomingJoin("https://lobby.example", "eyJhbGciOiJub25lIn0.bm90IGpzb24.c2ln")
    assert garbage.preview.player_name is None
    assert garbage.seconds_left() is None
    assert garbage.prompt() == "Join an unknown server as an unknown player?"
    assert "c2ln" not in repr(garbage)


async def test_a_join_arrives_named_as_the_pinned_lobby_lists_its_server(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop
) -> None:
    name = unique("Arena")
    server, player = add_server(api, name=name), new_player(api)
    desktop.install(lobby.url)
    async with AsyncGameClient(SCHEME, lobby.url) as client, client.listen() as joins:
        issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth).json()
        code, stderr = await desktop.open(issued["launch_url"])
        assert code == 0, stderr
        incoming = await asyncio.wait_for(anext(joins), 30)
    assert incoming.server_name == name
    assert incoming.prompt() == f"Join {name} ({server.address}) as {player.name}?"
    assert incoming.preview.server_address == server.address


async def test_a_server_the_lobby_does_not_list_is_named_by_its_address_only(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server, player = add_server(api), new_player(api)
    token = join(api, player, server)
    api.delete(f"/v1/servers/{server.id}", headers=server.auth)
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        assert await client.server_name(IncomingJoin(lobby.url, token)) is None
        assert await client.server_name(IncomingJoin("https://elsewhere.example", token)) is None
    assert IncomingJoin(lobby.url, token).prompt() == f"Join {server.address} as {player.name}?"


async def test_a_preview_counts_down_to_the_tokens_expiry(lobby: LobbyProcess, api: httpx.Client) -> None:
    token = join(api, new_player(api), add_server(api))
    incoming = IncomingJoin(lobby.url, token)
    left = incoming.seconds_left()
    assert left is not None
    assert 100 < left <= 120
    assert incoming.seconds_left(now=incoming.preview.expires_at + 1) == 0.0  # type: ignore[operator]


async def test_ack_posts_the_token_to_the_pinned_lobby_and_tolerates_a_missing_endpoint(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    token = join(api, new_player(api), add_server(api))
    endpoint_exists = api.post("/v1/joins/ack", json={"token": "x.y.z"}).status_code != 404
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        assert await client.ack(IncomingJoin(lobby.url, token)) is endpoint_exists
        with pytest.raises(UntrustedLobby):
            await client.ack(IncomingJoin("https://elsewhere.example", token))


async def test_decline_frees_the_slot_at_the_pinned_lobby_and_the_token_stops_redeeming(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server = add_server(api, capacity=1)
    token = join(api, new_player(api), server)
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        with pytest.raises(UntrustedLobby):
            await client.decline(IncomingJoin("https://elsewhere.example", token))
        assert await client.ack(IncomingJoin(lobby.url, token)) is True
        assert await client.decline(IncomingJoin(lobby.url, token)) is True
        assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 0
        with pytest.raises(UnknownToken):
            await client.decline(IncomingJoin(lobby.url, token))
    assert api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth).status_code == 401


async def test_a_join_the_server_already_redeemed_is_not_declined(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        assert await client.decline(IncomingJoin(lobby.url, token)) is False


async def test_the_game_servers_refusal_reaches_the_client_as_its_exception(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    named, other = add_server(api), add_server(api)
    token = join(api, new_player(api), named)
    async with (
        game_host(lobby.url, named) as host,
        game_host(lobby.url, other) as wrong_host,
        AsyncGameClient(SCHEME, lobby.url) as client,
    ):
        verified = await client.verify(IncomingJoin(lobby.url, token))
        connection = await client.connect(verified)
        await connection.aclose()
        with pytest.raises(Replayed):
            await client.connect(verified)
        misdirected = replace(verified, claims=verified.claims._replace(srv=other.address))
        with pytest.raises(WrongAudience):
            await client.connect(misdirected)
    assert host.refused == ["replayed"]
    assert wrong_host.refused == ["wrong_audience"]


async def test_a_second_listener_for_the_same_scheme_is_refused_as_a_conflict(
    lobby: LobbyProcess, desktop: Desktop
) -> None:
    async with AsyncGameClient(SCHEME, lobby.url) as client, client.listen():
        with pytest.raises(Conflict) as caught:
            async with client.listen():
                pass
        assert caught.value.reason == "conflict"


async def test_the_iterator_ends_when_the_stream_closes(lobby: LobbyProcess, desktop: Desktop) -> None:
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        stream = client.listen()
        async with stream:
            pending = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.05)
        with pytest.raises(StopAsyncIteration):
            await pending
