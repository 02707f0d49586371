"""GET /metrics: requests by route template and status, tokens, refusals, rate limits, event
subscribers and store latency, in the Prometheus text format, for loopback or the operator only."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lobby.app import create_app
from lobby.metrics import Metrics, timed_store
from lobby.metrics_dir import remove_abandoned
from lobby.settings import Settings
from lobby.store import SqliteStore
from tests.lobby.sse import EventStream
from tests.support.lobby import (
    ADMIN,
    ADMIN_TOKEN,
    PASSWORD,
    LobbyProcess,
    add_server,
    join,
    new_player,
    redeem,
)

REMOTE = ("203.0.113.9", 1234)
LOOPBACK = ("127.0.0.1", 1234)
WAIT_S = 5.0


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, keyed by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(lobby: LobbyProcess) -> str:
    """The lobby's metrics, fetched over loopback."""
    r = httpx.get(lobby.url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return r.text


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("LOBBY_")]:
        monkeypatch.delenv(name)


@contextlib.asynccontextmanager
async def in_process(settings: Settings, client: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    """An app with its lifespan running, called in-process as if from `client`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://lobby.test") as http:
            yield http


@pytest.fixture
def fresh(start_lobby: object) -> LobbyProcess:
    """A lobby of its own, so that its counters start at zero."""
    return start_lobby()  # type: ignore[operator]


def test_a_join_a_redemption_a_replay_and_a_forgery_are_counted(fresh: LobbyProcess) -> None:
    with httpx.Client(base_url=fresh.url, timeout=10) as api:
        server, player = add_server(api), new_player(api)
        token = join(api, player, server)
        assert redeem(api, server, token).status_code == 200
        assert redeem(api, server, token).status_code == 409
        assert redeem(api, server, "not-a-token").json()["reason"] == "malformed"
    text = scrape(fresh)

    assert value(text, "playlink_tokens_issued_total") == 1
    assert value(text, "playlink_tokens_redeemed_total") == 1
    assert value(text, "playlink_tokens_refused_total", reason="replayed") == 1
    assert value(text, "playlink_tokens_refused_total", reason="malformed") == 1
    requests = "playlink_http_requests_total"
    join_route = {"route": "/v1/games/{game_id}/join", "method": "POST"}
    assert value(text, requests, status="201", **join_route) == 1
    redeem_route = {"route": "/v1/tokens/redeem", "method": "POST"}
    assert value(text, requests, status="200", **redeem_route) == 1
    assert value(text, requests, status="409", **redeem_route) == 1
    assert value(text, requests, status="401", **redeem_route) == 1
    assert value(text, "playlink_http_request_duration_seconds_count", **join_route) == 1
    for operation in ("reserve", "redeem", "create_player"):
        assert value(text, "playlink_store_operation_seconds_count", operation=operation) >= 1
    assert value(text, "process_resident_memory_bytes") > 0, "one worker: its own process metrics"


def test_metrics_label_requests_by_route_template_never_by_raw_id(fresh: LobbyProcess) -> None:
    with httpx.Client(base_url=fresh.url, timeout=10) as api:
        server = add_server(api)
        assert api.get(f"/v1/games/{server.id}").status_code == 200
        assert api.get("/v1/games/no-such-game").status_code == 404
        assert api.get("/no/such/path").status_code == 404
    text = scrape(fresh)

    assert server.id not in text
    assert "no-such-game" not in text
    game = {"route": "/v1/games/{game_id}", "method": "GET"}
    assert value(text, "playlink_http_requests_total", status="200", **game) == 1
    assert value(text, "playlink_http_requests_total", status="404", **game) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(text, "playlink_http_requests_total", **unmatched) == 1
    heartbeat = {"route": "/v1/servers/{server_id}/heartbeat", "method": "PUT", "status": "200"}
    assert value(text, "playlink_http_requests_total", **heartbeat) == 1


def test_made_up_methods_add_no_series_even_when_refused(start_lobby: object) -> None:
    lobby = start_lobby(  # type: ignore[operator]
        LOBBY_RATE_LIMITS_ENABLED="true", LOBBY_RATE_LIMIT_PER_ADDRESS="1000/minute"
    )
    other_address = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=lobby.url, timeout=10, transport=other_address) as watcher:
        before = watcher.get("/metrics").text
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        statuses = {api.request(f"BREW{i}", "/v1/games").status_code for i in range(2000)}
    with httpx.Client(base_url=lobby.url, timeout=10, transport=other_address) as watcher:
        after = watcher.get("/metrics").text

    assert statuses == {405, 429}, "some answered, some refused by the rate limit"
    assert "BREW" not in after
    new_series = set(samples(after)) - set(samples(before))
    assert len(new_series) < 60, sorted(new_series)
    assert len(after) < len(before) + 20_000
    methods = {dict(labels)["method"] for _name, labels in samples(after) if "method" in dict(labels)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "other"}
    games = {"route": "/v1/games", "method": "other"}
    counted = sum(value(after, "playlink_http_requests_total", status=s, **games) for s in ("405", "429"))
    assert counted == 2000


def test_an_event_subscriber_is_counted_while_its_stream_is_open(start_lobby: object) -> None:
    fresh = start_lobby(LOBBY_EVENTS_PING_S="0.2")  # type: ignore[operator]  # a ping finds the hang-up
    with EventStream(fresh.url) as stream:
        assert stream.next().name == "snapshot"
        text = scrape(fresh)
        assert value(text, "playlink_event_subscribers") == 1
        started = {"route": "/v1/events", "method": "GET", "status": "200"}
        assert value(text, "playlink_http_requests_total", **started) == 1
    deadline = time.monotonic() + WAIT_S
    while value(scrape(fresh), "playlink_event_subscribers") != 0:
        assert time.monotonic() < deadline, "the closed stream is still counted"
        time.sleep(0.05)


def test_rate_limited_calls_are_counted_by_policy(start_lobby: object) -> None:
    lobby = start_lobby(  # type: ignore[operator]
        LOBBY_RATE_LIMITS_ENABLED="true", LOBBY_RATE_LIMIT_LOGIN="2/minute"
    )
    body = {"name": "nobody-here", "password": PASSWORD}
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        statuses = [api.post("/v1/sessions", json=body).status_code for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    text = scrape(lobby)

    assert value(text, "playlink_rate_limited_total", policy="login") == 2
    login = {"route": "/v1/sessions", "method": "POST"}
    assert value(text, "playlink_http_requests_total", status="429", **login) == 2
    assert value(text, "playlink_http_requests_total", status="401", **login) == 2


async def test_metrics_are_refused_to_a_remote_client_without_the_admin_token(
    clean_env: None, tmp_path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN)
    async with in_process(settings, REMOTE) as remote:
        for headers in ({}, {"Authorization": "Bearer not-the-admin-token"}):
            r = await remote.get("/metrics", headers=headers)
            assert r.status_code == 401
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["reason"] == "unauthorized"
        r = await remote.get("/metrics", headers=ADMIN)
        assert r.status_code == 200
        assert "playlink_http_requests_total" in r.text


async def test_without_an_admin_token_metrics_are_for_loopback_only(clean_env: None, tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with in_process(settings, REMOTE) as remote:
        r = await remote.get("/metrics")
        assert r.status_code == 403
        assert r.json()["reason"] == "forbidden"
    async with in_process(settings, LOOPBACK) as local:
        assert (await local.get("/metrics")).status_code == 200


async def test_metrics_are_left_out_of_the_openapi_schema(clean_env: None, tmp_path) -> None:
    async with in_process(Settings(data_dir=tmp_path / "data"), LOOPBACK) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths
    assert "/v1/games/{game_id}/join" in paths


async def test_two_apps_in_one_process_count_separately(clean_env: None, tmp_path) -> None:
    one = Settings(data_dir=tmp_path / "one")
    two = Settings(data_dir=tmp_path / "two")
    async with in_process(one, LOOPBACK) as first, in_process(two, LOOPBACK) as second:
        for _ in range(3):
            await first.get("/healthz")
        await second.get("/healthz")
        counted = [
            value((await app.get("/metrics")).text, "playlink_http_requests_total",
                  route="/healthz", method="GET", status="200")
            for app in (first, second)
        ]
    assert counted == [3, 1]


async def test_the_timed_store_records_each_operation_and_passes_results_on(tmp_path) -> None:
    metrics = Metrics()
    store = timed_store(SqliteStore(tmp_path / "lobby.db"), metrics)
    await store.open()
    try:
        assert await store.list_servers(0.0) == []
        await store.ping()
    finally:
        await store.close()
    text = metrics.render().decode()
    for operation in ("open", "list_servers", "ping", "close"):
        assert value(text, "playlink_store_operation_seconds_count", operation=operation) == 1


def environ_of(pid: int) -> list[bytes]:
    """A process's environment entries; none when it is already gone (a child listed as it exits)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def test_with_two_workers_every_scrape_shows_both_and_a_dead_workers_counts_stay(
    tmp_path: Path,
) -> None:
    lobby = LobbyProcess(tmp_path / "data", serve_args=("--workers", "2")).start()
    shared = {
        Path(entry.removeprefix(b"PROMETHEUS_MULTIPROC_DIR=").decode())
        for pid in lobby.workers()
        for entry in environ_of(pid)
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
    }
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    try:
        statuses = lobby.statuses_until_every_worker_answers("/healthz")
        assert set(statuses) == {200}
        sent = len(statuses)
        for _ in range(6):
            text = scrape(lobby)
            assert value(text, "playlink_http_requests_total", **healthz) == sent
            assert value(text, "playlink_http_request_duration_seconds_count",
                         route="/healthz", method="GET") == sent
            assert "process_resident_memory_bytes" not in text

        streams: list[EventStream] = []
        try:
            while len(lobby.connections_by_worker()) < 2:
                assert len(streams) < 12, "every stream landed on one worker"
                streams.append(EventStream(lobby.url))
                assert streams[-1].next(WAIT_S).name == "snapshot"
            for _ in range(6):
                assert value(scrape(lobby), "playlink_event_subscribers") == len(streams)
        finally:
            for stream in streams:
                stream.close()

        victim = min(lobby.workers())
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + WAIT_S * 2
        while victim in lobby.workers() or len(lobby.workers()) < 2:
            assert time.monotonic() < deadline, lobby.logs()
            time.sleep(0.05)
        for _ in range(6):
            assert value(scrape(lobby), "playlink_http_requests_total", **healthz) == sent
    finally:
        lobby.stop()
    assert len(shared) == 1
    assert not shared.pop().exists(), "the supervisor left its metrics directory behind"


