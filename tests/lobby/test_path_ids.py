"""Ids in paths and server credentials are checked at the edge: Redis key punctuation is a 404/401."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.lobby import ADMIN, LobbyProcess, add_server, join, new_player

REDIS_DB = 12
SUFFIXES = [":pending", ":holds", ":members", ":x", "{x}", "*"]


@pytest.fixture(scope="module")
def redis_api(redis_server, tmp_path_factory) -> Iterator[httpx.Client]:
    process = LobbyProcess(tmp_path_factory.mktemp("ids"), {"LOBBY_STORE": redis_server.url(REDIS_DB)})
    process.start()
    with httpx.Client(base_url=process.url, timeout=10) as client:
        yield client
    assert "store failed" not in process.logs()
    process.stop()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_path_id_naming_another_redis_key_is_not_found(redis_api, suffix):
    server = add_server(redis_api)
    player = new_player(redis_api)
    join(redis_api, player, server)  # the pending, holds and members keys now exist
    bad = server.id + suffix
    answers = [
        redis_api.get(f"/v1/games/{bad}"),
        redis_api.post(f"/v1/games/{bad}/join", headers=player.auth),
        redis_api.put(f"/v1/servers/{bad}/heartbeat", json={"players": 0}, headers=server.auth),
        redis_api.post(f"/v1/servers/{bad}/leave", json={"player": player.id}, headers=server.auth),
        redis_api.delete(f"/v1/servers/{bad}", headers=ADMIN),
    ]
    for r in answers:
        assert (r.status_code, r.json()["reason"]) == (404, "not_found"), (r.request.url, r.text)
    assert redis_api.get(f"/v1/games/{server.id}").status_code == 200


def test_a_server_secret_whose_id_names_another_redis_key_is_unauthorized(redis_api):
    server = add_server(redis_api)
    forged = {"Authorization": f"Bearer {server.id}:pending.{server.secret.partition('.')[2]}"}
    r = redis_api.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=forged)
    assert (r.status_code, r.json()["reason"]) == (401, "unauthorized"), r.text
