"""Run a real `redis-server` on a free loopback port with its own directory, for tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.lobby import LobbyProcess, free_port

REDIS_SERVER = "redis-server"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def redis_server_binary() -> str:
    """The path of `redis-server`; the test fails, saying how to get it, when it is missing."""
    found = shutil.which(REDIS_SERVER) or shutil.which(REDIS_SERVER, path="/usr/bin:/usr/sbin")
    if found is None:
        pytest.fail("redis-server is not installed: ./dev test installs it (apt-get install redis-server)")
    return found


@dataclass
class RedisProcess:
    """One `redis-server` without persistence, in `data_dir`, on a loopback port that stays the same."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The `redis://` URL of database `db`."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        """Where the server writes its log."""
        return self.data_dir / "redis.log"

    def start(self) -> RedisProcess:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.data_dir),
            "--logfile", str(self.log_path), *self.extra_args,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.logs()}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start:\n{self.logs()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until its port is closed."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> RedisProcess:
        """Stop and start again on the same port (its data is gone: nothing is persisted)."""
        self.stop()
        return self.start()

    def logs(self) -> str:
        """What the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


SHARED_PUBLIC_URL = "https://lobby.playlink.test"


def start_pair(
    store_url: str, root: Path, env: dict[str, str] | None = None, b_env: dict[str, str] | None = None
) -> tuple[LobbyProcess, LobbyProcess]:
    """Lobbies A and B as instances of one lobby: one store, one keys directory, one public URL."""
    shared = {
        "LOBBY_STORE": store_url,
        "LOBBY_KEYS_DIR": str(root / "keys"),
        "LOBBY_PUBLIC_URL": SHARED_PUBLIC_URL,
        **(env or {}),
    }
    a = LobbyProcess(root / "a", shared).start()
    try:
        return a, LobbyProcess(root / "b", {**shared, **(b_env or {})}).start()
    except BaseException:
        a.stop()
        raise


CLUSTER_NODES = 3  # the fewest masters `redis-cli --cluster create` accepts


@dataclass
class RedisClusterProcesses:
    """A real Redis Cluster of three masters on loopback, each a `redis-server` of its own."""

    data_dir: Path
    nodes: list[RedisProcess] = field(default_factory=list)

    def url(self) -> str:
        """The `redis+cluster://` URL of one node (the client discovers the others)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisClusterProcesses:
        """Start the nodes, join them into one cluster, and wait until it serves every slot."""
        for n in range(CLUSTER_NODES):
            node = RedisProcess(
                self.data_dir / f"node{n}",
                extra_args=(
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-port", str(free_port()),  # not port + 10000, which may not exist
                ),
            )
            self.nodes.append(node.start())
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            info = subprocess.run(
                [cli, "-p", str(self.nodes[0].port), "cluster", "info"], capture_output=True, text=True
            ).stdout
            if "cluster_state:ok" in info:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the Redis Cluster did not become ready")

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()
