"""Tokens whose JSON is deeply nested or holds a lone surrogate are `malformed`, on SQLite and Redis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.lobby.test_hostile_tokens import Genuine, b64url, make_genuine, state_of
from tests.support.lobby import LobbyProcess, new_player, redeem

NESTED = "[" * 1400
REDIS_DB = 11


def nested_header(g: Genuine) -> str:
    _head, body, sig = g.token.split(".")
    return f"{b64url(NESTED.encode())}.{body}.{sig}"


def nested_claims(g: Genuine) -> str:
    head, _body, sig = g.token.split(".")
    return f"{head}.{b64url(NESTED.encode())}.{sig}"


def nested_inside_a_claim(g: Genuine) -> str:
    nested: list = []
    for _ in range(40):
        nested = [nested]
    return g.with_claims(extra=nested)


def lone_surrogate_jti(g: Genuine) -> str:
    return g.with_claims(jti="\ud800")  # json.dumps writes it as the escape "\ud800"


HOSTILE = {
    "nested_header": nested_header,
    "nested_claims": nested_claims,
    "nested_inside_a_claim": nested_inside_a_claim,
    "lone_surrogate_jti": lone_surrogate_jti,
}


def assert_malformed_everywhere(client: httpx.Client, g: Genuine, hostile: str) -> None:
    before = state_of(client, g.server)
    ack = client.post("/v1/joins/ack", json={"token": hostile})
    assert (ack.status_code, ack.json()["reason"]) == (401, "malformed"), ack.text
    r = redeem(client, g.server, hostile)
    assert (r.status_code, r.json()["reason"]) == (401, "malformed"), r.text
    assert state_of(client, g.server) == before
    assert redeem(client, g.server, g.token).status_code == 200


@pytest.fixture(scope="module")
def sqlite_client(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("case", HOSTILE)
def test_nested_or_surrogate_token_is_malformed_on_sqlite(sqlite_client, lobby, case):
    g = make_genuine(sqlite_client, lobby.data_dir, new_player(sqlite_client))
    assert_malformed_everywhere(sqlite_client, g, HOSTILE[case](g))
    assert "RecursionError" not in lobby.logs()
    assert "unexpected error" not in lobby.logs()


@pytest.fixture(scope="module")
def redis_lobby(redis_server, tmp_path_factory) -> Iterator[LobbyProcess]:
    process = LobbyProcess(tmp_path_factory.mktemp("json"), {"LOBBY_STORE": redis_server.url(REDIS_DB)})
    yield process.start()
    process.stop()


@pytest.mark.parametrize("case", HOSTILE)
def test_nested_or_surrogate_token_is_malformed_on_redis(redis_lobby, case):
    with httpx.Client(base_url=redis_lobby.url, timeout=10) as c:
        g = make_genuine(c, redis_lobby.data_dir, new_player(c))
        assert_malformed_everywhere(c, g, HOSTILE[case](g))
    assert "unexpected error" not in redis_lobby.logs()
