"""A lobby restarted on the same data directory keeps its keys, servers and reservations."""

from __future__ import annotations

import httpx

from tests.support.lobby import add_server, join, new_player


def test_tokens_issued_before_a_restart_still_redeem_exactly_once(start_lobby, tmp_path) -> None:
    first = start_lobby(tmp_path / "data")
    with httpx.Client(base_url=first.url) as api:
        server = add_server(api)
        tokens = [join(api, new_player(api), server) for _ in range(2)]
        assert (
            api.post("/v1/tokens/redeem", json={"token": tokens[0]}, headers=server.auth).status_code == 200
        )
        jwks_before = api.get("/.well-known/jwks.json").json()
    first.stop()

    second = start_lobby(tmp_path / "data", port=first.port)
    with httpx.Client(base_url=second.url) as api:
        assert api.get("/.well-known/jwks.json").json() == jwks_before
        r = api.post("/v1/tokens/redeem", json={"token": tokens[1]}, headers=server.auth)
        assert r.status_code == 200, r.text
        for token in tokens:
            r = api.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
            assert r.json()["reason"] == "replayed"
        assert api.get(f"/v1/games/{server.id}").json()["players"] == 2
