"""Faults with two lobbies on one Redis: Redis restarted under load, and a game server that dies.

The third fault of issue 6, game servers admitting players by offline verification while the lobby
is down, is the client SDK's: `tests/client_sdk/test_offline.py`.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis

from tests.lobby.sse import EventStream
from tests.support.lobby import LobbyProcess, LoggedIn, Server, add_server, new_player
from tests.support.redis import RedisProcess, start_pair

HEARTBEAT_TIMEOUT_S = 3
GENEROUS = "100000/minute"
WORKERS = 6
OUTAGE_S = 1.5
RECOVERY_S = 5.0


@pytest.fixture(scope="module")
def redis_db(tmp_path_factory) -> Iterator[RedisProcess]:
    """A Redis of this module's own that writes a snapshot when stopped, so a restart keeps its data."""
    process = RedisProcess(tmp_path_factory.mktemp("faults-redis")).start()
    with redis.Redis(port=process.port) as client:
        client.config_set("save", "3600 1")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pair(redis_db, tmp_path_factory) -> Iterator[tuple[LobbyProcess, LobbyProcess]]:
    """A without rate limits, B with (generous) ones, so both paths meet the outage."""
    env = {"LOBBY_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S), "LOBBY_EVENTS_PING_S": "0.3"}
    limits = {
        "LOBBY_RATE_LIMITS_ENABLED": "true",
        **{f"LOBBY_RATE_LIMIT_{p}": GENEROUS for p in ("PER_ADDRESS", "PER_PLAYER", "PER_SERVER", "LOGIN")},
    }
    a, b = start_pair(redis_db.url(), tmp_path_factory.mktemp("faults"), env, limits)
    yield a, b
    b.stop()
    a.stop()


def status_of(api: httpx.Client, server_id: str) -> str:
    """A game's status as `GET /v1/games/{id}` shows it."""
    r = api.get(f"/v1/games/{server_id}")
    assert r.status_code == 200, r.text
    return r.json()["status"]


def test_a_server_that_stops_heartbeating_goes_offline_and_the_others_stay_joinable(pair) -> None:
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=10) as api_a, httpx.Client(base_url=b.url, timeout=10) as api_b:
        dead, alive = add_server(api_a), add_server(api_a)
        player = new_player(api_b)
        with EventStream(b.url) as stream:
            stream.next()
            deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S + 3
            while status_of(api_b, dead.id) != "offline":
                assert time.monotonic() < deadline, "a silent server stayed online"
                r = api_a.put(f"/v1/servers/{alive.id}/heartbeat", json={"players": 0}, headers=alive.auth)
                assert r.status_code == 200
                time.sleep(0.3)
            offline = {"id": dead.id, "status": "offline"}
            stream.until(lambda e: e.name == "game" and offline.items() <= e.data.items())
        assert status_of(api_a, alive.id) == "online"
        assert api_a.post(f"/v1/games/{alive.id}/join", headers=player.auth).status_code == 201
        refused = api_b.post(f"/v1/games/{dead.id}/join", headers=player.auth)
        assert refused.status_code == 409
        assert refused.json()["reason"] == "server_offline"


@dataclass
class Load:
    """Joins, redemptions and list calls from several threads against A and B, with what came back."""

    urls: tuple[str, str]
    server: Server
    players: list[LoggedIn]
    phase: str = "before"
    statuses: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)
    unexpected: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    redeemed: collections.Counter[str] = field(default_factory=collections.Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, response: httpx.Response) -> None:
        """Count one answer; a 503 must say `unavailable`, and nothing may be a 500."""
        with self.lock:
            self.statuses[(self.phase, what, response.status_code)] += 1
            if response.status_code >= 500 and (
                response.status_code != 503 or response.json().get("reason") != "unavailable"
            ):
                self.unexpected.append(f"{what}: {response.status_code} {response.text[:200]}")

    def work(self, n: int) -> None:
        """One worker: join through one instance, redeem through the other, list games."""
        player = self.players[n]
        clients = [httpx.Client(base_url=url, timeout=10) for url in self.urls]
        try:
            for turn in itertools.count():
                if self.stop.is_set():
                    return
                here, there = clients[turn % 2], clients[(turn + 1) % 2]
                joined = here.post(f"/v1/games/{self.server.id}/join", headers=player.auth)
                self.note("join", joined)
                if joined.status_code == 201:
                    token = joined.json()["token"]
                    with self.lock:
                        self.tokens.append(token)
                    body = {"token": token}
                    redeemed = there.post("/v1/tokens/redeem", json=body, headers=self.server.auth)
                    self.note("redeem", redeemed)
                    if redeemed.status_code == 200:
                        with self.lock:
                            self.redeemed[token] += 1
                self.note("list", here.get("/v1/games"))
        except httpx.HTTPError as exc:
            self.unexpected.append(f"worker {n}: {type(exc).__name__}")
        finally:
            for client in clients:
                client.close()

    def heartbeat(self) -> None:
        """The game server keeps heartbeating through A, outage or not."""
        with httpx.Client(base_url=self.urls[0], timeout=10) as client:
            while not self.stop.wait(0.3):
                r = client.put(f"/v1/servers/{self.server.id}/heartbeat", json={"players": 0},
                               headers=self.server.auth)
                self.note("heartbeat", r)

    def count(self, phase: str, status: int, what: str | None = None) -> int:
        """How many answers of `phase` (and kind `what`) had `status`."""
        found = self.statuses.items()
        return sum(n for (p, w, s), n in found if p == phase and s == status and what in (None, w))


