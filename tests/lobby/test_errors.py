"""Errors are RFC 9457 problem+json with a reason; no input, however odd, makes the lobby answer 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.lobby import ADMIN, LobbyProcess, add_server, join, new_player

PROBLEM_FIELDS = {"type", "title", "status", "detail", "reason"}
KNOWN_WRITES = {
    ("POST", "/v1/players"),
    ("POST", "/v1/sessions"),
    ("POST", "/v1/games/{game_id}/join"),
    ("POST", "/v1/servers"),
    ("PUT", "/v1/servers/{server_id}/heartbeat"),
    ("POST", "/v1/servers/{server_id}/leave"),
    ("POST", "/v1/tokens/redeem"),
}
ODD_VALUES = [
    None, True, 0, -1, 1.5, 10**40, -(10**40), "", " ", "\x00", "\ud800", "\U0001f3ae" * 2000,
    "ü" * 70, "%00", "../../etc/passwd", "<script>alert(1)</script>", [], [1, "a"], {}, {"$gt": ""},
]
ODD_BODIES = [
    b"", b"null", b"true", b"[]", b"[{}]", b'"text"', b"123", b"1e999", b"NaN", b"{", b"{}}",
    b'{"a": 1, "a": 2}', b"\xff\xfe\x00", b"[" * 5000 + b"]" * 5000, b'{"x":' * 3000 + b"1" + b"}" * 3000,
    b'{"name": "\\ud800", "password": "\\udfff\\ud800 long enough"}',
    b'{"name": "surrogate-pw", "password": "\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800"}',
    b'{"name": "nul-pw", "password": "\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000"}',
    b'{"player": "\\ud800", "token": "\\ud800.\\ud800.\\ud800", "players": 1e308, "capacity": 1e999}',
]


def assert_problem(r: httpx.Response, status: int, reason: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert set(problem) >= PROBLEM_FIELDS
    assert problem["status"] == status
    assert isinstance(problem["detail"], str)
    assert problem["type"].endswith(problem["reason"])
    assert "Traceback" not in r.text
    if reason is not None:
        assert problem["reason"] == reason
    return problem


@pytest.fixture(scope="module")
def client(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def parts(client):
    """A server, a player on it and a token, so that every endpoint gets past authentication."""
    server, player = add_server(client, capacity=1000), new_player(client)
    return server, player, join(client, player, server)


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/games/x/y/z", "/v1/players/me/../../x"])
def test_unknown_route_is_a_404_problem(client, path):
    assert_problem(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/v1/games"), ("PUT", "/v1/players"), ("GET", "/v1/tokens/redeem"), ("PATCH", "/healthz")],
)
def test_wrong_method_is_a_405_problem(client, method, path):
    r = client.request(method, path)
    assert_problem(r, 405)
    assert r.headers["allow"]


@pytest.mark.parametrize("content", [b"{not json", b'{"name": "a",}', b"\xff\xfe", b""])
def test_invalid_json_is_a_validation_problem(client, content):
    r = client.post("/v1/players", content=content, headers={"Content-Type": "application/json"})
    assert_problem(r, 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [{"name": 5, "password": "long enough pw"}, {"name": "x", "password": ["long enough pw"]},
     {"name": None, "password": None}, {"name": {"a": 1}, "password": "long enough pw"}],
)
def test_wrong_field_types_are_a_validation_problem_naming_the_field(client, body):
    problem = assert_problem(client.post("/v1/players", json=body), 422, "validation_error")
    bad = next(k for k, v in body.items() if not isinstance(v, str))
    assert bad in problem["detail"]


def test_wrong_types_for_a_server_are_refused(client, parts):
    server = parts[0]
    r = client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": "3"}, headers=server.auth)
    problem = assert_problem(r, 422, "validation_error")
    assert "players" in problem["detail"]


def test_extra_fields_are_refused(client, parts):
    server = parts[0]
    r = client.post("/v1/players", json={"name": "x", "password": "long enough pw", "admin": True})
    assert "admin" in assert_problem(r, 422, "validation_error")["detail"]
    r = client.put(
        f"/v1/servers/{server.id}/heartbeat", json={"players": 1, "capacity": 9}, headers=server.auth
    )
    assert_problem(r, 422, "validation_error")


def test_a_100_kb_body_is_refused_with_413(client):
    body = json.dumps({"name": "x" * 100_000, "password": "long enough pw"}).encode()
    assert_problem(client.post("/v1/players", content=body), 413)


def test_a_100_kb_body_without_content_length_is_refused_with_413(client):
    def chunks():
        yield b'{"name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'", "password": "long enough pw"}'

    r = client.post("/v1/players", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)


def test_every_problem_names_a_documented_reason(client):
    responses = [client.get("/nope"), client.delete("/v1/games"), client.post("/v1/players", json={})]
    reasons = {assert_problem(r, r.status_code)["reason"] for r in responses}
    assert reasons <= {"not_found", "validation_error", "unauthorized", "forbidden", "conflict"}


def writes(client: httpx.Client) -> list[tuple[str, str, list[str]]]:
    """Every POST and PUT endpoint the lobby publishes, with its body's field names."""
    spec = client.get("/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method.upper() not in ("POST", "PUT"):
                continue
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            fields = []
            if schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                fields = list(spec["components"]["schemas"][name]["properties"])
            found.append((method.upper(), path, fields))
    return found


def test_the_sweep_covers_every_write_endpoint(client):
    assert {(m, p) for m, p, _fields in writes(client)} >= KNOWN_WRITES


def test_odd_inputs_to_every_write_endpoint_never_produce_a_5xx(client, parts):
    server, player, _token = parts
    failures = []
    for method, path, fields in writes(client):
        url = path.replace("{game_id}", server.id).replace("{server_id}", server.id)
        auth = ADMIN if path == "/v1/servers" else server.auth if "servers" in path or "tokens" in path \
            else player.auth
        bodies = [json.dumps({f: v for f in fields}).encode() for v in ODD_VALUES] + ODD_BODIES
        bodies += [json.dumps({f: v}).encode() for f in fields for v in ODD_VALUES[::3]]
        for content in bodies:
            r = client.request(
                method, url, content=content, headers={**auth, "Content-Type": "application/json"}
            )
            if r.status_code >= 500 or (r.status_code >= 400 and set(r.json()) < PROBLEM_FIELDS):
                failures.append((method, path, content[:80], r.status_code, r.text[:120]))
    assert failures == []


@pytest.mark.parametrize(
    "url",
    ["/v1/games/%00", "/v1/games/" + "x" * 5000, "/v1/games/%F0%9F%8E%AE", "/v1/games/..%2F..%2F",
     "/v1/servers/%ff/heartbeat"],
)
def test_odd_ids_in_paths_are_4xx_problems(client, parts, url):
    server, player, _token = parts
    for method, headers in (("GET", {}), ("POST", player.auth), ("PUT", server.auth)):
        r = client.request(method, url if method != "POST" else url + "/join", headers=headers, json={})
        assert 400 <= r.status_code < 500, (method, url, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
