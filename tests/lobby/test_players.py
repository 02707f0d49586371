"""Player accounts and sessions: register, log in, cookie and bearer, log out, Origin checks."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from http.cookies import SimpleCookie

import httpx
import pytest

from tests.support.lobby import PASSWORD, LobbyProcess, add_server, new_player, unique

COOKIE = "playlink_session"
HTTPS_URL = "https://lobby.example"


@pytest.fixture(scope="module")
def client(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    """A client that keeps no cookies: each test sends the cookie it means to."""
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    with httpx.Client(base_url=lobby.url, timeout=10, cookies=no_cookies) as c:
        yield c


@pytest.fixture(scope="module")
def player(client):
    return new_player(client)


@pytest.fixture(scope="module")
def server(client):
    return add_server(client, capacity=50)


@pytest.fixture(scope="module")
def https_lobby(tmp_path_factory) -> Iterator[LobbyProcess]:
    process = LobbyProcess(tmp_path_factory.mktemp("https"), {"LOBBY_PUBLIC_URL": HTTPS_URL}).start()
    yield process
    process.stop()


def register(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/v1/players", json={"name": name, "password": password})


def log_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/v1/sessions", json={"name": name, "password": password})


def session_cookie(response: httpx.Response):
    (header,) = [v for v in response.headers.get_list("set-cookie") if v.startswith(COOKIE + "=")]
    jar = SimpleCookie()
    jar.load(header)
    return header, jar[COOKIE]


def assert_problem(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == reason


def me_with_cookie(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/v1/players/me", headers={"Cookie": f"{COOKIE}={token}"})


def test_registering_returns_the_new_players_id_and_name(client):
    name = unique("Ada")
    r = register(client, name)
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "name"}
    assert body["name"] == name
    assert body["id"]


def test_a_taken_name_is_refused_in_any_case(client, player):
    for taken in (player.name, player.name.upper(), player.name.title()):
        assert_problem(register(client, taken), 409, "conflict")


def test_markup_in_a_name_is_kept_verbatim_as_text(client):
    name = f"<img src=x onerror=alert(1)>{unique('')}"
    r = register(client, name)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert r.json()["name"] == name
    logged = log_in(client, name)
    me = client.get("/v1/players/me", headers={"Authorization": f"Bearer {logged.json()['token']}"})
    assert me.json()["name"] == name


@pytest.mark.parametrize(
    "template", ["Zoë 🎮 {}", "名前{}", "{}" + "x" * 54, "a b{}", "{}😀"], ids=str.strip,
)
def test_printable_unicode_names_up_to_64_characters_are_accepted(client, template):
    name = template.format(uuid.uuid4().hex[:10])
    r = register(client, name)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 65, "bell\x07", "new\nline", "tab\tname", "nul\x00", "rtl\u202eoverride", "\x1b[31m"],
)
def test_empty_overlong_or_control_character_names_are_refused(client, name):
    assert_problem(register(client, name), 422, "validation_error")


def test_a_short_password_is_refused(client):
    assert_problem(register(client, unique("shorty"), "1234567"), 422, "validation_error")


def test_wrong_password_and_unknown_name_get_the_same_401(client, player):
    wrong = log_in(client, player.name, "not the password")
    unknown = log_in(client, unique("nobody"))
    assert_problem(wrong, 401, "unauthorized")
    assert_problem(unknown, 401, "unauthorized")
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


def test_log_in_sets_an_httponly_lax_cookie_without_secure_on_http(client, player):
    r = log_in(client, player.name)
    assert r.status_code == 200
    assert r.json()["player"] == {"id": player.id, "name": player.name}
    header, cookie = session_cookie(r)
    assert cookie.value == r.json()["token"]
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"
    assert not cookie["secure"]
    assert "secure" not in header.lower()


def test_log_in_sets_a_secure_cookie_when_the_public_url_is_https(https_lobby):
    with httpx.Client(base_url=https_lobby.url, timeout=10) as c:
        name = unique("secure")
        assert register(c, name).status_code == 201
        _header, cookie = session_cookie(log_in(c, name))
    assert cookie["secure"]
    assert cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"


def test_bearer_and_cookie_both_authenticate_the_same_player(client, player):
    by_bearer = client.get("/v1/players/me", headers={"Authorization": f"Bearer {player.session}"})
    by_cookie = me_with_cookie(client, player.session)
    assert by_bearer.status_code == by_cookie.status_code == 200
    assert by_bearer.json() == by_cookie.json() == {"id": player.id, "name": player.name}


def test_without_a_session_me_is_401(client):
    assert_problem(client.get("/v1/players/me"), 401, "unauthorized")
    assert_problem(me_with_cookie(client, "forged-session"), 401, "unauthorized")
    bad_bearer = client.get("/v1/players/me", headers={"Authorization": "Bearer forged"})
    assert_problem(bad_bearer, 401, "unauthorized")


def test_logging_out_revokes_the_session_for_bearer_and_cookie(client, player):
    token = log_in(client, player.name).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/players/me", headers=auth).status_code == 200
    r = client.delete("/v1/sessions/current", headers=auth)
    assert r.status_code == 204
    assert_problem(client.get("/v1/players/me", headers=auth), 401, "unauthorized")
    assert_problem(me_with_cookie(client, token), 401, "unauthorized")
    assert client.get("/v1/players/me", headers=player.auth).status_code == 200


def cookie_join(client: httpx.Client, player, server, **headers: str) -> httpx.Response:
    headers["Cookie"] = f"{COOKIE}={player.session}"
    return client.post(f"/v1/games/{server.id}/join", headers=headers)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
     {"Origin": "http://127.0.0.1:1"}],
    ids=["no-origin", "foreign-origin", "null-origin", "cross-site-fetch", "other-port"],
)
def test_cookie_authenticated_join_from_another_origin_is_forbidden(client, player, server, headers):
    before = client.get(f"/v1/games/{server.id}").json()["reserved"]
    assert_problem(cookie_join(client, player, server, **headers), 403, "forbidden")
    assert client.get(f"/v1/games/{server.id}").json()["reserved"] == before


def test_cookie_authenticated_join_from_the_lobbys_origin_is_allowed(client, lobby, player, server):
    assert cookie_join(client, player, server, Origin=lobby.url).status_code == 201
    assert cookie_join(client, player, server, **{"Sec-Fetch-Site": "same-origin"}).status_code == 201


def test_cookie_authenticated_log_out_needs_the_lobbys_origin(client, lobby, player):
    token = log_in(client, player.name).json()["token"]
    cookie = {"Cookie": f"{COOKIE}={token}"}
    assert_problem(client.delete("/v1/sessions/current", headers=cookie), 403, "forbidden")
    assert me_with_cookie(client, token).status_code == 200
    r = client.delete("/v1/sessions/current", headers={**cookie, "Origin": lobby.url})
    assert r.status_code == 204, r.text
    assert me_with_cookie(client, token).status_code == 401


def test_bearer_authenticated_calls_need_no_origin(client, player, server):
    r = client.post(f"/v1/games/{server.id}/join", headers=player.auth)
    assert r.status_code == 201
    r = client.post(f"/v1/games/{server.id}/join", headers={**player.auth, "Origin": "http://evil.example"})
    assert r.status_code == 201


def test_the_https_lobby_accepts_its_public_origin_for_cookie_calls(https_lobby):
    with httpx.Client(base_url=https_lobby.url, timeout=10) as c:
        server, someone = add_server(c), new_player(c)
        r = cookie_join(c, someone, server, Origin=HTTPS_URL)
    assert r.status_code == 201, r.text


def test_passwords_are_stored_only_as_argon2id_hashes(client, lobby, player):
    with sqlite3.connect(f"file:{lobby.data_dir / 'lobby.db'}?mode=ro", uri=True) as db:
        (stored,) = db.execute("SELECT password_hash FROM players WHERE id = ?", (player.id,)).fetchone()
        dumped = "\n".join(db.iterdump())
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PASSWORD not in dumped
