"""Two lobby processes on one Redis act as one: live events, join progress and rate limits are shared."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.lobby.sse import HOSTILE_EVENT_IDS, EventStream, Sse
from tests.support.lobby import LobbyProcess, add_server, join, new_player, redeem, unique
from tests.support.redis import start_pair

EVENTS_DB = 2
LIMITS_DB = 3
LIVE_S = 1.0


@pytest.fixture(scope="module")
def pair(redis_server, tmp_path_factory) -> Iterator[tuple[LobbyProcess, LobbyProcess]]:
    """A and B with a sweep too slow to matter: what B's streams see within a second came over Redis."""
    a, b = start_pair(
        redis_server.url(EVENTS_DB), tmp_path_factory.mktemp("scale"), {"LOBBY_EVENTS_SWEEP_S": "60"}
    )
    yield a, b
    b.stop()
    a.stop()


@pytest.fixture
def apis(pair) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    a, b = pair
    with httpx.Client(base_url=a.url, timeout=10) as api_a, httpx.Client(base_url=b.url, timeout=10) as api_b:
        yield api_a, api_b


def game(server_id: str, **fields: object) -> object:
    """A test matching the `game` event of `server_id` with these fields."""
    return lambda e: e.name == "game" and e.data["id"] == server_id and fields.items() <= e.data.items()


def join_event(jti_state: str) -> object:
    """A test matching a `join` event in state `jti_state`."""
    return lambda e: e.name == "join" and e.data["state"] == jti_state


def ack(api: httpx.Client, token: str) -> str:
    """Acknowledge a join as the game client does; the join's state."""
    r = api.post("/v1/joins/ack", json={"token": token})
    assert r.status_code == 202, r.text
    return r.json()["state"]


def remaining(headers: httpx.Headers | None, policy: str) -> int:
    """What `RateLimit` says is left of `policy`."""
    assert headers is not None
    item = next(i for i in headers["ratelimit"].split(", ") if i.startswith(f'"{policy}"'))
    return int(item.split(";r=")[1].split(";")[0])


def ids_increase(events: list[Sse]) -> bool:
    """Whether stream ids (`<ms>-<n>`) increase along `events`."""
    keys = [tuple(int(part) for part in e.id.split("-")) for e in events if e.id]
    return keys == sorted(keys) and len(set(keys)) == len(keys)


def test_a_subscriber_on_b_sees_a_server_registered_through_a_within_a_second(pair, apis) -> None:
    _a, b = pair
    api_a, _ = apis
    with EventStream(b.url) as stream:
        assert stream.next().name == "snapshot"
        server = add_server(api_a, capacity=4)
        seen, _ = stream.until(game(server.id, players=0, status="online"), LIVE_S)
        r = api_a.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 2}, headers=server.auth)
        assert r.status_code == 200
        stream.until(game(server.id, players=2), LIVE_S)
        join(api_a, new_player(api_a), server)
        stream.until(game(server.id, players=2, reserved=1), LIVE_S)
    assert seen.id
    assert seen.id[0].isdigit()


def test_a_change_reaches_a_stream_once_although_both_instances_publish_it(pair, apis) -> None:
    a, _b = pair
    api_a, api_b = apis
    with EventStream(a.url) as stream:
        stream.next()
        server = add_server(api_b)
        stream.until(game(server.id, players=0), LIVE_S)
        r = api_b.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 3}, headers=server.auth)
        assert r.status_code == 200
        api_a.get("/v1/games")
        stream.until(game(server.id, players=3), LIVE_S)
        with pytest.raises(TimeoutError):
            stream.until(game(server.id), 0.5)


def test_a_players_join_progress_reaches_their_streams_on_the_other_instance(pair, apis) -> None:
    a, b = pair
    api_a, api_b = apis
    server = add_server(api_a)
    player = new_player(api_a)
    with EventStream(b.url, player.auth) as on_b, EventStream(a.url, player.auth) as on_a:
        on_b.next()
        on_a.next()
        token = join(api_a, player, server)
        assert ack(api_a, token) == "received"
        received, _ = on_b.until(join_event("received"), LIVE_S)
        assert received.data["game"] == server.id

        assert redeem(api_b, server, token).status_code == 200
        joined, _ = on_a.until(join_event("joined"), LIVE_S)
        assert joined.data == {**received.data, "state": "joined"}
        on_b.until(join_event("joined"), LIVE_S)


