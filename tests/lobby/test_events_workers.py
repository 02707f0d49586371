"""One lobby with `--workers 2` on SQLite: a player's join progress reaches every stream, on any
worker, and a log-out reaches every worker's session cache."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.lobby.sse import EventStream, Sse
from tests.support.lobby import LobbyProcess, add_server, join, new_player, redeem

STREAMS = 4
MAX_STREAMS = 40  # the kernel may hand a burst of connections to one worker: keep opening
WAIT_S = 5.0
BUS_DELAY_S = 1.0  # the SQLite bus polls every 50 ms; the session cache trusts for 5 s


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LobbyProcess]:
    """A lobby serving with two worker processes on one SQLite file."""
    process = LobbyProcess(tmp_path_factory.mktemp("workers"), serve_args=("--workers", "2")).start()
    yield process
    process.stop()


def fresh(lobby: LobbyProcess) -> httpx.Client:
    """A client that opens a new connection per request, so requests spread over the workers."""
    return httpx.Client(base_url=lobby.url, timeout=10, headers={"Connection": "close"})


def open_streams_on_both_workers(
    lobby: LobbyProcess, headers: dict[str, str]
) -> tuple[list[EventStream], list[Sse]]:
    """Open streams (each its own connection) until both workers hold some; the streams and their
    first events."""
    streams: list[EventStream] = []
    firsts: list[Sse] = []
    while len(streams) < MAX_STREAMS:
        streams.append(EventStream(lobby.url, headers))
        firsts.append(streams[-1].next(WAIT_S))
        if len(streams) >= STREAMS and len(lobby.connections_by_worker()) == 2:
            return streams, firsts
    for stream in streams:
        stream.close()
    pytest.fail("every event stream landed on one worker")


def join_events(stream: EventStream, count: int) -> list[Sse]:
    """The next `count` `join` events of a stream, skipping game events."""
    return [stream.until(lambda e: e.name == "join", WAIT_S)[0] for _ in range(count)]


def test_every_stream_of_the_player_gets_received_then_joined_whatever_its_worker(
    workers: LobbyProcess,
) -> None:
    with fresh(workers) as client:
        server = add_server(client)
        player = new_player(client)
        token = join(client, player, server)
    streams, firsts = open_streams_on_both_workers(workers, player.auth)
    assert {e.name for e in firsts} == {"snapshot"}
    try:
        with fresh(workers) as client:
            r = client.post("/v1/joins/ack", json={"token": token})
            assert r.status_code == 202, r.text
            assert redeem(client, server, token).status_code == 200
        got = [join_events(stream, 2) for stream in streams]
    finally:
        for stream in streams:
            stream.close()
    for received, joined in got:
        assert (received.data["state"], joined.data["state"]) == ("received", "joined")
        assert received.data["game"] == joined.data["game"] == server.id
        assert int(received.id or 0) < int(joined.id or 0)
    assert len({(received.id, joined.id) for received, joined in got}) == 1, "ids differ per worker"


def test_a_stream_resuming_on_any_worker_gets_the_join_events_it_missed(workers: LobbyProcess) -> None:
    with fresh(workers) as client:
        server = add_server(client)
        player = new_player(client)
        token = join(client, player, server)
    with EventStream(workers.url, player.auth) as first:
        last_id = first.next(WAIT_S).id
    assert last_id is not None
    with fresh(workers) as client:
        assert client.post("/v1/joins/ack", json={"token": token}).status_code == 202
        assert redeem(client, server, token).status_code == 200
    resumed, firsts = open_streams_on_both_workers(workers, {**player.auth, "Last-Event-ID": last_id})
    try:
        for stream, first_event in zip(resumed, firsts, strict=True):
            assert first_event.name not in ("snapshot", "reset"), first_event
            missed = [first_event] if first_event.name == "join" else []
            missed += join_events(stream, 2 - len(missed))
            assert [e.data["state"] for e in missed] == ["received", "joined"]
    finally:
        for stream in resumed:
            stream.close()


def test_another_players_stream_gets_no_join_events(workers: LobbyProcess) -> None:
    with fresh(workers) as client:
        server = add_server(client)
        player, other = new_player(client), new_player(client)
        token = join(client, player, server)
    streams, _firsts = open_streams_on_both_workers(workers, other.auth)
    try:
        with fresh(workers) as client:
            assert client.post("/v1/joins/ack", json={"token": token}).status_code == 202
        for stream in streams:
            with pytest.raises(TimeoutError):
                stream.until(lambda e: e.name == "join", 0.5)
    finally:
        for stream in streams:
            stream.close()


def answers_from_both_workers(lobby: LobbyProcess, player_auth: dict[str, str]) -> set[int]:
    """`GET /v1/players/me` until both workers answered; the statuses seen."""
    return set(lobby.statuses_until_every_worker_answers("/v1/players/me", player_auth))


def test_a_log_out_on_one_worker_ends_the_session_on_every_worker(workers: LobbyProcess) -> None:
    with fresh(workers) as client:
        player = new_player(client)
    assert answers_from_both_workers(workers, player.auth) == {200}, "both workers cache it"
    with fresh(workers) as client:
        assert client.delete("/v1/sessions/current", headers=player.auth).status_code == 204
    time.sleep(BUS_DELAY_S)
    assert answers_from_both_workers(workers, player.auth) == {401}
