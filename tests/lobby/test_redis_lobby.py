"""Lobby processes on Redis: two behave as one (tokens, redemption, capacity), and Redis may go away."""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from lobby.deps import secret_hash
from lobby.store import Player, RedisStore
from tests.support.lobby import PASSWORD, LobbyProcess, LoggedIn, add_server, join, redeem, unique
from tests.support.redis import RedisProcess, start_pair

REDIS_DB = 1


@pytest.fixture(scope="module")
def pair(redis_server, tmp_path_factory) -> Iterator[tuple[LobbyProcess, LobbyProcess]]:
    """Lobbies A and B: one Redis, one keys directory, one public URL (the tokens' `iss`)."""
    a, b = start_pair(redis_server.url(REDIS_DB), tmp_path_factory.mktemp("pair"))
    yield a, b
    b.stop()
    a.stop()


def registered_at_a_logged_in_at_b(api_a: httpx.Client, api_b: httpx.Client) -> LoggedIn:
    """A player registered through one lobby whose session comes from the other."""
    name = unique("player")
    r = api_a.post("/v1/players", json={"name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = api_b.post("/v1/sessions", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return LoggedIn(r.json()["player"]["id"], name, r.json()["token"])


async def players_in_store(redis_url: str, count: int) -> list[LoggedIn]:
    """Players with live sessions written straight to the shared store (no password hashing)."""
    store = RedisStore(redis_url)
    await store.open()
    try:
        players = []
        for _ in range(count):
            player = Player(f"p_{uuid.uuid4().hex}", unique("player"))
            session = secrets.token_urlsafe(32)
            await store.create_player(player, "not-a-password-hash", time.time())
            await store.create_session(secret_hash(session), player.id, time.time() + 600)
            players.append(LoggedIn(player.id, player.name, session))
        return players
    finally:
        await store.close()


async def test_a_token_issued_by_a_redeems_at_b_and_its_replay_at_a_is_refused(pair) -> None:
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=10) as api_a, httpx.Client(base_url=b.url, timeout=10) as api_b:
        server = add_server(api_a)
        player = registered_at_a_logged_in_at_b(api_a, api_b)
        token = join(api_a, player, server)

        at_b = redeem(api_b, server, token)
        assert at_b.status_code == 200, at_b.text
        assert at_b.json()["player"] == {"id": player.id, "name": player.name}

        again_at_a = redeem(api_a, server, token)
        assert again_at_a.status_code == 409
        assert again_at_a.json()["reason"] == "replayed"
        assert api_a.get(f"/v1/games/{server.id}").json()["players"] == 1


async def test_of_200_concurrent_redemptions_over_a_and_b_exactly_one_wins(pair, redis_server) -> None:
    a, b = pair
    (player,) = await players_in_store(redis_server.url(REDIS_DB), 1)
    with httpx.Client(base_url=a.url, timeout=10) as api_a:
        server = add_server(api_a)
        token = join(api_a, player, server)

    limits = httpx.Limits(max_connections=100)
    async with (
        httpx.AsyncClient(base_url=a.url, limits=limits, timeout=30) as client_a,
        httpx.AsyncClient(base_url=b.url, limits=limits, timeout=30) as client_b,
    ):
        responses = await asyncio.gather(
            *(
                (client_a if i % 2 else client_b).post(
                    "/v1/tokens/redeem", json={"token": token}, headers=server.auth
                )
                for i in range(200)
            )
        )

    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 199}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"replayed"}


async def test_100_concurrent_joins_over_a_and_b_on_capacity_10_get_exactly_10_tokens(
    pair, redis_server
) -> None:
    a, b = pair
    with httpx.Client(base_url=b.url, timeout=10) as api_b:
        server = add_server(api_b, capacity=10)
    players = await players_in_store(redis_server.url(REDIS_DB), 100)

    limits = httpx.Limits(max_connections=50)
    async with (
        httpx.AsyncClient(base_url=a.url, limits=limits, timeout=30) as client_a,
        httpx.AsyncClient(base_url=b.url, limits=limits, timeout=30) as client_b,
    ):
        responses = await asyncio.gather(
            *(
                (client_a if i % 2 else client_b).post(f"/v1/games/{server.id}/join", headers=p.auth)
                for i, p in enumerate(players)
            )
        )

    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 409: 90}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"server_full"}
    with httpx.Client(base_url=a.url, timeout=10) as api_a:
        game = api_a.get(f"/v1/games/{server.id}").json()
    assert (game["reserved"], game["status"]) == (10, "full")


def test_while_redis_is_down_the_lobby_answers_503_and_then_recovers(start_lobby, tmp_path) -> None:
    redis = RedisProcess(tmp_path / "redis").start()
    try:
        lobby = start_lobby(LOBBY_STORE=redis.url())
        with httpx.Client(base_url=lobby.url, timeout=10) as api:
            server = add_server(api)
            redis.stop()
            for response in (
                api.get("/readyz"),
                api.get("/v1/games"),
                api.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["reason"] == "unavailable"

            redis.start()
            deadline = time.monotonic() + 10
            while api.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the lobby did not recover"
                time.sleep(0.05)
            assert api.get("/v1/games").status_code == 200
    finally:
        redis.stop()
