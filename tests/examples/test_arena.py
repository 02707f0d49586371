"""The example game: `python -m examples.arena.run` starts a lobby with two arena servers; a join works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from client_sdk.handshake import hello_blocking
from launcher.ipc import deliver
from launcher.urls import Join
from tests.support.lobby import ADMIN_TOKEN, free_port, new_player

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """One `python -m examples.arena.run` process and where it logs."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 20.0) -> object:
    """Poll `condition` until it returns something true; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)
    return value


def online_games(url: str) -> list[dict[str, object]]:
    """The lobby's online games, or [] while it is not answering."""
    try:
        games = httpx.get(url + "/v1/games", timeout=2).json()["games"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []
    return [g for g in games if g["status"] == "online"]


@pytest.fixture
def arena(tmp_path: Path) -> Iterator[Run]:
    """Start the one-command example stack on free ports and wait for two online servers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOBBY_")}
    env.update(LOBBY_DATA_DIR=str(tmp_path / "lobby"), LOBBY_ADMIN_TOKEN=ADMIN_TOKEN)
    env["LOBBY_RATE_LIMITS_ENABLED"] = "false"
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.arena.run", "--port", str(port),
             "--arena-ports", f"{free_port()},{free_port()}"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    run = Run(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until(lambda: "arena: the lobby is at" in log.read_text() or process.poll() is not None, "ready")
        assert process.poll() is None, log.read_text()
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_run_starts_a_lobby_with_two_online_arena_servers(arena: Run) -> None:
    games = online_games(arena.url)
    assert sorted(g["name"] for g in games) == ["Arena #1", "Arena #2"]
    assert all(g["capacity"] == 8 and g["players"] == 0 for g in games)


def test_a_join_handed_to_the_client_ends_with_the_player_on_the_server_seeing_the_others(
    arena: Run, tmp_path: Path
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    client_log = tmp_path / "client.log"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    command = [sys.executable, "-m", "examples.arena.client", "--lobby", arena.url, "--yes"]
    client = subprocess.Popen(
        [*command, "--log", str(client_log)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: client_log.exists() and "listening" in client_log.read_text(), "the client")
        game = next(g for g in online_games(arena.url) if g["name"] == "Arena #1")
        with httpx.Client(base_url=arena.url, timeout=10) as api:
            player = new_player(api)
            issued = api.post(f"/v1/games/{game['id']}/join", headers=player.auth).json()
            deliver("arena", Join(arena.url, issued["token"]), path=str(runtime / "playlink" / "arena.sock"))

            def members() -> list[str]:
                return [m["name"] for m in api.get(f"/v1/games/{game['id']}").json()["members"]]

            wait_until(lambda: members() == [player.name], "the player to be a member")
        wait_until(lambda: f"players on Arena #1: {player.name}" in client_log.read_text(), "the player list")
        assert f"connected to {game['address']} as {player.name}" in client_log.read_text()
    finally:
        client.terminate()
        client.wait(10)


def test_a_join_the_player_refuses_is_declined_and_its_slot_freed(arena: Run, tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    client_log = tmp_path / "client.log"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    env.pop("ARENA_AUTO_ACCEPT", None)
    command = [sys.executable, "-m", "examples.arena.client", "--lobby", arena.url, "--log", str(client_log)]
    client = subprocess.Popen(
        command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: client_log.exists() and "listening" in client_log.read_text(), "the client")
        game = next(g for g in online_games(arena.url) if g["name"] == "Arena #2")
        with httpx.Client(base_url=arena.url, timeout=10) as api:
            issued = api.post(f"/v1/games/{game['id']}/join", headers=new_player(api).auth).json()
            assert api.get(f"/v1/games/{game['id']}").json()["reserved"] == 1
            deliver("arena", Join(arena.url, issued["token"]), path=str(runtime / "playlink" / "arena.sock"))
            wait_until(lambda: "join was declined" in client_log.read_text(), "the client to decline")
            assert api.get(f"/v1/games/{game['id']}").json()["reserved"] == 0
    finally:
        client.terminate()
        client.wait(10)


def test_sigterm_stops_the_servers_which_deregister_then_the_lobby(arena: Run) -> None:
    arena.process.send_signal(signal.SIGTERM)
    assert arena.process.wait(20) == 0
    log = arena.log.read_text()
    assert log.count('"DELETE /v1/servers/') == 2, log
    assert "Finished server process" in log


def test_stopping_the_run_while_a_player_is_connected_reports_the_leave_without_a_traceback(
    arena: Run,
) -> None:
    game = next(g for g in online_games(arena.url) if g["name"] == "Arena #1")
    with httpx.Client(base_url=arena.url, timeout=10) as api:
        player = new_player(api)
        token = api.post(f"/v1/games/{game['id']}/join", headers=player.auth).json()["token"]
    host, _, port = str(game["address"]).rpartition(":")
    sock, admitted = hello_blocking(host, int(port), token)
    try:
        assert admitted.name == player.name
        wait_until(lambda: f"{player.name} joined" in arena.log.read_text(), "the player to be admitted")
        arena.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert arena.process.wait(30) == 0
    finally:
        sock.close()
    log = arena.log.read_text()
    assert "Traceback" not in log, log
    assert "client has been closed" not in log, log
    assert f"{player.name} left" in log, log
    leave = log.find(f'"POST /v1/servers/{game["id"]}/leave 204')
    deregister = log.find(f'"DELETE /v1/servers/{game["id"]} 204')
    assert 0 <= leave < deregister, "the leave reached the lobby before the server deregistered"