METRICS_TOKEN = "metrics-only-token-0123456789"


async def test_the_metrics_token_reads_metrics_from_afar_and_nothing_else(
    clean_env: None, tmp_path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, metrics_token=METRICS_TOKEN,
        rate_limits_enabled=False,
    )
    reader = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with in_process(settings, REMOTE) as remote:
        r = await remote.get("/metrics", headers=reader)
        assert r.status_code == 200, r.text
        assert "playlink_http_requests_total" in r.text
        assert (await remote.get("/metrics", headers=ADMIN)).status_code == 200
        assert (await remote.get("/metrics")).json()["reason"] == "unauthorized"
        body = {"name": "x", "address": "127.0.0.1:7000", "capacity": 4}
        r = await remote.post("/v1/servers", json=body, headers=reader)
        assert r.status_code == 401
        assert r.json()["reason"] == "unauthorized"
        assert (await remote.get("/v1/games")).json() == {"games": []}


async def test_a_metrics_token_alone_opens_metrics_to_its_holder_only(clean_env: None, tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data", metrics_token=METRICS_TOKEN, rate_limits_enabled=False)
    async with in_process(settings, REMOTE) as remote:
        assert (await remote.get("/metrics")).status_code == 401
        r = await remote.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200


@pytest.mark.parametrize("token", ["short", ADMIN_TOKEN], ids=["too-short", "same-as-admin"])
def test_a_weak_or_reused_metrics_token_is_refused(clean_env: None, tmp_path, token: str) -> None:
    with pytest.raises(ValueError, match="LOBBY_METRICS_TOKEN"):
        Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, metrics_token=token)


