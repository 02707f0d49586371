"""`lobby serve` supervises its workers: SIGHUP reloads without failing a request, SIGTERM drains."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from lobby.settings import SettingsError
from lobby.supervisor import read_env_file
from tests.support.lobby import (
    ADMIN_TOKEN,
    ROOT,
    START_TIMEOUT_S,
    LobbyProcess,
    LoggedIn,
    Server,
    add_server,
    new_player,
)

CLIENT_THREADS = 6
LOAD_AFTER_RELOAD_S = 2.0
WAIT_S = 20.0
REQUEST_HEAD = b"GET /v1/games HTTP/1.1\r\nHost: lobby\r\n"
REQUEST_END = b"Accept: application/json\r\n\r\n"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., LobbyProcess]]:
    """Start `lobby serve --host 127.0.0.1 --port P ARGS...` and wait until it is ready."""
    started: list[LobbyProcess] = []

    def start(*args: str) -> LobbyProcess:
        lobby = LobbyProcess(tmp_path / f"lobby{len(started)}")
        lobby.data_dir.mkdir(parents=True)
        started.append(lobby)
        command = ["serve", "--host", "127.0.0.1", "--port", str(lobby.port), *args]
        with lobby.log_path.open("ab") as log:
            lobby.process = subprocess.Popen(
                [sys.executable, "-m", "lobby", *command],
                env=lobby.env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: ready(lobby), START_TIMEOUT_S, lobby)
        return lobby

    yield start
    for lobby in started:
        lobby.stop()


def ready(lobby: LobbyProcess) -> bool:
    assert lobby.process.poll() is None, lobby.logs()
    try:
        return httpx.get(lobby.url + "/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], object], timeout_s: float, lobby: LobbyProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, lobby.logs()
        time.sleep(0.05)


def reload(lobby: LobbyProcess, count: int) -> set[int]:
    """SIGHUP, then wait until `count` new workers serve and every old one has exited."""
    old = lobby.workers()
    lobby.process.send_signal(signal.SIGHUP)
    wait_for(lambda: len(now := lobby.workers()) == count and not now & old, WAIT_S, lobby)
    return lobby.workers()


def token_lifetime(api: httpx.Client, player: LoggedIn, server: Server) -> int:
    r = api.post(f"/v1/games/{server.id}/join", headers=player.auth)
    assert r.status_code == 201, r.text
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
    return claims["exp"] - claims["iat"]


@contextlib.contextmanager
def load(lobby: LobbyProcess, player: LoggedIn, server: Server) -> Iterator[list[object]]:
    """Client threads sending games lists and joins, each over a new connection; yields outcomes."""
    outcomes: list[object] = []
    stop = threading.Event()
    requests = [("GET", "/v1/games", {}), ("POST", f"/v1/games/{server.id}/join", player.auth)]

    def client() -> None:
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=lobby.url, timeout=10, limits=no_reuse) as http:
            while not stop.is_set():
                for method, path, headers in requests:
                    try:
                        outcomes.append(http.request(method, path, headers=headers).status_code)
                    except httpx.HTTPError as exc:
                        outcomes.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for thread in threads:
            thread.join()


@pytest.mark.parametrize("count", [1, 2])
def test_two_reloads_under_a_load_of_fresh_connections_fail_no_request(serve, count) -> None:
    lobby = serve("--workers", str(count))
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server, player = add_server(api, capacity=10), new_player(api)
    generations = [lobby.workers()]
    assert len(generations[0]) == count
    with load(lobby, player, server) as outcomes:
        time.sleep(0.5)
        for _ in range(2):
            generations.append(reload(lobby, count))
            time.sleep(LOAD_AFTER_RELOAD_S)
    failures = [o for o in outcomes if not (isinstance(o, int) and 200 <= o < 300)]
    assert failures == []
    assert len(outcomes) > 200
    assert generations[0].isdisjoint(generations[1])
    assert generations[1].isdisjoint(generations[2])
    assert lobby.logs().count("lobby serve: generation") == 3


def test_reload_applies_a_changed_env_file_and_refuses_an_invalid_one(serve, tmp_path) -> None:
    env_file = tmp_path / "lobby.env"
    env_file.write_text("# reloaded on SIGHUP\nLOBBY_JOIN_TOKEN_TTL_S=120\n")
    lobby = serve("--env-file", str(env_file))
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server, player = add_server(api), new_player(api)
        assert token_lifetime(api, player, server) == 120

        env_file.write_text("LOBBY_JOIN_TOKEN_TTL_S=300\n")
        serving = reload(lobby, 1)
        assert token_lifetime(api, player, server) == 300

        env_file.write_text("LOBBY_JOIN_TOKEN_TTL_S=0\n")
        lobby.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in lobby.logs(), WAIT_S, lobby)
        (line,) = [line for line in lobby.logs().splitlines() if "reload refused" in line]
        assert "LOBBY_JOIN_TOKEN_TTL_S" in line
        assert lobby.workers() == serving
        assert token_lifetime(api, player, server) == 300
    assert ADMIN_TOKEN not in lobby.logs()


def test_sigterm_serves_connections_accepted_before_it_then_exits_0(serve) -> None:
    lobby = serve()
    silent = socket.create_connection(("127.0.0.1", lobby.port))
    trickling = socket.create_connection(("127.0.0.1", lobby.port))
    with silent, trickling:
        trickling.sendall(REQUEST_HEAD)
        time.sleep(0.5)
        lobby.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        silent.sendall(REQUEST_HEAD + REQUEST_END)
        trickling.sendall(REQUEST_END)
        responses = [read_until_closed(silent), read_until_closed(trickling)]
    for response in responses:
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), response
        assert body.startswith(b'{"games":')
    assert lobby.process.wait(timeout=WAIT_S) == 0
    assert "lobby serve: stopped" in lobby.logs()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(WAIT_S)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_worker_that_dies_is_replaced_and_workers_outlive_no_supervisor(serve) -> None:
    lobby = serve()
    (first,) = lobby.workers()
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(now := lobby.workers()) == 1 and first not in now, WAIT_S, lobby)
    wait_for(lambda: ready(lobby), WAIT_S, lobby)
    assert "died (status -9); replacing it" in lobby.logs()

    (second,) = lobby.workers()
    lobby.process.kill()
    lobby.process.wait()
    wait_for(lambda: not alive(second), WAIT_S, lobby)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_env_file_takes_lobby_settings_only_and_never_echoes_a_line(tmp_path) -> None:
    env_file = tmp_path / "lobby.env"
    env_file.write_text("# comment\n\n LOBBY_LAUNCH_SCHEME = arena \nLOBBY_ADMIN_TOKEN=a=b=c\n")
    assert read_env_file(env_file) == {"LOBBY_LAUNCH_SCHEME": "arena", "LOBBY_ADMIN_TOKEN": "a=b=c"}
    env_file.write_text("LOBBY_PORT=1\nPATH=/secret-value\n")
    with pytest.raises(SettingsError) as refused:
        read_env_file(env_file)
    assert "line 2" in str(refused.value)
    assert "secret-value" not in str(refused.value)


def test_a_request_on_a_proxys_kept_alive_connection_during_a_reload_is_answered_with_connection_close(
    tmp_path,
) -> None:
    """What a proxy with upstream keep-alive does: its idle connection to the old worker is reused
    just after the reload began; the request must be served, not cut off."""
    lobby = LobbyProcess(tmp_path / "data", {"LOBBY_FORWARDED_ALLOW_IPS": "127.0.0.1"}).start()
    try:
        kept_alive_across_a_reload(lobby)
    finally:
        lobby.stop()


def kept_alive_across_a_reload(lobby: LobbyProcess) -> None:
    """Reuse an idle keep-alive connection right after a reload began; the old worker answers."""
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server, player = add_server(api), new_player(api)
    (old,) = lobby.workers()
    kept = http.client.HTTPConnection("127.0.0.1", lobby.port, timeout=WAIT_S)
    try:
        kept.request("GET", "/v1/games")
        first = kept.getresponse()
        first.read()
        assert first.status == 200
        assert first.getheader("connection") != "close"

        lobby.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "Shutting down" in worker_lines(lobby, old), WAIT_S, lobby)
        kept.request("POST", f"/v1/games/{server.id}/join", headers=player.auth)
        answer = kept.getresponse()
        body = answer.read()
    finally:
        kept.close()
    assert answer.status == 201, body
    assert answer.getheader("connection") == "close"
    wait_for(lambda: old not in lobby.workers(), WAIT_S, lobby)


def worker_lines(lobby: LobbyProcess, pid: int) -> str:
    """The log lines of worker `pid`."""
    return "\n".join(line for line in lobby.logs().splitlines() if f'"pid": {pid},' in line)
