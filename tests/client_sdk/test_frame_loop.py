"""`GameClient.begin(join)`: a join's whole lifecycle driven from a frame loop that never blocks.

The tests call the handle straight from the test's event loop, which also runs the game server: a
call that blocked would stall that server and the test would never see the state it waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from client_sdk import GameClient, IncomingJoin, JoinAttempt, JoinState
from tests.support.lobby import LobbyProcess, Server, add_server, join, new_player

from .conftest import SCHEME, game_host

FRAME_S = 0.01
WAIT_S = 30.0


async def frames_until(attempt: JoinAttempt, *states: JoinState) -> list[JoinState]:
    """Read the state once per frame until it is one of `states`; every state seen, in order."""
    seen = [attempt.state]
    for _ in range(int(WAIT_S / FRAME_S)):
        if attempt.state in states:
            return seen
        await asyncio.sleep(FRAME_S)
        if attempt.state is not seen[-1]:
            seen.append(attempt.state)
    pytest.fail(f"still {attempt.state} after {WAIT_S:g} s")


@contextlib.asynccontextmanager
async def silent_server(server: Server) -> AsyncIterator[None]:
    """A game server that takes the connection and never answers the hello, until released."""
    release = asyncio.Event()

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    host, _, port = server.address.rpartition(":")
    listener = await asyncio.start_server(hold, host, int(port))
    try:
        yield
    finally:
        release.set()
        listener.close()


@pytest.fixture
def client(lobby: LobbyProcess) -> Iterator[GameClient]:
    game_client = GameClient(SCHEME, lobby.url, handshake_timeout_s=WAIT_S)
    yield game_client
    game_client.close()


async def test_an_accepted_join_goes_from_prompting_through_verifying_and_connecting_to_connected(
    lobby: LobbyProcess, api: httpx.Client, client: GameClient
) -> None:
    server, player = add_server(api), new_player(api)
    attempt = client.begin(IncomingJoin(lobby.url, join(api, player, server)))
    assert attempt.state is JoinState.PROMPTING
    async with game_host(lobby.url, server) as host:
        attempt.accept()
        seen = await frames_until(attempt, JoinState.CONNECTED, JoinState.FAILED)
    assert seen[0] is JoinState.VERIFYING
    assert seen[-1] is JoinState.CONNECTED, attempt.error
    assert attempt.player is not None
    assert attempt.player.id == player.id
    assert attempt.socket is not None
    assert attempt.socket.gettimeout() is None
    attempt.socket.close()
    assert [a.player.id for a in host.admitted] == [player.id]
    with pytest.raises(RuntimeError):
        attempt.decline()


async def test_the_frame_loop_runs_on_while_the_game_server_has_not_answered(
    lobby: LobbyProcess, api: httpx.Client, client: GameClient
) -> None:
    server = add_server(api)
    attempt = client.begin(IncomingJoin(lobby.url, join(api, new_player(api), server)))
    async with silent_server(server):
        attempt.accept()
        await frames_until(attempt, JoinState.CONNECTING)
        for _ in range(20):
            await asyncio.sleep(FRAME_S)
            assert attempt.state is JoinState.CONNECTING
    await frames_until(attempt, JoinState.FAILED)
    assert attempt.reason == "handshake_failed"


async def test_a_refused_join_ends_failed_with_its_reason(
    lobby: LobbyProcess, api: httpx.Client, client: GameClient
) -> None:
    attempt = client.begin(IncomingJoin(lobby.url, "not.a.token"))
    attempt.accept()
    await frames_until(attempt, JoinState.FAILED, JoinState.CONNECTED)
    assert attempt.state is JoinState.FAILED
    assert attempt.reason == "malformed"


async def test_a_declined_join_ends_declined_and_frees_its_slot(
    lobby: LobbyProcess, api: httpx.Client, client: GameClient
) -> None:
    server = add_server(api, capacity=1)
    attempt = client.begin(IncomingJoin(lobby.url, join(api, new_player(api), server)))
    attempt.decline()
    await frames_until(attempt, JoinState.DECLINED)
    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 0