def metrics_dirs(tmp: Path) -> set[Path]:
    """The supervisors' metrics directories in `tmp`."""
    return set(tmp.glob("playlink-metrics-*"))


def test_a_killed_supervisors_metrics_directory_is_removed_at_the_next_start_and_a_live_ones_kept(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    two = ("--workers", "2")
    killed = LobbyProcess(tmp_path / "killed", {"TMPDIR": str(tmp)}, serve_args=two).start()
    (left,) = metrics_dirs(tmp)
    workers = killed.workers()
    assert killed.process is not None
    killed.process.kill()
    killed.process.wait()
    deadline = time.monotonic() + WAIT_S * 2
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # orphans notice and exit
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert left.exists()
    decoy = tmp / "playlink-metrics-not-a-directory"
    decoy.symlink_to(tmp_path / "killed")

    live = LobbyProcess(tmp_path / "live", {"TMPDIR": str(tmp)}, serve_args=two).start()
    try:
        (live_dir,) = metrics_dirs(tmp) - {decoy}
        assert live_dir != left
        assert f"removed {left}" in live.logs()
        assert (tmp_path / "killed").is_dir()
        single = LobbyProcess(tmp_path / "single", {"TMPDIR": str(tmp)}).start()
        single.stop()
        assert metrics_dirs(tmp) == {live_dir, decoy}, "a running supervisor's directory was removed"
        readyz = {"route": "/readyz", "method": "GET", "status": "200"}
        assert value(scrape(live), "playlink_http_requests_total", **readyz)
    finally:
        live.stop()
    assert metrics_dirs(tmp) == {decoy}


def test_with_no_usable_temp_dir_there_is_nothing_left_to_remove(tmp_path: Path) -> None:
    assert remove_abandoned(tmp_path / "no-such-dir") == []
