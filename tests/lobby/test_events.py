"""GET /v1/events: the game list live over Server-Sent Events, and a player's own join progress."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.lobby.sse import HOSTILE_EVENT_IDS, EventStream, Sse
from tests.support.lobby import (
    ADMIN,
    PASSWORD,
    LobbyProcess,
    LoggedIn,
    add_server,
    join,
    new_player,
    unique,
)

HISTORY = 30
LIVE_S = 1.0


@pytest.fixture(scope="module")
def events_lobby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LobbyProcess]:
    """A lobby with short pings, a short history and short-lived join tokens."""
    process = LobbyProcess(
        tmp_path_factory.mktemp("events"),
        {
            "LOBBY_EVENTS_PING_S": "0.3",
            "LOBBY_EVENTS_HISTORY": str(HISTORY),
            "LOBBY_EVENTS_SWEEP_S": "0.2",
            "LOBBY_JOIN_TOKEN_TTL_S": "3",
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture
def client(events_lobby: LobbyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=events_lobby.url, timeout=10) as c:
        yield c


def game_event(server_id: str, **fields: object) -> object:
    """A test matching the `game` event of `server_id` with these fields."""

    def test(e: Sse) -> bool:
        return e.name == "game" and e.data["id"] == server_id and fields.items() <= e.data.items()

    return test


def test_a_stream_starts_with_a_snapshot_of_every_game(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client, capacity=4)
    with EventStream(events_lobby.url) as stream:
        assert stream.headers is not None
        assert stream.headers["content-type"].startswith("text/event-stream")
        first = stream.next()
    assert first.name == "snapshot"
    assert first.id
    view = next(g for g in first.data["games"] if g["id"] == server.id)
    assert view == {
        "id": server.id,
        "name": view["name"],
        "address": server.address,
        "capacity": 4,
        "players": 0,
        "reserved": 0,
        "status": "online",
    }


def test_a_registered_server_shows_up_live_within_a_second(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    with EventStream(events_lobby.url) as stream:
        stream.next()
        started = time.monotonic()
        name = unique("live")
        body = {"name": name, "address": "127.0.0.1:7777", "capacity": 3}
        r = client.post("/v1/servers", json=body, headers=ADMIN)
        event, _ = stream.until(game_event(r.json()["id"], name=name), LIVE_S)
    assert time.monotonic() - started < LIVE_S
    assert event.data["capacity"] == 3


def test_heartbeats_joins_redemptions_and_removals_are_pushed(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client, capacity=2)
    player = new_player(client)
    with EventStream(events_lobby.url) as stream:
        stream.next()
        client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 1}, headers=server.auth)
        stream.until(game_event(server.id, players=1, status="online"), LIVE_S)
        token = join(client, player, server)
        stream.until(game_event(server.id, players=1, reserved=1, status="full"), LIVE_S)
        r = client.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
        assert r.status_code == 200
        stream.until(game_event(server.id, players=2, reserved=0, status="full"), LIVE_S)
        client.post(f"/v1/servers/{server.id}/leave", json={"player": player.id}, headers=server.auth)
        stream.until(game_event(server.id, players=1, status="online"), LIVE_S)
        assert client.delete(f"/v1/servers/{server.id}", headers=ADMIN).status_code == 204
        removed, _ = stream.until(lambda e: e.name == "game_removed", LIVE_S)
    assert removed.data == {"id": server.id}


def test_an_expired_reservation_is_pushed_without_any_request(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client, capacity=5)
    player = new_player(client)
    with EventStream(events_lobby.url) as stream:
        stream.next()
        join(client, player, server)
        stream.until(game_event(server.id, reserved=1), LIVE_S)
        stream.until(game_event(server.id, reserved=0), 3 + LIVE_S)


def test_last_event_id_resumes_with_the_missed_events(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client)
    with EventStream(events_lobby.url) as stream:
        stream.next()
        client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 1}, headers=server.auth)
        seen, _ = stream.until(game_event(server.id, players=1), LIVE_S)
    for players in (2, 3):
        client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": players}, headers=server.auth)
    time.sleep(0.3)
    with EventStream(events_lobby.url, {"Last-Event-ID": seen.id or ""}) as stream:
        first = stream.next()
        second, _ = stream.until(game_event(server.id, players=3), LIVE_S)
    assert first.name == "game"
    assert first.data["players"] == 2
    assert first.id != seen.id
    assert second.id != first.id


def test_a_too_old_or_unknown_last_event_id_gets_a_reset(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client)
    with EventStream(events_lobby.url) as stream:
        old = stream.next().id
    for players in range(1, HISTORY + 5):
        client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": players}, headers=server.auth)
        time.sleep(0.01)
    time.sleep(0.3)
    for last_id in (old, "no-such-id", "x", *HOSTILE_EVENT_IDS):
        with EventStream(events_lobby.url, {"Last-Event-ID": last_id or ""}) as stream:
            reset = stream.next()
        assert reset.name == "reset", last_id
        assert server.id in [g["id"] for g in reset.data["games"]]


def test_a_logged_out_sessions_stream_ends_instead_of_passing_on_that_players_join(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client)
    player = new_player(client)
    other_device = new_player_session(client, player)
    token = join(client, player, server)
    with (
        EventStream(events_lobby.url, player.auth) as ended,
        EventStream(events_lobby.url, other_device) as still_in,
    ):
        ended.next()
        still_in.next()
        assert client.delete("/v1/sessions/current", headers=player.auth).status_code == 204
        assert client.post("/v1/joins/ack", json={"token": token}).status_code == 202
        received, _ = still_in.until(lambda e: e.name == "join", LIVE_S)
        assert received.data["state"] == "received"
        with pytest.raises(EOFError):
            ended.until(lambda e: e.name == "join", LIVE_S)


def new_player_session(client: httpx.Client, player: LoggedIn) -> dict[str, str]:
    """Another session of the same player (another device): its Authorization header."""
    r = client.post("/v1/sessions", json={"name": player.name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_an_idle_stream_gets_keep_alive_pings(events_lobby: LobbyProcess) -> None:
    with EventStream(events_lobby.url) as stream:
        stream.next()
        assert stream.next(timeout_s=1.0, pings=True).name in ("ping", "game")
        pings = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and pings < 2:
            pings += stream.next(timeout_s=1.0, pings=True).name == "ping"
    assert pings >= 2


def _marker(client: httpx.Client, streams: list[EventStream]) -> list[list[Sse]]:
    """Register a server and return what each stream saw before its `game` event."""
    name = unique("marker")
    r = client.post(
        "/v1/servers", json={"name": name, "address": "127.0.0.1:7000", "capacity": 1}, headers=ADMIN
    )
    return [s.until(game_event(r.json()["id"], name=name), LIVE_S)[1] for s in streams]


def test_join_progress_reaches_only_that_players_streams(
    events_lobby: LobbyProcess, client: httpx.Client
) -> None:
    server = add_server(client)
    alice, bob = new_player(client), new_player(client)
    cookie = {"Cookie": f"playlink_session={alice.session}"}
    streams = [
        EventStream(events_lobby.url, cookie),
        EventStream(events_lobby.url, alice.auth),
        EventStream(events_lobby.url, bob.auth),
        EventStream(events_lobby.url),
    ]
    try:
        for s in streams:
            s.next()
        token = join(client, alice, server)
        r = client.post("/v1/joins/ack", json={"token": token})
        assert r.status_code == 202
        assert r.json() == {"state": "received"}
        for s in streams[:2]:
            received, _ = s.until(lambda e: e.name == "join", LIVE_S)
            assert received.data["state"] == "received"
            assert received.data["game"] == server.id
        client.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)
        for s in streams[:2]:
            joined, _ = s.until(lambda e: e.name == "join", LIVE_S)
            assert joined.data == {**received.data, "state": "joined"}
        for seen in _marker(client, streams[2:]):
            assert [e for e in seen if e.name == "join"] == []
    finally:
        for s in streams:
            s.close()


def test_a_dead_session_streams_as_anonymous(events_lobby: LobbyProcess) -> None:
    with EventStream(events_lobby.url, {"Authorization": "Bearer not-a-session"}) as stream:
        assert stream.status == 200
        assert stream.next().name == "snapshot"


def test_streams_end_promptly_when_the_lobby_stops(start_lobby: object) -> None:
    lobby = start_lobby()  # type: ignore[operator]
    streams = [EventStream(lobby.url) for _ in range(3)]
    for s in streams:
        s.next()
    started = time.monotonic()
    lobby.stop()
    assert all(s.ended_within(3.0) for s in streams)
    assert time.monotonic() - started < 3.0
    assert "Application shutdown complete" in lobby.logs()