def wait_ready(urls: tuple[str, ...], within_s: float) -> float:
    """Seconds until every lobby's `/readyz` says 200."""
    start = time.monotonic()
    for url in urls:
        while httpx.get(url + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() - start < within_s, f"{url} did not recover"
            time.sleep(0.05)
    return time.monotonic() - start


def test_redis_restarted_under_load_gives_503s_then_recovers_and_never_redeems_twice(pair, redis_db) -> None:
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=10) as api:
        server = add_server(api, capacity=1000)
        players = [new_player(api) for _ in range(WORKERS)]
    load = Load((a.url, b.url), server, players)
    threads = [threading.Thread(target=load.work, args=(n,)) for n in range(WORKERS)]
    threads.append(threading.Thread(target=load.heartbeat))
    stream = EventStream(b.url)
    try:
        assert stream.next().name == "snapshot"
        for thread in threads:
            thread.start()
        time.sleep(1.0)

        load.phase = "down"
        redis_db.stop()
        time.sleep(OUTAGE_S)
        for url in (a.url, b.url):
            ready = httpx.get(url + "/readyz", timeout=5)
            assert (ready.status_code, ready.json()["reason"]) == (503, "unavailable")
            assert httpx.get(url + "/healthz", timeout=5).status_code == 200
            refused = httpx.get(url + "/v1/events", timeout=5)
            assert (refused.status_code, refused.json()["reason"]) == (503, "unavailable")

        redis_db.start()
        load.phase = "recovering"
        wait_ready((a.url, b.url), RECOVERY_S)
        stream.until(lambda e: e.name == "reset", RECOVERY_S)
        load.phase = "after"
        time.sleep(1.5)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(30)
        stream.close()

    assert load.unexpected == []
    assert load.count("down", 503) >= 10
    assert load.count("down", 200) + load.count("down", 201) <= load.count("down", 503)
    assert load.count("after", 201, "join") > 0
    assert load.count("after", 200, "redeem") > 0
    assert load.count("after", 503) == 0

    with httpx.Client(timeout=10) as client:
        for token in load.tokens:
            for url in (a.url, b.url):
                r = client.post(url + "/v1/tokens/redeem", json={"token": token}, headers=server.auth)
                assert r.status_code in (200, 401, 409), r.text
                if r.status_code == 200:
                    load.redeemed[token] += 1
    assert load.tokens
    assert max(load.redeemed.values()) == 1


def test_a_frozen_redis_gives_prompt_503s_not_hung_requests_and_the_lobby_recovers(pair, redis_db) -> None:
    """SIGSTOP keeps Redis's sockets open but answers nothing: only the lobby's deadlines end the wait."""
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=10) as api:
        server = add_server(api, capacity=100)
        player = new_player(api)
    os.kill(redis_db.process.pid, signal.SIGSTOP)
    try:
        for url in (a.url, b.url):  # A: the store's deadline; B: the rate limiter's first
            started = time.monotonic()
            r = httpx.post(f"{url}/v1/games/{server.id}/join", headers=player.auth, timeout=10)
            waited = time.monotonic() - started
            assert (r.status_code, r.json()["reason"]) == (503, "unavailable"), r.text
            assert waited < 4.0
            assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    finally:
        os.kill(redis_db.process.pid, signal.SIGCONT)
    wait_ready((a.url, b.url), RECOVERY_S)
    beat = httpx.put(f"{b.url}/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
    assert beat.status_code == 200, beat.text
    r = httpx.post(f"{a.url}/v1/games/{server.id}/join", headers=player.auth, timeout=10)
    assert r.status_code == 201, r.text
