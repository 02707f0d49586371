"""Password guessing: a per-account back-off, a bounded hashing queue, IPv6 clients by their /64,
and limits shared by the workers of one instance."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.lobby.sse import EventStream
from tests.lobby.test_rate_limits import limited
from tests.support.lobby import PASSWORD, new_player, unique

GENEROUS = "100000/minute"
REDIS_DB = 10
BEHIND_PROXY = {"LOBBY_FORWARDED_ALLOW_IPS": "127.0.0.1"}


def log_in(client: httpx.Client, name: str, password: str, address: str = "203.0.113.1") -> httpx.Response:
    return client.post(
        "/v1/sessions", json={"name": name, "password": password}, headers={"X-Forwarded-For": address}
    )


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_guesses_from_thirty_addresses_at_one_account_are_mostly_not_checked(request, start_lobby, store):
    env = {**BEHIND_PROXY, "LOBBY_LOGIN_FREE_FAILURES": "3", "LOBBY_LOGIN_WAIT_S": "60"}
    if store == "redis":
        env["LOBBY_STORE"] = request.getfixturevalue("redis_server").url(REDIS_DB)
    lobby = limited(start_lobby, env, per_address=GENEROUS, login=GENEROUS)
    with httpx.Client(base_url=lobby.url, timeout=30) as client:
        victim = new_player(client)
        statuses = [
            log_in(client, victim.name, f"guess-{n:04d}", f"198.51.100.{n % 30}").status_code
            for n in range(300)
        ]
        refused = log_in(client, victim.name, PASSWORD, "192.0.2.7")
    assert statuses[:4] == [401] * 4  # three free failures, and the one that starts the wait
    assert set(statuses[4:]) == {429}
    assert refused.status_code == 429
    assert refused.json()["reason"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_the_wait_doubles_per_checked_failure_ends_by_itself_and_a_success_clears_it(start_lobby):
    env = {"LOBBY_LOGIN_FREE_FAILURES": "1", "LOBBY_LOGIN_WAIT_S": "1", "LOBBY_LOGIN_MAX_WAIT_S": "60"}
    lobby = limited(start_lobby, env, per_address=GENEROUS, login=GENEROUS)
    with httpx.Client(base_url=lobby.url, timeout=30) as client:
        player = new_player(client)
        assert log_in(client, player.name, "wrong-one").status_code == 401  # free
        assert log_in(client, player.name, "wrong-two").status_code == 401  # waits 1 s
        waits = [log_in(client, player.name, "wrong-while-waiting") for _ in range(10)]
        assert {r.status_code for r in waits} == {429}
        assert {r.headers["retry-after"] for r in waits} == {"1"}, "refused guesses must not extend it"
        time.sleep(1.5)
        assert log_in(client, player.name, "wrong-three").status_code == 401  # waits 2 s
        assert log_in(client, player.name, PASSWORD).headers["retry-after"] == "2"
        time.sleep(2.5)
        assert log_in(client, player.name, PASSWORD).status_code == 200
        assert log_in(client, player.name, "wrong-again").status_code == 401  # free again


def test_an_unknown_name_is_throttled_like_a_known_one(start_lobby):
    env = {"LOBBY_LOGIN_FREE_FAILURES": "2", "LOBBY_LOGIN_WAIT_S": "60"}
    lobby = limited(start_lobby, env, per_address=GENEROUS, login=GENEROUS)
    with httpx.Client(base_url=lobby.url, timeout=30) as client:
        known = new_player(client).name
        answers = {
            name: [log_in(client, name, "wrong-password").status_code for _ in range(5)]
            for name in (known, unique("nobody"))
        }
    known_answers, unknown_answers = answers.values()
    assert known_answers == unknown_answers == [401, 401, 401, 429, 429]


async def concurrent_log_ins(url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return await asyncio.gather(
            *(client.post("/v1/sessions", json={"name": unique("nobody"), "password": PASSWORD})
              for _ in range(count))
        )


def test_a_flood_of_log_ins_is_refused_at_once_beyond_the_hashing_queue(start_lobby):
    lobby = start_lobby(LOBBY_PASSWORD_HASH_QUEUE="4")
    answers = asyncio.run(concurrent_log_ins(lobby.url, 40))
    statuses = sorted(r.status_code for r in answers)
    busy = [r for r in answers if r.status_code == 503]
    assert set(statuses) == {401, 503}, statuses
    assert 6 <= statuses.count(401) < 40
    assert {r.json()["reason"] for r in busy} == {"unavailable"}
    assert {r.headers["retry-after"] for r in busy} == {"1"}


def test_ipv6_clients_of_one_slash_64_share_a_bucket(start_lobby):
    lobby = limited(start_lobby, BEHIND_PROXY, per_address="3/minute")
    with httpx.Client(base_url=lobby.url, timeout=10) as client:
        def status(address: str) -> int:
            return client.get("/healthz", headers={"X-Forwarded-For": address}).status_code

        same_64 = [status(f"2001:db8:0:7::{n:x}") for n in range(1, 5)]
        assert same_64 == [200, 200, 200, 429]
        assert status("2001:db8:0:8::1") == 200  # the next /64 is another subscriber
        assert status("::ffff:203.0.113.5") == 200
        assert [status("203.0.113.5") for _ in range(3)] == [200, 200, 429]  # the same IPv4 client


def test_three_workers_with_in_memory_limits_let_only_the_limit_through(start_lobby, tmp_path):
    lobby = start_lobby(
        tmp_path / "workers",
        LOBBY_RATE_LIMITS_ENABLED="true",
        LOBBY_RATE_LIMIT_LOGIN="10/minute",
        LOBBY_RATE_LIMIT_STORAGE="memory://",
    )
    lobby.stop()
    lobby.serve_args = ("--workers", "3")
    lobby.start()
    since = len(lobby.logs())
    with httpx.Client(base_url=lobby.url, timeout=30, headers={"Connection": "close"}) as client:
        statuses = [
            client.post("/v1/sessions", json={"name": unique("nobody"), "password": PASSWORD}).status_code
            for _ in range(40)
        ]
    assert statuses.count(429) == 30, statuses
    assert len(lobby.pids_that_served("/v1/sessions", since=since)) >= 2, "the attempts met several workers"


def test_three_workers_share_the_event_stream_cap_of_an_address(start_lobby, tmp_path):
    lobby = start_lobby(
        tmp_path / "streams",
        LOBBY_RATE_LIMITS_ENABLED="true",
        LOBBY_RATE_LIMIT_PER_ADDRESS=GENEROUS,
        LOBBY_EVENT_STREAMS_PER_ADDRESS="2",
        LOBBY_EVENTS_PING_S="0.5",
    )
    lobby.stop()
    lobby.serve_args = ("--workers", "3")
    lobby.start()
    streams = [EventStream(lobby.url) for _ in range(6)]  # each on a connection of its own
    try:
        assert sorted(s.status for s in streams) == [200, 200, 429, 429, 429, 429]
    finally:
        for stream in streams:
            stream.close()