def test_another_players_stream_on_the_other_instance_sees_no_join_events(pair, apis) -> None:
    _a, b = pair
    api_a, _ = apis
    server = add_server(api_a)
    player, other = new_player(api_a), new_player(api_a)
    with EventStream(b.url, other.auth) as stream:
        stream.next()
        token = join(api_a, player, server)
        assert ack(api_a, token) == "received"
        with pytest.raises(TimeoutError):
            stream.until(lambda e: e.name == "join", 0.5)


def test_last_event_id_from_a_resumes_at_b_with_exactly_what_was_missed(pair, apis) -> None:
    a, b = pair
    api_a, _ = apis
    first = add_server(api_a)
    with EventStream(a.url) as stream:
        stream.next()
        r = api_a.put(f"/v1/servers/{first.id}/heartbeat", json={"players": 1}, headers=first.auth)
        assert r.status_code == 200
        last, _ = stream.until(game(first.id, players=1), LIVE_S)
    missed = [add_server(api_a, name=unique("missed")) for _ in range(2)]

    with EventStream(b.url, {"Last-Event-ID": last.id}) as resumed:
        events = [resumed.next(LIVE_S) for _ in range(2)]
    assert [e.name for e in events] == ["game", "game"]
    assert [e.data["id"] for e in events] == [s.id for s in missed]
    assert ids_increase([last, *events])


def test_a_resume_at_b_right_after_a_published_resumes_and_hostile_ids_get_reset(pair, apis) -> None:
    a, b = pair
    api_a, _ = apis
    server = add_server(api_a)
    for players in (1, 2, 3):
        with EventStream(a.url) as stream:
            stream.next()
            api_a.put(f"/v1/servers/{server.id}/heartbeat", json={"players": players}, headers=server.auth)
            last, _ = stream.until(game(server.id, players=players), LIVE_S)
        with EventStream(b.url, {"Last-Event-ID": last.id}) as resumed:
            api_a.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 9}, headers=server.auth)
            first = resumed.next(LIVE_S)
            assert (first.name, first.data["players"]) == ("game", 9), first
    for last_id in HOSTILE_EVENT_IDS:
        with EventStream(b.url, {"Last-Event-ID": last_id}) as resumed:
            assert resumed.next(LIVE_S).name == "reset", last_id


def test_a_client_over_its_rate_limit_on_a_is_over_it_on_b(redis_server, tmp_path) -> None:
    a, b = start_pair(
        redis_server.url(LIMITS_DB),
        tmp_path,
        {
            "LOBBY_RATE_LIMITS_ENABLED": "true",
            "LOBBY_RATE_LIMIT_PER_ADDRESS": "10000/minute",
            "LOBBY_RATE_LIMIT_PER_PLAYER": "6/minute",
            "LOBBY_EVENT_STREAMS_PER_ADDRESS": "2",
            "LOBBY_EVENTS_PING_S": "0.2",
        },
    )
    try:
        credential = {"Authorization": f"Bearer {unique('session')}"}
        left = []
        for n in range(6):
            r = httpx.get((a if n % 2 else b).url + "/v1/games", headers=credential)
            assert r.status_code == 200, r.text
            left.append(remaining(r.headers, "player"))
        assert left == [5, 4, 3, 2, 1, 0]
        over = httpx.get(b.url + "/v1/games", headers=credential)
        assert over.status_code == 429
        assert over.json()["reason"] == "rate_limited"
        assert int(over.headers["retry-after"]) >= 1
        assert httpx.get(a.url + "/v1/games", headers=credential).status_code == 429

        with EventStream(a.url), EventStream(b.url), EventStream(a.url) as third:
            assert third.status == 429
            assert remaining(third.headers, "streams") == 0
        deadline = time.monotonic() + 5
        while True:
            with EventStream(b.url) as again:
                if again.status == 200:
                    break
            assert time.monotonic() < deadline, "closed streams did not give their slots back"
            time.sleep(0.1)
    finally:
        b.stop()
        a.stop()


def test_a_log_out_at_a_ends_the_session_that_b_has_cached(apis) -> None:
    api_a, api_b = apis
    player = new_player(api_a)
    assert api_b.get("/v1/players/me", headers=player.auth).status_code == 200
    assert api_a.delete("/v1/sessions/current", headers=player.auth).status_code == 204
    time.sleep(LIVE_S)
    assert api_b.get("/v1/players/me", headers=player.auth).status_code == 401
    assert api_a.get("/v1/players/me", headers=player.auth).status_code == 401
