"""Two lobby processes on a real Redis Cluster of three nodes (`LOBBY_STORE=redis+cluster://...`).

The store's own suite runs on the cluster too (`tests/lobby/test_store.py`); this checks the lobby
end to end there: exactly-once redemption across instances, join progress and game events through
the shared stream, and rate limits counted in the cluster.
"""

from __future__ import annotations

import httpx

from tests.lobby.sse import EventStream
from tests.support.lobby import add_server, join, new_player, redeem, unique
from tests.support.redis import start_pair

LIVE_S = 1.0
LIMITS = {
    "LOBBY_RATE_LIMITS_ENABLED": "true",
    "LOBBY_RATE_LIMIT_PER_ADDRESS": "10000/minute",
    "LOBBY_RATE_LIMIT_PER_PLAYER": "5/minute",
}


def test_two_lobbies_on_a_redis_cluster_act_as_one(redis_cluster, tmp_path) -> None:
    a, b = start_pair(redis_cluster.url(), tmp_path, {"LOBBY_EVENTS_SWEEP_S": "60", **LIMITS})
    try:
        with httpx.Client(base_url=a.url, timeout=10) as api_a, \
                httpx.Client(base_url=b.url, timeout=10) as api_b:
            server = add_server(api_a)
            player = new_player(api_b)
            with EventStream(b.url, player.auth) as on_b:
                assert on_b.next().name == "snapshot"
                token = join(api_a, player, server)
                assert redeem(api_b, server, token).status_code == 200
                replay = redeem(api_a, server, token)
                assert (replay.status_code, replay.json()["reason"]) == (409, "replayed")
                joined, _ = on_b.until(lambda e: e.name == "join" and e.data["state"] == "joined", LIVE_S)
                assert joined.data["game"] == server.id
                on_b.until(lambda e: e.name == "game" and e.data["id"] == server.id
                           and e.data["players"] == 1, LIVE_S)
            assert api_b.get(f"/v1/games/{server.id}").json()["members"] == [
                {"id": player.id, "name": player.name}
            ]

            credential = {"Authorization": f"Bearer {unique('session')}"}
            statuses = [(api_a if n % 2 else api_b).get("/v1/games", headers=credential).status_code
                        for n in range(6)]
            assert statuses == [200] * 5 + [429]
    finally:
        b.stop()
        a.stop()
