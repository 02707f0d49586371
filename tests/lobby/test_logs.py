"""The lobby's logs: one JSON object per line, an access line per request with its request id,
and no token, secret, password or session anywhere, even when a client puts one in a URL."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import httpx
import pytest

from lobby.log_format import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    RequestIdFilter,
    TextFormatter,
    redact,
    request_id,
)
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

WAIT_S = 5.0
JWT_SHAPED = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJwXzEyMyJ9.c2lnbmF0dXJlLWJ5dGVz"


def json_lines(lobby: LobbyProcess) -> list[dict[str, Any]]:
    """Every line the lobby printed, each parsed as one JSON object."""
    lines = lobby.logs().splitlines()
    assert lines
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def access_lines(lobby: LobbyProcess) -> list[dict[str, Any]]:
    """The access lines, one per request."""
    return [line for line in json_lines(lobby) if line["logger"] == "lobby.access"]


def wait_for_access_line(lobby: LobbyProcess, rid: str) -> dict[str, Any]:
    """The access line of request `rid`, written just after its response went out."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = [a for a in access_lines(lobby) if a["request_id"] == rid]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no access line for request {rid}"
        time.sleep(0.05)


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    """A log record as a logger would make it."""
    made = logging.LogRecord("lobby.test", logging.WARNING, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def test_every_line_the_lobby_prints_is_one_json_object(start_lobby: object) -> None:
    lobby = start_lobby()  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        add_server(api)
        api.get("/nope")
    lobby.stop()

    lines = json_lines(lobby)
    for line in lines:
        assert {"ts", "level", "logger", "pid", "msg"} <= line.keys()
        assert line["ts"].endswith("Z")
    assert {line["pid"] for line in lines} >= {lobby.process.pid}, "the supervisor's own lines"
    assert len({line["pid"] for line in lines}) == 2, "the supervisor and its one worker"
    messages = [line["msg"] for line in lines]
    assert any(m.startswith("lobby serve: generation 1 serving") for m in messages)
    assert "Application startup complete." in messages
    assert not any(line["logger"] == "uvicorn.access" for line in lines)


def test_each_request_has_an_access_line_with_the_id_of_its_response(start_lobby: object) -> None:
    lobby = start_lobby()  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server = add_server(api)
        r = api.get(f"/v1/games/{server.id}", params={"view": "full"})
    line = wait_for_access_line(lobby, r.headers["x-request-id"])

    assert line["path"] == f"/v1/games/{server.id}"
    assert line["event"] == "request"
    assert line["method"] == "GET"
    assert line["route"] == "/v1/games/{game_id}"
    assert line["status"] == 200
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float)
    assert "view" not in json.dumps(line)
    ids = [a["request_id"] for a in access_lines(lobby)]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("lb-7f3a.2024_05", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("has space", False),
        ("quote\"or{brace}", False),
        ("", False),
    ],
)
def test_a_well_formed_request_id_is_echoed_and_any_other_replaced(
    api: httpx.Client, lobby: LobbyProcess, sent: str, echoed: bool
) -> None:
    r = api.get("/healthz", headers={"X-Request-ID": sent})
    got = r.headers["x-request-id"]
    assert (got == sent) is echoed
    if not echoed:
        assert 1 <= len(got) <= 64
        assert got.replace("-", "").replace("_", "").isalnum()
    wait_for_access_line(lobby, got)


def test_a_full_flow_leaves_no_token_secret_password_or_session_in_the_log(start_lobby: object) -> None:
    lobby = start_lobby()  # type: ignore[operator]
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server, player = add_server(api), new_player(api)
        issued = api.post(f"/v1/games/{server.id}/join", headers=player.auth).json()
        token = issued["token"]
        api.post("/v1/joins/ack", json={"token": token})
        assert redeem(api, server, token).status_code == 200
        assert redeem(api, server, token).status_code == 409
        second = join(api, player, server)
        api.get(f"/v1/games/{second}")  # a token where an id goes: logged as a path
        api.get("/v1/games", params={"token": second, "password": PASSWORD})
        api.get("/v1/players/me", headers=player.auth)
        api.delete("/v1/sessions/current", headers=player.auth)
        api.delete(f"/v1/servers/{server.id}", headers=ADMIN)
    lobby.stop()

    logs = lobby.logs()
    for secret in (
        token,
        token.split(".")[2],
        second,
        second.split(".")[2],
        issued["launch_url"],
        server.secret,
        server.secret.split(".", 1)[1],
        player.session,
        PASSWORD,
        ADMIN_TOKEN,
    ):
        assert secret not in logs
    assert any(a["path"] == f"/v1/games/{REDACTED}" for a in access_lines(lobby))


def test_the_redaction_filter_replaces_jwts_and_credentials_everywhere_in_a_record() -> None:
    made = record(
        "token %s from %s",
        JWT_SHAPED,
        "Authorization: Bearer s3cr3t-value",
        url=f"arena://join?v=1&token={JWT_SHAPED}",
        secret_line="LOBBY_ADMIN_TOKEN=hunter2-hunter2-hunter2",
        server="s_abc.0123456789abcdefghijklmnop",
        count=3,
    )
    assert RedactingFilter().filter(made)

    text = JsonFormatter().format(made)
    line = json.loads(text)
    assert line["msg"] == f"token {REDACTED} from Authorization: Bearer {REDACTED}"
    assert line["url"] == f"arena://join?v=1&token={REDACTED}"
    assert line["secret_line"] == f"LOBBY_ADMIN_TOKEN={REDACTED}"
    assert line["server"] == REDACTED
    assert line["count"] == 3
    for secret in (JWT_SHAPED, "s3cr3t-value", "hunter2", "0123456789abcdef"):
        assert secret not in text


def test_the_redaction_filter_covers_tracebacks() -> None:
    try:
        raise ValueError(f"bad token {JWT_SHAPED}")
    except ValueError:
        made = logging.LogRecord("lobby", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactingFilter().filter(made)
    line = json.loads(JsonFormatter().format(made))
    assert f"ValueError: bad token {REDACTED}" in line["exc"]
    assert JWT_SHAPED not in json.dumps(line)


def test_redaction_leaves_ordinary_text_alone() -> None:
    ordinary = "reload refused: invalid LOBBY_JOIN_TOKEN_TTL_S: Input should be greater than 0"
    assert redact(ordinary) == ordinary
    assert redact("PUT /v1/servers/s_3YhhfOJ42UUm/heartbeat 200") == (
        "PUT /v1/servers/s_3YhhfOJ42UUm/heartbeat 200"
    )


def test_records_carry_the_request_id_of_the_request_being_served() -> None:
    outside = record("before")
    RequestIdFilter().filter(outside)
    reset = request_id.set("req-42")
    try:
        inside = record("during")
        RequestIdFilter().filter(inside)
    finally:
        request_id.reset(reset)

    assert "request_id" not in json.loads(JsonFormatter().format(outside))
    assert json.loads(JsonFormatter().format(inside))["request_id"] == "req-42"
    assert "[req-42] during" in TextFormatter().format(inside)
    assert "[-] before" in TextFormatter().format(outside)


def test_the_text_format_is_for_people(start_lobby: object) -> None:
    lobby = start_lobby(LOBBY_LOG_FORMAT="text")  # type: ignore[operator]
    r = httpx.get(lobby.url + "/healthz", timeout=10)
    lobby.stop()
    logs = lobby.logs()
    assert "INFO lobby.supervisor [-] lobby serve: generation 1 serving" in logs
    assert f"INFO lobby.access [{r.headers['x-request-id']}] GET /healthz 200" in logs
    assert not logs.lstrip().startswith("{")
