"""Every response carries a Content-Security-Policy that forbids inline script, and friends."""

from __future__ import annotations

import httpx
import pytest

from tests.support.lobby import ADMIN, PASSWORD, add_server, unique


@pytest.mark.parametrize("path", ["/", "/healthz", "/v1/games", "/nope", "/.well-known/jwks.json"])
def test_responses_carry_a_csp_without_inline_script(api: httpx.Client, path: str) -> None:
    r = api.get(path)
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_web_page_is_served_at_the_root(api: httpx.Client) -> None:
    r = api.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<title>Playlink lobby</title>" in r.text


def test_responses_that_carry_a_secret_are_never_stored(api: httpx.Client) -> None:
    name = unique("player")
    assert api.post("/v1/players", json={"name": name, "password": PASSWORD}).status_code == 201
    login = api.post("/v1/sessions", json={"name": name, "password": PASSWORD})
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    server = add_server(api)
    created = api.post(
        "/v1/servers", json={"name": unique("s"), "address": "127.0.0.1:9", "capacity": 1}, headers=ADMIN
    )
    answers = {
        "log-in": login,
        "me": api.get("/v1/players/me", headers=auth),
        "join": api.post(f"/v1/games/{server.id}/join", headers=auth),
        "server registration": created,
    }
    for what, r in answers.items():
        assert r.is_success, (what, r.text)
        assert r.headers.get("cache-control") == "no-store", what
