"""POST /v1/joins/decline: whoever holds a join token turns it down; its slot is freed at once."""

from __future__ import annotations

import time

import httpx

from tests.lobby.sse import EventStream
from tests.support.lobby import LobbyProcess, add_server, join, new_player

EVENT_WAIT_S = 10.0


def test_a_declined_join_frees_its_slot_at_once_and_its_token_no_longer_redeems(api: httpx.Client) -> None:
    server = add_server(api, capacity=1)
    token = join(api, new_player(api), server)
    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 1
    r = api.post("/v1/joins/decline", json={"token": token})
    assert r.status_code == 202, r.text
    assert r.json() == {"state": "declined"}
    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 0
    r = api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
    assert r.status_code == 401
    assert r.json()["reason"] == "unknown_token"
    join(api, new_player(api), server)


def test_a_declined_join_cannot_be_declined_or_acknowledged_again(api: httpx.Client) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    api.post("/v1/joins/decline", json={"token": token})
    for path in ("/v1/joins/decline", "/v1/joins/ack"):
        r = api.post(path, json={"token": token})
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["reason"] == "unknown_token"


def test_a_redeemed_join_is_not_declined(api: httpx.Client) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
    r = api.post("/v1/joins/decline", json={"token": token})
    assert r.status_code == 202
    assert r.json() == {"state": "joined"}
    assert api.get(f"/v1/games/{server.id}").json()["players"] == 1


def test_the_players_stream_hears_declined(lobby: LobbyProcess, api: httpx.Client) -> None:
    server = add_server(api)
    player = new_player(api)
    token = join(api, player, server)
    with EventStream(lobby.url, player.auth) as stream:
        stream.next()
        assert api.post("/v1/joins/decline", json={"token": token}).status_code == 202
        declined, _ = stream.until(lambda e: e.name == "join", EVENT_WAIT_S)
    assert declined.data["state"] == "declined"
    assert declined.data["game"] == server.id


def test_bad_tokens_are_refused_with_their_reason_and_change_nothing(api: httpx.Client) -> None:
    server = add_server(api, capacity=1)
    token = join(api, new_player(api), server)
    header, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    for bad, reason in {"not a token": "malformed", f"{header}.{payload}.{flipped}": "bad_signature"}.items():
        r = api.post("/v1/joins/decline", json={"token": bad})
        assert r.status_code == 401, r.text
        assert r.json()["reason"] == reason
    r = api.post("/v1/joins/decline", json={})
    assert r.status_code == 422
    assert r.json()["reason"] == "validation_error"
    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 1


def test_an_expired_join_cannot_be_declined(start_lobby: object) -> None:
    lobby = start_lobby(LOBBY_JOIN_TOKEN_TTL_S="1")  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as client:
        token = join(client, new_player(client), add_server(client))
        time.sleep(1.1)
        r = client.post("/v1/joins/decline", json={"token": token})
    assert r.status_code == 401
    assert r.json()["reason"] == "expired"
