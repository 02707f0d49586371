"""One command for a working lobby: `lobby serve` plus two arena servers, registered and running.

    python -m examples.arena.run [--host H] [--port P] [--workers N] [--arena-ports 7001,7002]

The lobby runs with embedded SQLite (`LOBBY_*` settings apply as usual). The operator's admin token is
`LOBBY_ADMIN_TOKEN`, or a fresh one for this run. Once the lobby is ready the servers are registered
through its API (stale ones of the same name from an earlier run are removed first) and started as
child processes; Ctrl-C or SIGTERM stops the servers (each lets its players go, reports their
leaves, then deregisters), then the lobby.
"""

from __future__ import annotations

import argparse
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVER_NAMES = ("Arena #1", "Arena #2")
ARENA_PORTS = "7001,7002"
CAPACITY = 8
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.arena.run", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("LOBBY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOBBY_PORT", "8000")))
    parser.add_argument("--arena-ports", default=ARENA_PORTS, help="the two arena servers' ports")
    return parser


class Stack:
    """The child processes of one run: the lobby, then the arena servers."""

    def __init__(self) -> None:
        self.lobby: subprocess.Popen[bytes] | None = None
        self.servers: list[subprocess.Popen[bytes]] = []

    def children(self) -> list[subprocess.Popen[bytes]]:
        """Every child, lobby first."""
        return [p for p in (self.lobby, *self.servers) if p is not None]

    def stop(self) -> None:
        """SIGTERM the servers and wait (they deregister), then the lobby; SIGKILL what lingers."""
        for group in (self.servers, [self.lobby] if self.lobby else []):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_ready(url: str, lobby: subprocess.Popen[bytes]) -> None:
    """Wait until the lobby answers /readyz; raise if it exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if lobby.poll() is not None:
            raise SystemExit(f"arena: the lobby exited with status {lobby.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("arena: the lobby did not become ready")


def start_server(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one arena server and wait until it says it is listening."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--ready-fd", str(write_end)],
            env=env,
            cwd=ROOT,
            pass_fds=[write_end],
            start_new_session=True,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as ready:
        answered = select.select([ready], [], [], READY_TIMEOUT_S)[0]
        if not answered or ready.readline() != b"ready\n":
            process.kill()
            raise SystemExit(f"arena: the server {name} did not start")
    return process


def register_servers(api: httpx.Client, addresses: list[str]) -> list[tuple[str, str, str, str]]:
    """Register the arena servers (removing stale ones of the same name); (name, address, id, secret)."""
    for game in api.get("/v1/games").raise_for_status().json()["games"]:
        if game["name"] in SERVER_NAMES:
            api.delete(f"/v1/servers/{game['id']}").raise_for_status()
    registered = []
    for name, address in zip(SERVER_NAMES, addresses, strict=True):
        body = {"name": name, "address": address, "capacity": CAPACITY}
        reply = api.post("/v1/servers", json=body).raise_for_status().json()
        registered.append((name, address, reply["id"], reply["secret"]))
    return registered


def main(argv: Sequence[str] | None = None) -> int:
    """Start everything, wait for Ctrl-C or SIGTERM (or a child's exit), stop everything."""
    options, lobby_args = _parser().parse_known_args(argv)
    ports = options.arena_ports.split(",")
    if len(ports) != len(SERVER_NAMES) or not all(p.isdigit() for p in ports):
        raise SystemExit("arena: --arena-ports takes two ports, like 7001,7002")
    admin_token = os.environ.get("LOBBY_ADMIN_TOKEN") or secrets.token_urlsafe(32)
    local_host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host  # noqa: S104
    api_url = f"http://{local_host}:{options.port}"
    env = dict(os.environ, LOBBY_ADMIN_TOKEN=admin_token)
    stack = Stack()
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: stopping.append(number))
    try:
        stack.lobby = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "lobby", "serve", "--host", options.host, "--port", str(options.port),
             *lobby_args],
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        wait_ready(api_url, stack.lobby)
        headers = {"Authorization": f"Bearer {admin_token}"}
        with httpx.Client(base_url=api_url, headers=headers, timeout=10) as api:
            registered = register_servers(api, [f"{local_host}:{port}" for port in ports])
        for name, address, server_id, secret in registered:
            command = [sys.executable, "-m", "examples.arena.server", "--lobby", api_url, "--listen", address,
                       "--deregister-on-exit", "--name", name, "--server-id", server_id]
            stack.servers.append(start_server(name, command, dict(env, ARENA_SERVER_SECRET=secret)))
        print(f"arena: the lobby is at {api_url}/ with {len(registered)} arena servers", flush=True)
        while not stopping and all(p.poll() is None for p in stack.children()):
            time.sleep(0.2)
    finally:
        stack.stop()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
