"""Offline verification keeps working with the lobby down, for the keys it already has."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from client_sdk import AsyncGameServer, LobbyUnavailable, Policy, Replayed, UnknownKey
from client_sdk.jwks import JWKSCache
from tests.support.lobby import LobbyProcess, add_server, join, new_player

from .tokens import claims_of, forge

PROMPT_S = 2.0


async def test_with_the_lobby_stopped_verify_admits_a_fresh_token_once_and_refuses_its_replay(
    start_lobby: object,
) -> None:
    lobby: LobbyProcess = start_lobby()  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server = add_server(api)
        first, second = new_player(api), new_player(api)
        token, other = join(api, first, server), join(api, second, server)
    async with AsyncGameServer(lobby.url, server.id, server.secret, policy=Policy.OFFLINE) as sdk:
        assert sdk.jwks.kids, "the keys are fetched when the server starts"
        lobby.stop()

        admitted = await sdk.verify(token)
        assert (admitted.player.id, admitted.player.name, admitted.online) == (first.id, first.name, False)
        with pytest.raises(Replayed) as replay:
            await sdk.verify(token)
        assert replay.value.reason == "replayed"
        assert (await sdk.verify(other)).player.id == second.id


async def test_stale_keys_are_served_and_an_unknown_kid_fails_promptly_while_the_lobby_is_down(
    start_lobby: object,
) -> None:
    lobby: LobbyProcess = start_lobby(LOBBY_JWKS_MAX_AGE_S="0")  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server = add_server(api)
        token = join(api, new_player(api), server)
    options = {"policy": Policy.OFFLINE, "jwks_refetch_interval_s": 0.0}
    async with AsyncGameServer(lobby.url, server.id, server.secret, **options) as sdk:  # type: ignore[arg-type]
        lobby.stop()
        fetches = sdk.jwks.fetches

        assert (await sdk.verify(token)).online is False
        assert sdk.jwks.fetches == fetches + 1, "the keys were stale: a refetch was tried, then they served"

        forged = forge(claims_of(token), kid="no-such-kid")
        started = time.monotonic()
        with pytest.raises(UnknownKey) as caught:
            await sdk.verify(forged)
        assert caught.value.reason == "unknown_key"
        assert time.monotonic() - started < PROMPT_S


async def test_a_lobby_that_accepts_but_never_answers_does_not_hang_the_key_fetch() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with JWKSCache(f"http://127.0.0.1:{port}", timeout_s=0.5) as jwks:
            started = time.monotonic()
            with pytest.raises(LobbyUnavailable) as caught:
                await jwks.key("any-kid")
            assert caught.value.reason == "lobby_unavailable"
            assert time.monotonic() - started < PROMPT_S
    finally:
        listener.close()
        await listener.wait_closed()
