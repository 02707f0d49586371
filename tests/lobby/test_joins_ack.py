"""POST /v1/joins/ack: whoever holds a join token says the game client got it; nothing is consumed."""

from __future__ import annotations

import time

import httpx

from tests.support.lobby import add_server, join, new_player


def test_acknowledging_a_join_answers_received_and_consumes_nothing(api: httpx.Client) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    for _ in range(2):
        r = api.post("/v1/joins/ack", json={"token": token})
        assert r.status_code == 202
        assert r.json() == {"state": "received"}
    r = api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
    assert r.status_code == 200


def test_after_redemption_the_acknowledgement_answers_joined(api: httpx.Client) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
    r = api.post("/v1/joins/ack", json={"token": token})
    assert r.status_code == 202
    assert r.json() == {"state": "joined"}


def test_tokens_the_lobby_did_not_issue_are_refused_with_their_reason(api: httpx.Client) -> None:
    server = add_server(api)
    player = new_player(api)
    token = join(api, player, server)
    header, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    cases = {
        "not a token": "malformed",
        f"{header}.{payload}.{flipped}": "bad_signature",
    }
    for bad, reason in cases.items():
        r = api.post("/v1/joins/ack", json={"token": bad})
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["reason"] == reason
    join(api, player, server)
    r = api.post("/v1/joins/ack", json={"token": token})
    assert r.json()["reason"] == "unknown_token"


def test_an_expired_join_cannot_be_acknowledged(start_lobby: object) -> None:
    lobby = start_lobby(LOBBY_JOIN_TOKEN_TTL_S="1")  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as client:
        token = join(client, new_player(client), add_server(client))
        time.sleep(1.1)
        r = client.post("/v1/joins/ack", json={"token": token})
    assert r.status_code == 401
    assert r.json()["reason"] == "expired"


def test_an_acknowledgement_needs_a_token(api: httpx.Client) -> None:
    r = api.post("/v1/joins/ack", json={})
    assert r.status_code == 422
    assert r.json()["reason"] == "validation_error"
