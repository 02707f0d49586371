"""The whole join flow against a real lobby: operator, player, join, redemption, JWKS."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from tests.support.lobby import ADMIN, PASSWORD, add_server, join, new_player


def test_player_joins_and_the_named_server_redeems_the_token_once(api: httpx.Client) -> None:
    server = add_server(api, capacity=4)
    player = new_player(api)

    games = api.get("/v1/games").json()["games"]
    listed = next(g for g in games if g["id"] == server.id)
    assert listed["status"] == "online"
    assert (listed["players"], listed["reserved"], listed["capacity"]) == (0, 0, 4)

    r = api.post(f"/v1/games/{server.id}/join", headers=player.auth)
    assert r.status_code == 201
    issued = r.json()
    assert issued["expires_at"].endswith("Z")
    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 1

    r = api.post("/v1/tokens/redeem", json={"token": issued["token"]}, headers=server.auth)
    assert r.status_code == 200, r.text
    redeemed = r.json()
    assert redeemed["player"] == {"id": player.id, "name": player.name}
    assert redeemed["game"] == server.id
    game = api.get(f"/v1/games/{server.id}").json()
    assert (game["players"], game["reserved"]) == (1, 0)
    assert game["members"] == [{"id": player.id, "name": player.name}]

    again = api.post("/v1/tokens/redeem", json={"token": issued["token"]}, headers=server.auth)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["reason"] == "replayed"


def test_launch_url_carries_the_lobby_and_the_token(api: httpx.Client, lobby) -> None:
    server = add_server(api)
    player = new_player(api)
    issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth).json()

    url = urlsplit(issued["launch_url"])
    assert (url.scheme, url.netloc, url.path) == ("arena", "join", "")
    assert "%3A%2F%2F" in url.query
    assert parse_qs(url.query, strict_parsing=True) == {
        "v": ["1"],
        "lobby": [lobby.url],
        "token": [issued["token"]],
    }


def test_another_servers_redemption_is_wrong_audience_and_consumes_nothing(api: httpx.Client) -> None:
    server, other = add_server(api), add_server(api)
    token = join(api, new_player(api), server)

    r = api.post("/v1/tokens/redeem", json={"token": token}, headers=other.auth)
    assert r.status_code == 403
    assert r.json()["reason"] == "wrong_audience"
    assert api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth).status_code == 200


def test_token_verifies_with_published_jwks_using_plain_pyjwt(api: httpx.Client, lobby) -> None:
    server = add_server(api)
    player = new_player(api)
    token = join(api, player, server)

    jwks = jwt.PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "playlink-join+jwt"
    key = jwks[header["kid"]]
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        audience=server.id,
        issuer=lobby.url,
        options={"require": ["iss", "sub", "name", "aud", "srv", "iat", "nbf", "exp", "jti"]},
    )
    assert claims["sub"] == player.id
    assert claims["name"] == player.name
    assert claims["srv"] == server.address
    assert claims["exp"] - claims["iat"] == 120
    assert len(jwt.utils.base64url_decode(claims["jti"])) == 16


def test_joining_again_replaces_the_players_earlier_reservation(api: httpx.Client) -> None:
    server = add_server(api, capacity=1)
    player = new_player(api)
    first = join(api, player, server)
    second = join(api, player, server)

    assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 1
    r = api.post("/v1/tokens/redeem", json={"token": first}, headers=server.auth)
    assert r.json()["reason"] == "unknown_token"
    assert api.post("/v1/tokens/redeem", json={"token": second}, headers=server.auth).status_code == 200


def test_lobby_logs_carry_no_tokens_secrets_or_passwords(api: httpx.Client, lobby) -> None:
    server = add_server(api)
    player = new_player(api)
    token = join(api, player, server)
    api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
    api.post("/v1/tokens/redeem", json={"token": token + "x"}, headers=server.auth)

    access = '"method": "POST", "route": "/v1/tokens/redeem", "path": "/v1/tokens/redeem"'
    deadline = time.monotonic() + 5
    while access not in lobby.logs():  # the access line is written just after the response
        assert time.monotonic() < deadline, "no access line for the redemptions"
        time.sleep(0.05)
    logs = lobby.logs()
    for secret in (
        token,
        token.split(".")[2],
        server.secret,
        player.session,
        PASSWORD,
        ADMIN["Authorization"],
    ):
        assert secret not in logs
