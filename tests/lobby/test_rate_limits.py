"""Rate limits on every endpoint: per address, per player, per game server, stricter for logging in,
and concurrent event streams per address; 429 problem+json with Retry-After and the IETF headers."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from lobby.settings import SettingsError, load_settings
from tests.lobby.sse import EventStream
from tests.lobby.test_metrics import scrape, value
from tests.support.lobby import PASSWORD, LobbyProcess, add_server, new_player, unique

STATE = re.compile(r'"(\w+)";r=(\d+);t=(\d+)')


def limited(start_lobby: object, env: dict[str, str] | None = None, **limits: str) -> LobbyProcess:
    """A lobby with rate limits on and these limits (and the default: no proxy is trusted)."""
    env = {**(env or {}), "LOBBY_RATE_LIMITS_ENABLED": "true"}
    env.update({f"LOBBY_RATE_LIMIT_{k.upper()}": v for k, v in limits.items()})
    return start_lobby(**env)  # type: ignore[operator]


def remaining(r: httpx.Response) -> dict[str, int]:
    """What `RateLimit` says is left, per policy."""
    return {name: int(left) for name, left, _t in STATE.findall(r.headers["ratelimit"])}


def test_every_answer_under_the_limit_carries_the_ratelimit_headers(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="50/minute")
    left = []
    with httpx.Client(base_url=lobby.url) as client:
        for method, path in [
            ("GET", "/healthz"), ("GET", "/v1/games"), ("POST", "/v1/joins/ack"), ("GET", "/nope")
        ]:
            r = client.request(method, path, json={"token": "x"} if method == "POST" else None)
            assert r.headers["ratelimit-policy"] == '"address";q=50;w=60'
            left.append(remaining(r)["address"])
            assert 0 <= int(STATE.search(r.headers["ratelimit"]).group(3)) <= 60  # type: ignore[union-attr]
    assert left[0] >= 45  # the start-up readiness probe counts too
    assert left == [left[0] - n for n in range(4)]


def test_over_the_limit_is_a_429_problem_with_retry_after(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="5/minute")
    with httpx.Client(base_url=lobby.url) as client:
        statuses = [client.get("/v1/games").status_code for _ in range(6)]
        r = client.get("/v1/games")
    # the start-up readiness probes count too, so fewer than 5 may pass here
    assert statuses == sorted(statuses)
    assert set(statuses) <= {200, 429}
    assert statuses[-1] == 429
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == "rate_limited"
    assert r.json()["status"] == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["ratelimit-policy"] == '"address";q=5;w=60'
    assert remaining(r) == {"address": 0}
    assert "content-security-policy" in r.headers


def test_players_and_servers_have_buckets_of_their_own(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="1000/minute", per_player="4/minute", per_server="3/minute")
    with httpx.Client(base_url=lobby.url) as client:
        alice, bob = [new_player(httpx.Client(base_url=lobby.url)) for _ in range(2)]
        server = add_server(client)  # its first heartbeat counts
        for _ in range(4):
            assert client.get("/v1/players/me", headers=alice.auth).status_code == 200
        r = client.get("/v1/players/me", headers=alice.auth)
        assert r.status_code == 429
        assert '"player";q=4;w=60' in r.headers["ratelimit-policy"]
        assert client.get("/v1/players/me", headers=bob.auth).status_code == 200
        cookie = {"Cookie": f"playlink_session={alice.session}"}
        assert client.get("/v1/players/me", headers=cookie).status_code == 429
        beat = {"json": {"players": 0}, "headers": server.auth}
        assert [client.put(f"/v1/servers/{server.id}/heartbeat", **beat).status_code
                for _ in range(3)] == [200, 200, 429]
        assert client.get("/v1/games").status_code == 200


def test_logging_in_and_registering_are_limited_more_strictly(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="1000/minute", login="3/minute")
    with httpx.Client(base_url=lobby.url) as client:
        wrong = {"name": unique("nobody"), "password": PASSWORD}
        statuses = [client.post("/v1/sessions", json=wrong).status_code for _ in range(4)]
        r = client.post("/v1/players", json={"name": unique("new"), "password": PASSWORD})
        assert client.get("/v1/games").status_code == 200
    assert statuses == [401, 401, 401, 429]
    assert r.status_code == 429
    assert remaining(r)["login"] == 0


def test_x_forwarded_for_from_an_untrusted_peer_does_not_change_the_key(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="3/minute")
    with httpx.Client(base_url=lobby.url) as client:
        statuses = [
            client.get("/healthz", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(4)
        ]
    assert statuses[-2:] == [429, 429]


def test_x_forwarded_for_from_a_trusted_proxy_is_the_key(start_lobby: object) -> None:
    lobby = limited(start_lobby, {"LOBBY_FORWARDED_ALLOW_IPS": "127.0.0.1"}, per_address="3/minute")
    with httpx.Client(base_url=lobby.url) as client:
        statuses = [
            client.get("/healthz", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(6)
        ]
    assert statuses == [200] * 6


def test_event_streams_are_capped_per_address_and_a_closed_one_frees_its_slot(
    start_lobby: object,
) -> None:
    streams_env = {"LOBBY_EVENT_STREAMS_PER_ADDRESS": "2", "LOBBY_EVENTS_PING_S": "0.2"}
    lobby = limited(start_lobby, streams_env, per_address="1000/minute")
    streams = [EventStream(lobby.url) for _ in range(2)]
    try:
        assert [s.status for s in streams] == [200, 200]
        with EventStream(lobby.url, {"X-Forwarded-For": "203.0.113.9"}) as third:
            assert third.status == 429
            assert b'"rate_limited"' in third.body
            assert third.headers is not None
            assert int(third.headers["retry-after"]) >= 1
        streams.pop().close()
        deadline = time.monotonic() + 2
        while True:
            with EventStream(lobby.url) as again:
                if again.status == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.1)
        assert again.status == 200
    finally:
        for s in streams:
            s.close()


def open_and_close_stream(client: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
    """Open `GET /v1/events`, take its answer's head, and hang up."""
    with client.stream("GET", "/v1/events", headers=headers) as r:
        if r.status_code != 200:
            r.read()
        return r


