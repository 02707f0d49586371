"""Joins the game must not act on are refused before any connection is made."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import pytest

from client_sdk import AsyncGameClient, BadSignature, IncomingJoin, UnknownKey, UntrustedLobby, WrongAudience
from tests.support.lobby import LobbyProcess, Server, add_server, join, new_player

from .conftest import SCHEME, CountingListener, Desktop, private_keys
from .tokens import claims_of, forge


def launch_url(lobby_url: str, token: str) -> str:
    """A launch URL of DESIGN.md naming `lobby_url`."""
    return f"{SCHEME}://join?v=1&lobby={quote(lobby_url, safe='')}&token={token}"


async def test_a_url_naming_a_lobby_the_launcher_does_not_trust_is_refused_and_nothing_is_delivered(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop, counting_listener: CountingListener
) -> None:
    token = join(api, new_player(api), add_server(api))
    desktop.install(lobby.url)
    async with AsyncGameClient(SCHEME, lobby.url) as client, client.listen() as joins:
        code, stderr = await desktop.open(launch_url(f"http://{counting_listener.address}", token))
        assert code == 2, stderr
        assert "untrusted_lobby" in stderr
        assert token not in stderr
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(joins), 0.3)
    assert counting_listener.connections == 0


async def test_a_join_from_a_lobby_the_launcher_trusts_but_the_game_did_not_pin_is_refused(
    lobby: LobbyProcess, api: httpx.Client, desktop: Desktop, counting_listener: CountingListener
) -> None:
    other_lobby = f"http://{counting_listener.address}"
    token = join(api, new_player(api), add_server(api))
    desktop.install(lobby.url, other_lobby)
    async with AsyncGameClient(SCHEME, lobby.url) as client, client.listen() as joins:
        code, stderr = await desktop.open(launch_url(other_lobby, token))
        assert code == 3, stderr
        assert "does not trust the lobby" in stderr
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(joins), 0.3)
        with pytest.raises(UntrustedLobby):
            await client.verify(IncomingJoin(other_lobby, token))
    assert counting_listener.connections == 0


async def test_a_token_signed_by_another_lobbys_key_is_refused(
    lobby: LobbyProcess, start_lobby: object, counting_listener: CountingListener
) -> None:
    impostor: LobbyProcess = start_lobby(LOBBY_PUBLIC_URL=lobby.url)  # type: ignore[operator]
    with httpx.Client(base_url=impostor.url, timeout=10) as other:
        body = {"name": "impostor", "address": counting_listener.address, "capacity": 2}
        r = other.post(
            "/v1/servers",
            json=body,
            headers={"Authorization": f"Bearer {impostor.env()['LOBBY_ADMIN_TOKEN']}"},
        )
        server = Server(r.json()["id"], r.json()["secret"], counting_listener.address)
        other.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
        token = join(other, new_player(other), server)
    assert claims_of(token)["iss"] == lobby.url, "the impostor even claims to be our lobby"
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        with pytest.raises(UnknownKey):
            await client.verify(IncomingJoin(lobby.url, token))
        our_kid = next(iter(client.jwks.kids))
        (impostor_key,) = private_keys(impostor.data_dir).values()
        posing = forge(claims_of(token), impostor_key, kid=our_kid)
        with pytest.raises(BadSignature):
            await client.verify(IncomingJoin(lobby.url, posing))
    assert counting_listener.connections == 0


async def test_a_token_leading_elsewhere_than_where_the_client_was_told_to_go_is_refused(
    lobby: LobbyProcess, api: httpx.Client, counting_listener: CountingListener
) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    async with AsyncGameClient(SCHEME, lobby.url) as client:
        incoming = IncomingJoin(lobby.url, token)
        with pytest.raises(WrongAudience):
            await client.verify(incoming, expected_address=counting_listener.address)
        with pytest.raises(WrongAudience):
            await client.verify(incoming, expected_server_id="s_someone_else")
        assert (await client.verify(incoming, expected_address=server.address)).claims.srv == server.address
    assert counting_listener.connections == 0
