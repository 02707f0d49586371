"""Player names that could pass for another's do not register; names already stored keep working."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from argon2 import PasswordHasher

from tests.support.lobby import PASSWORD, LobbyProcess

REDIS_DB = 13


def full_width(name: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)


def cyrillic_a(name: str) -> str:
    return name.replace("a", "\u0430", 1)


LOOK_ALIKES = {
    "trailing space": (lambda n: n + " ", 409),
    "leading space": (lambda n: " " + n, 409),
    "capitals": (str.upper, 409),
    "full width": (full_width, 409),
    "cyrillic a": (cyrillic_a, 422),
}


def register(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/v1/players", json={"name": name, "password": PASSWORD})


def log_in(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/v1/sessions", json={"name": name, "password": PASSWORD})


@pytest.fixture(scope="module")
def sqlite_api(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lobby.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def redis_api(redis_server, tmp_path_factory) -> Iterator[httpx.Client]:
    process = LobbyProcess(tmp_path_factory.mktemp("names"), {"LOBBY_STORE": redis_server.url(REDIS_DB)})
    process.start()
    with httpx.Client(base_url=process.url, timeout=10) as client:
        yield client
    process.stop()


@pytest.mark.parametrize("store", ["sqlite", "redis"])
@pytest.mark.parametrize("variant", LOOK_ALIKES)
def test_a_look_alike_of_a_taken_name_does_not_register(request, store, variant):
    api = request.getfixturevalue(f"{store}_api")
    name = f"alice{uuid.uuid4().hex[:8]}"
    assert register(api, name).status_code == 201
    look_alike, status = LOOK_ALIKES[variant]
    r = register(api, look_alike(name))
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == {409: "conflict", 422: "validation_error"}[status]


def test_a_mixed_script_name_is_refused_even_when_nobody_has_its_look_alike(sqlite_api):
    r = register(sqlite_api, cyrillic_a(f"paypal{uuid.uuid4().hex[:8]}"))
    assert (r.status_code, r.json()["reason"]) == (422, "validation_error")
    assert "Cyrillic" in r.json()["detail"]


def test_a_name_is_kept_in_its_normal_form_and_found_by_any_look_alike(sqlite_api):
    tag = uuid.uuid4().hex[:8]
    r = register(sqlite_api, f"  {full_width('Ada')}   Lovelace{tag} ")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == f"Ada Lovelace{tag}"
    for typed in (f"Ada Lovelace{tag}", f"ada lovelace{tag}", f"{full_width('Ada')} Lovelace{tag}"):
        r = log_in(sqlite_api, typed)
        assert r.status_code == 200, (typed, r.text)
        assert r.json()["player"]["name"] == f"Ada Lovelace{tag}"


def test_names_scripts_may_combine_where_ts39_allows_it(sqlite_api):
    digits = str(uuid.uuid4().int)[:8]
    for name in (f"Zoë{digits}", f"名前abc{digits}", f"Иван{digits}"):
        assert register(sqlite_api, name).status_code == 201, name


def test_look_alike_names_stored_before_the_check_both_still_log_in_on_sqlite(tmp_path, start_lobby):
    lobby = start_lobby(tmp_path / "data")
    lobby.stop()
    tag = uuid.uuid4().hex[:8]
    first, second = f"alice{tag}", cyrillic_a(f"alice{tag}")
    password_hash = PasswordHasher().hash(PASSWORD)
    with sqlite3.connect(tmp_path / "data" / "lobby.db") as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for n, name in enumerate((first, second)):
            db.execute(
                "INSERT INTO players VALUES (?, ?, ?, ?, ?)",
                (f"p_old{n}{tag}", name, name.casefold(), password_hash, time.time() + n),
            )
        db.execute(f"PRAGMA user_version = {version - 1}")  # as the lobby before name keys left it
    lobby.start()
    assert_both_log_in_and_no_third(lobby, first, second)


def test_look_alike_names_stored_before_the_check_both_still_log_in_on_redis(redis_server, start_lobby):
    url = redis_server.url(REDIS_DB + 1)
    lobby = start_lobby(LOBBY_STORE=url)
    lobby.stop()
    tag = uuid.uuid4().hex[:8]
    first, second = f"alice{tag}", cyrillic_a(f"alice{tag}")
    password_hash = PasswordHasher().hash(PASSWORD)
    with redis.Redis.from_url(url) as r:
        for n, name in enumerate((first, second)):
            pid = f"p_old{n}{tag}"
            r.set(f"playlink:player-name:{name.casefold()}", pid)
            r.hset(f"playlink:player:{pid}", mapping={"name": name, "password_hash": password_hash})
        r.set("playlink:layout", 1)  # as the lobby before name keys left it
    lobby.start()
    assert_both_log_in_and_no_third(lobby, first, second)


def assert_both_log_in_and_no_third(lobby: LobbyProcess, first: str, second: str) -> None:
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        for name in (first, second):
            r = log_in(api, name)
            assert r.status_code == 200, (name, r.text)
            assert r.json()["player"]["name"] == name
        assert register(api, full_width(first)).status_code == 409
        assert register(api, first.upper()).status_code == 409


def test_a_name_longer_than_64_characters_once_normalized_is_refused(sqlite_api):
    r = register(sqlite_api, "\u33a7" * 22)  # 22 characters, each three in NFKC: 66
    assert (r.status_code, r.json()["reason"]) == (422, "validation_error"), r.text
