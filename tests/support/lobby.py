"""Start a real lobby (`python -m lobby serve`) on a free loopback port and talk to its API."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN_TOKEN = "test-admin-token-0123456789"
PASSWORD = "correct horse battery"
START_TIMEOUT_S = 20.0
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


TCP_ESTABLISHED = "01"  # the state column of /proc/net/tcp


@dataclass
class LobbyProcess:
    """One `lobby serve` process with its own data directory and log file."""

    data_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    serve_args: tuple[str, ...] = ()
    soft_file_limit: int | None = None
    wrapper: tuple[str, ...] = ()  # an argv prefix the lobby runs under (tests.support.read_only)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The lobby's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.data_dir / f"lobby-{self.port}.log"

    def env(self) -> dict[str, str]:
        """The environment the lobby runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOBBY_")}
        env.update(
            LOBBY_DATA_DIR=str(self.data_dir),
            LOBBY_ADMIN_TOKEN=ADMIN_TOKEN,
            LOBBY_RATE_LIMITS_ENABLED="false",
            # Every test joins from 127.0.0.1, far more often than players share an address.
            LOBBY_RESERVATIONS_PER_ADDRESS="1000000",
        )
        env.update(self.env_overrides)
        return env

    def start(self) -> LobbyProcess:
        """Start the process and wait until it is ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *self.wrapper, sys.executable, "-m", "lobby", "serve",
                "--host", "127.0.0.1", "--port", str(self.port), *self.serve_args,
            ],
            env=self.env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=None if self.soft_file_limit is None else self._lower_file_limit,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lobby exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"lobby did not become ready:\n{self.log_path.read_text()}")

    def _lower_file_limit(self) -> None:
        """In the child before exec: the soft open-file limit a service manager gives by default."""
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.soft_file_limit, hard))

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logs(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pids_that_served(self, route: str, status: int | None = None, since: int = 0) -> set[int]:
        """The processes whose access log lines (after character `since`) show they answered
        `route` (with `status`, if given)."""
        pids = set()
        for line in self.logs()[since:].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("event") != "request":
                continue
            if entry.get("route") == route and status in (None, entry.get("status")):
                pids.add(entry["pid"])
        return pids

    def statuses_until_every_worker_answers(
        self, path: str, headers: dict[str, str] | None = None, limit: int = 400
    ) -> list[int]:
        """`GET path`, each on a new connection, until every worker has answered one (by the
        access log's pids); the statuses, in order. Fails after `limit` requests."""
        since, statuses, count = len(self.logs()), [], len(self.workers())
        with httpx.Client(base_url=self.url, timeout=10, headers={"Connection": "close"}) as client:
            while len(self.pids_that_served(path, since=since)) < count:
                assert len(statuses) < limit, f"every request to {path} landed on one worker"
                statuses.append(client.get(path, headers=headers).status_code)
        return statuses

    def workers(self) -> set[int]:
        """The supervisor's child processes: its workers, serving or still draining."""
        assert self.process is not None
        pid = self.process.pid
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}

    def connections_by_worker(self) -> dict[int, int]:
        """How many established client connections each worker holds (read from /proc)."""
        owner: dict[str, int] = {}
        for pid in self.workers():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    owner[target[len("socket:[") : -1]] = pid
        counts: dict[int, int] = {}
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == self.port and state == TCP_ESTABLISHED and inode in owner:
                counts[owner[inode]] = counts.get(owner[inode], 0) + 1
        return counts


@dataclass(frozen=True)
class Server:
    """A registered game server and its secret."""

    id: str
    secret: str
    address: str

    @property
    def auth(self) -> dict[str, str]:
        """Its Authorization header."""
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass(frozen=True)
class LoggedIn:
    """A registered, logged-in player."""

    id: str
    name: str
    session: str

    @property
    def auth(self) -> dict[str, str]:
        """Its Authorization header."""
        return {"Authorization": f"Bearer {self.session}"}


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def add_server(client: httpx.Client, capacity: int = 10, name: str | None = None) -> Server:
    """Register a game server as the operator and send its first heartbeat."""
    address = f"127.0.0.1:{free_port()}"
    body = {"name": name or unique("server"), "address": address, "capacity": capacity}
    r = client.post("/v1/servers", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    server = Server(r.json()["id"], r.json()["secret"], address)
    r = client.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
    assert r.status_code == 200, r.text
    return server


def new_player(client: httpx.Client, name: str | None = None) -> LoggedIn:
    """Register a player and log them in with a bearer session."""
    name = name or unique("player")
    r = client.post("/v1/players", json={"name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post("/v1/sessions", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return LoggedIn(r.json()["player"]["id"], name, r.json()["token"])


def join(client: httpx.Client, player: LoggedIn, server: Server) -> str:
    """Join `server` as `player` and return the join token."""
    r = client.post(f"/v1/games/{server.id}/join", headers=player.auth)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def redeem(client: httpx.Client, server: Server, token: str) -> httpx.Response:
    """Redeem `token` as `server`."""
    return client.post("/v1/tokens/redeem", json={"token": token}, headers=server.auth)


def run_cli(
    data_dir: Path, *args: str, wrapper: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the real `lobby` command on `data_dir` (under `wrapper`, an argv prefix); capture its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOBBY_")}
    env["LOBBY_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "lobby", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
