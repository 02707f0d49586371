"""Exactly-once redemption and never-overfilled servers under concurrent requests."""

from __future__ import annotations

import asyncio
import collections

import httpx

from tests.support.lobby import add_server, join, new_player


async def test_of_100_concurrent_redemptions_of_one_token_exactly_one_wins(api: httpx.Client, lobby) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=lobby.url, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
                for _ in range(100)
            )
        )

    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 99}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"replayed"}
    assert api.get(f"/v1/games/{server.id}").json()["players"] == 1


async def test_50_concurrent_joins_on_a_server_of_capacity_10_get_exactly_10_tokens(
    api: httpx.Client, lobby
) -> None:
    server = add_server(api, capacity=10)
    players = [new_player(api) for _ in range(50)]

    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=lobby.url, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.post(f"/v1/games/{server.id}/join", headers=p.auth) for p in players)
        )

    statuses = collections.Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 409: 40}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"server_full"}
    game = api.get(f"/v1/games/{server.id}").json()
    assert (game["reserved"], game["status"]) == (10, "full")
