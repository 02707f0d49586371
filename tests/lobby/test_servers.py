"""Game servers: operator registration, secrets, heartbeats, capacity, leaving, deregistering, CLI."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.lobby import (
    ADMIN,
    LobbyProcess,
    Server,
    add_server,
    free_port,
    join,
    new_player,
    redeem,
    run_cli,
    unique,
)


def assert_problem(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == reason


def game(client: httpx.Client, server: Server) -> dict:
    r = client.get(f"/v1/games/{server.id}")
    assert r.status_code == 200, r.text
    return r.json()


def listed_status(client: httpx.Client, server: Server) -> str:
    return next(g for g in client.get("/v1/games").json()["games"] if g["id"] == server.id)["status"]



def wait_for(condition: Callable[[], bool], timeout_s: float = 8.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def new_server_body(**changes: object) -> dict:
    return {"name": unique("srv"), "address": f"127.0.0.1:{free_port()}", "capacity": 4, **changes}


@pytest.fixture(scope="module")
def client(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def players(client):
    return new_player(client), new_player(client)


def test_registering_a_server_needs_the_operators_token(client, players):
    body = new_server_body()
    assert_problem(client.post("/v1/servers", json=body), 401, "unauthorized")
    wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
    assert_problem(client.post("/v1/servers", json=body, headers=wrong), 401, "unauthorized")
    assert_problem(client.post("/v1/servers", json=body, headers=players[0].auth), 401, "unauthorized")
    names = [g["name"] for g in client.get("/v1/games").json()["games"]]
    assert body["name"] not in names


def test_without_an_admin_token_the_operator_api_is_off(start_lobby):
    lobby = start_lobby(LOBBY_ADMIN_TOKEN="")
    r = httpx.post(lobby.url + "/v1/servers", json=new_server_body(), headers=ADMIN)
    assert_problem(r, 403, "forbidden")
    assert httpx.get(lobby.url + "/v1/games").json()["games"] == []


def test_registration_returns_the_secret_once_and_stores_only_its_hash(client, lobby):
    body = new_server_body(capacity=7)
    r = client.post("/v1/servers", json=body, headers=ADMIN)
    assert r.status_code == 201
    created = r.json()
    assert {k: created[k] for k in body} == body
    secret = created["secret"]
    assert len(secret) >= 32

    shown = client.get(f"/v1/games/{created['id']}").text + client.get("/v1/games").text
    assert secret not in shown
    with sqlite3.connect(f"file:{lobby.data_dir / 'lobby.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT * FROM servers WHERE id = ?", (created["id"],)).fetchone()
        dumped = "\n".join(db.iterdump())
    assert row is not None
    assert secret not in row
    assert secret.encode() not in row
    assert secret not in dumped


def test_a_servers_secret_cannot_act_for_another_server(client, players):
    mine, theirs = add_server(client), add_server(client)
    token = join(client, players[0], theirs)
    assert redeem(client, theirs, token).status_code == 200
    before = game(client, theirs)

    intruder = mine.auth
    hb = client.put(f"/v1/servers/{theirs.id}/heartbeat", json={"players": 0}, headers=intruder)
    assert_problem(hb, 403, "forbidden")
    leave = client.post(f"/v1/servers/{theirs.id}/leave", json={"player": players[0].id}, headers=intruder)
    assert_problem(leave, 403, "forbidden")
    assert_problem(client.delete(f"/v1/servers/{theirs.id}", headers=intruder), 403, "forbidden")
    assert game(client, theirs) == before


def test_a_forged_or_missing_server_secret_is_401(client):
    server = add_server(client)
    url = f"/v1/servers/{server.id}/heartbeat"
    assert_problem(client.put(url, json={"players": 1}), 401, "unauthorized")
    forged = {"Authorization": f"Bearer {server.id}.not-the-secret"}
    assert_problem(client.put(url, json={"players": 1}, headers=forged), 401, "unauthorized")
    assert game(client, server)["players"] == 0


def test_heartbeat_reports_the_players_on_the_server(client):
    server = add_server(client, capacity=5)
    r = client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 3}, headers=server.auth)
    assert r.status_code == 200
    assert game(client, server)["players"] == 3
    assert listed_status(client, server) == "online"
    client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 5}, headers=server.auth)
    assert (game(client, server)["players"], listed_status(client, server)) == (5, "full")


def test_a_server_that_misses_heartbeats_goes_offline_and_cannot_be_joined(start_lobby):
    lobby = start_lobby(LOBBY_HEARTBEAT_TIMEOUT_S="1")
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        server, player = add_server(c), new_player(c)
        wait_for(lambda: listed_status(c, server) == "offline", timeout_s=4)
        assert game(c, server)["status"] == "offline"
        assert_problem(c.post(f"/v1/games/{server.id}/join", headers=player.auth), 409, "server_offline")
        assert game(c, server)["reserved"] == 0

        c.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
        assert c.post(f"/v1/games/{server.id}/join", headers=player.auth).status_code == 201


def test_a_full_server_refuses_joins_and_leaving_frees_the_slot(client, players):
    first, second = players
    server = add_server(client, capacity=1)
    token = join(client, first, server)
    assert (game(client, server)["reserved"], listed_status(client, server)) == (1, "full")
    full = client.post(f"/v1/games/{server.id}/join", headers=second.auth)
    assert_problem(full, 409, "server_full")

    assert redeem(client, server, token).status_code == 200
    assert game(client, server)["members"] == [{"id": first.id, "name": first.name}]
    assert_problem(client.post(f"/v1/games/{server.id}/join", headers=second.auth), 409, "server_full")

    left = client.post(f"/v1/servers/{server.id}/leave", json={"player": first.id}, headers=server.auth)
    assert left.status_code == 204
    after = game(client, server)
    assert (after["players"], after["members"], after["status"]) == (0, [], "online")
    assert client.post(f"/v1/games/{server.id}/join", headers=second.auth).status_code == 201


def test_a_players_join_on_another_server_frees_the_first_servers_slot(client, players):
    first, second = players
    a, b = add_server(client, capacity=1), add_server(client, capacity=1)
    token = join(client, first, a)
    assert listed_status(client, a) == "full"
    join(client, first, b)
    assert (game(client, a)["reserved"], listed_status(client, a)) == (0, "online")
    assert_problem(redeem(client, a, token), 401, "unknown_token")
    assert client.post(f"/v1/games/{a.id}/join", headers=second.auth).status_code == 201


def test_unredeemed_joins_from_one_address_are_capped_with_a_clear_reason(start_lobby):
    lobby = start_lobby(LOBBY_RESERVATIONS_PER_ADDRESS="2")
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        server = add_server(c, capacity=100)
        squatters = [new_player(c) for _ in range(3)]
        tokens = [join(c, p, server) for p in squatters[:2]]
        refused = c.post(f"/v1/games/{server.id}/join", headers=squatters[2].auth)
        assert_problem(refused, 429, "too_many_reservations")
        assert 1 <= int(refused.headers["retry-after"]) <= 120
        assert game(c, server)["reserved"] == 2
        assert join(c, squatters[0], server), "a player's new join replaces their own"
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=lobby.url, timeout=10, transport=other) as elsewhere:
            r = elsewhere.post(f"/v1/games/{server.id}/join", headers=squatters[2].auth)
            assert r.status_code == 201, "another address has a budget of its own"
        assert redeem(c, server, tokens[1]).status_code == 200
        fourth = new_player(c)
        assert c.post(f"/v1/games/{server.id}/join", headers=fourth.auth).status_code == 201


def test_leaving_a_player_who_is_not_on_the_server_is_404(client, players):
    server = add_server(client)
    r = client.post(f"/v1/servers/{server.id}/leave", json={"player": players[0].id}, headers=server.auth)
    assert_problem(r, 404, "not_found")


def test_an_unredeemed_reservation_frees_its_slot_when_its_token_expires(start_lobby):
    lobby = start_lobby(LOBBY_JOIN_TOKEN_TTL_S="1")
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        server, late, punctual = add_server(c, capacity=1), new_player(c), new_player(c)
        join(c, late, server)
        assert_problem(c.post(f"/v1/games/{server.id}/join", headers=punctual.auth), 409, "server_full")
        wait_for(lambda: game(c, server)["reserved"] == 0)
        assert listed_status(c, server) == "online"
        fresh = join(c, punctual, server)
        assert redeem(c, server, fresh).status_code == 200
        assert game(c, server)["members"] == [{"id": punctual.id, "name": punctual.name}]


def test_a_token_whose_slot_was_given_away_cannot_overfill_the_server(start_lobby):
    lobby = start_lobby(LOBBY_JOIN_TOKEN_TTL_S="1")
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        server, late, punctual = add_server(c, capacity=1), new_player(c), new_player(c)
        stale = join(c, late, server)
        wait_for(lambda: game(c, server)["reserved"] == 0)
        fresh = join(c, punctual, server)

        assert_problem(redeem(c, server, stale), 401, "expired")
        assert redeem(c, server, fresh).status_code == 200
        after = game(c, server)
        assert after["players"] <= after["capacity"] == 1
        assert after["members"] == [{"id": punctual.id, "name": punctual.name}]


def test_the_operator_deregisters_a_server_and_it_is_gone(client, players):
    server = add_server(client)
    assert client.delete(f"/v1/servers/{server.id}", headers=ADMIN).status_code == 204
    assert_problem(client.get(f"/v1/games/{server.id}"), 404, "not_found")
    assert server.id not in [g["id"] for g in client.get("/v1/games").json()["games"]]
    assert_problem(client.post(f"/v1/games/{server.id}/join", headers=players[0].auth), 404, "not_found")
    assert_problem(client.delete(f"/v1/servers/{server.id}", headers=ADMIN), 404, "not_found")
    hb = client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
    assert hb.status_code in (401, 404)


def test_a_server_deregisters_itself_and_its_secret_stops_working(client):
    server = add_server(client)
    assert client.delete(f"/v1/servers/{server.id}", headers=server.auth).status_code == 204
    assert_problem(client.get(f"/v1/games/{server.id}"), 404, "not_found")
    hb = client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
    assert_problem(hb, 401, "unauthorized")


def test_deregistering_needs_the_operator_or_the_server(client):
    server = add_server(client)
    assert_problem(client.delete(f"/v1/servers/{server.id}"), 401, "unauthorized")
    assert game(client, server)["id"] == server.id


def test_cli_adds_a_server_that_can_then_heartbeat_and_lists_it(client, lobby):
    name, address = unique("cli"), f"127.0.0.1:{free_port()}"
    added = run_cli(lobby.data_dir, "servers", "add", name, address, "6")
    assert added.returncode == 0, added.stderr
    fields = dict(line.split(": ", 1) for line in added.stdout.splitlines())
    server = Server(fields["id"], fields["secret"], address)
    assert server.secret not in run_cli(lobby.data_dir, "servers", "list").stdout

    r = client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 2}, headers=server.auth)
    assert r.status_code == 200, r.text
    assert {k: game(client, server)[k] for k in ("name", "address", "capacity", "players")} == {
        "name": name, "address": address, "capacity": 6, "players": 2,
    }
    listing = run_cli(lobby.data_dir, "servers", "list")
    assert listing.returncode == 0
    (line,) = [ln for ln in listing.stdout.splitlines() if ln.startswith(server.id)]
    assert name in line
    assert address in line


@pytest.mark.parametrize(
    "changes",
    [{"address": "no-port"}, {"address": "host:0"}, {"address": "host:65536"}, {"address": "host:port"},
     {"address": "-bad-.example:80"}, {"address": "[not-ipv6]:80"}, {"address": "a b:80"},
     {"address": "http://host:80"}, {"address": "host:080"}, {"capacity": 0}, {"capacity": -1},
     {"capacity": "10"}, {"capacity": 1.5}, {"capacity": 10**9}, {"capacity": True}, {"name": ""},
     {"name": "bell\x07"}],
    ids=repr,
)
def test_bad_addresses_capacities_and_names_are_refused(client, changes):
    body = new_server_body(**changes)
    assert_problem(client.post("/v1/servers", json=body, headers=ADMIN), 422, "validation_error")


@pytest.mark.parametrize(
    "args", [("host-only", "4"), ("h:1", "0"), ("h:1", "abc"), ("h:99999", "4"), ("h:1", "-3")], ids=repr,
)
def test_cli_refuses_bad_addresses_and_capacities(tmp_path, args):
    done = run_cli(tmp_path, "servers", "add", unique("cli"), *args)
    assert done.returncode == 2
    assert done.stderr.strip()
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stdout