def test_opening_event_streams_spends_the_address_budget(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="10/minute")
    with httpx.Client(base_url=lobby.url, timeout=10, headers={"Connection": "close"}) as client:
        answers = [open_and_close_stream(client) for _ in range(15)]
    statuses = [r.status_code for r in answers]
    assert statuses == sorted(statuses), statuses
    assert statuses[-1] == 429
    refused = answers[-1]
    assert refused.json()["reason"] == "rate_limited"
    assert "'address'" in refused.json()["detail"]
    assert '"address";q=10;w=60' in answers[0].headers["ratelimit-policy"]
    assert '"streams";q=' in answers[0].headers["ratelimit-policy"]


def test_a_bogus_bearer_on_repeated_stream_opens_reads_the_store_once(start_lobby: object) -> None:
    lobby = limited(start_lobby, per_address="1000/minute")
    bogus = {"Authorization": "Bearer not-a-session-of-this-lobby"}
    with httpx.Client(base_url=lobby.url, timeout=10) as client:
        before = value(scrape(lobby), "playlink_store_operation_seconds_count", operation="session_player")
        statuses = [open_and_close_stream(client, bogus).status_code for _ in range(20)]
        after = value(scrape(lobby), "playlink_store_operation_seconds_count", operation="session_player")
    assert statuses == [200] * 20, "a dead session streams as anonymous"
    assert after - before <= 2, "one read, or two if the 5 s the cache trusts it ran out meanwhile"


def test_an_invalid_limit_stops_start_up_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOBBY_RATE_LIMIT_PER_PLAYER", "lots")
    with pytest.raises(SettingsError, match="LOBBY_RATE_LIMIT_PER_PLAYER"):
        load_settings()
