"""deploy/nginx.conf and deploy/redis.conf, run as shipped by Debian's nginx and redis-server in front
of two `lobby serve` instances: a reload of an instance under load through nginx fails no request."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.lobby import ROOT, LobbyProcess, LoggedIn, Server, add_server, free_port, new_player

DEPLOY = ROOT / "deploy"
REDIS_PASSWORD = "replace-this-with-a-long-random-password"
START_TIMEOUT_S = 20.0
LOAD_THREADS = 4
WAIT_S = 30.0


def rendered(source: Path, target: Path, replacements: dict[str, str]) -> Path:
    """`source` with each key replaced by its value (each must occur exactly once), written to `target`."""
    text = source.read_text()
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{source.name} no longer has {old!r} exactly once"
        text = text.replace(old, new)
    target.write_text(text)
    return target


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def program(name: str) -> str:
    """The path of a Debian program; the test fails, saying how to get it, when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{name} is not installed: ./dev test installs it (apt-get install {name})")
    return path


def wait_until(condition: object, what: str) -> None:
    """Poll `condition` (a callable) until it is true."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@dataclass
class Deployment:
    """Redis, two lobby instances and nginx, each started from the files in deploy/."""

    url: str
    tls: ssl.SSLContext
    lobbies: list[LobbyProcess]
    nginx_log: Path

    def client(self) -> httpx.Client:
        """An HTTPS client of nginx that keeps its connections alive."""
        return httpx.Client(base_url=self.url, verify=self.tls, timeout=10)


@contextlib.contextmanager
def redis_from_deploy(directory: Path) -> Iterator[str]:
    """deploy/redis.conf on a free loopback port; yields the lobby's store URL."""
    port = free_port()
    conf = rendered(DEPLOY / "redis.conf", directory / "redis.conf", {
        "bind 10.0.1.5": "bind 127.0.0.1",
        "port 6379": f"port {port}",
        "dir /var/lib/redis": f"dir {directory}",
        "logfile /var/log/redis/redis-server.log": f"logfile {directory / 'redis.log'}",
    })
    process = subprocess.Popen([program("redis-server"), str(conf)])
    try:
        url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
        cli = [program("redis-cli"), "-p", str(port), "--no-auth-warning", "-a", REDIS_PASSWORD, "ping"]
        wait_until(lambda: subprocess.run(cli, capture_output=True, text=True).stdout.strip() == "PONG",
                   "redis-server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def nginx_from_deploy(directory: Path, upstreams: list[int], https_port: int) -> Iterator[None]:
    """deploy/nginx.conf on `https_port` in front of `upstreams` (loopback ports)."""
    http_port = free_port()
    cert, key = self_signed(directory)
    conf = rendered(DEPLOY / "nginx.conf", directory / "nginx.conf", {
        "pid /run/nginx.pid;": f"pid {directory / 'nginx.pid'};",
        "error_log /var/log/nginx/error.log warn;": f"error_log {directory / 'error.log'} warn;",
        "access_log /var/log/nginx/playlink.access.log;": f"access_log {directory / 'access.log'};",
        "server 10.0.1.11:8000 ": f"server 127.0.0.1:{upstreams[0]} ",
        "server 10.0.1.12:8000 ": f"server 127.0.0.1:{upstreams[1]} ",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "/etc/ssl/playlink/fullchain.pem": str(cert),
        "/etc/ssl/playlink/privkey.pem": str(key),
    })
    nginx = program("nginx")
    checked = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", str(directory)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(directory), "-g", "daemon off;"])
    try:
        wait_until(lambda: _listening(https_port), "nginx did not start")
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Redis, two lobbies sharing it and one keys directory, and nginx in front, for this module."""
    root = tmp_path_factory.mktemp("deploy")
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(redis_from_deploy(root))
        ports = [free_port(), free_port()]
        https_port = free_port()
        public = f"https://127.0.0.1:{https_port}"
        lobbies = []
        for number, port in enumerate(ports):
            env = {
                "LOBBY_STORE": store,
                "LOBBY_KEYS_DIR": str(root / "keys"),
                "LOBBY_PUBLIC_URL": public,
                "LOBBY_FORWARDED_ALLOW_IPS": "127.0.0.1",
            }
            lobby = LobbyProcess(root / f"lobby{number}", env, port=port).start()
            stack.callback(lobby.stop)
            lobbies.append(lobby)
        stack.enter_context(nginx_from_deploy(root, ports, https_port))
        tls = ssl.create_default_context(cafile=str(root / "fullchain.pem"))
        yield Deployment(public, tls, lobbies, root / "access.log")


def reload(lobby: LobbyProcess) -> None:
    """SIGHUP, then wait until the new generation serves and the old one has exited."""
    old = lobby.workers()
    assert lobby.process is not None
    lobby.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT_S
    while (now := lobby.workers()) & old or not now:
        assert time.monotonic() < deadline, lobby.logs()
        time.sleep(0.05)


def play(deployment: Deployment, server: Server, player: LoggedIn, stop: threading.Event,
         outcomes: list[object]) -> None:
    """A game server and a player through nginx over kept-alive connections: heartbeat, join,
    redeem, leave, until `stop`; every answer's status (or the error) goes to `outcomes`."""
    with deployment.client() as http:
        while not stop.is_set():
            try:
                r = http.put(f"/v1/servers/{server.id}/heartbeat", json={"players": 0}, headers=server.auth)
                outcomes.append(r.status_code)
                r = http.post(f"/v1/games/{server.id}/join", headers=player.auth)
                outcomes.append(r.status_code)
                if r.status_code != 201:
                    continue
                r = http.post("/v1/tokens/redeem", json={"token": r.json()["token"]}, headers=server.auth)
                outcomes.append(r.status_code)
                leave = {"player": player.id}
                r = http.post(f"/v1/servers/{server.id}/leave", json=leave, headers=server.auth)
                outcomes.append(r.status_code)
            except httpx.HTTPError as exc:
                outcomes.append(repr(exc))


def test_reloading_each_instance_under_load_through_nginx_fails_no_request(deployment: Deployment) -> None:
    with deployment.client() as api:
        pairs = [(add_server(api), new_player(api)) for _ in range(LOAD_THREADS)]
    outcomes: list[object] = []
    stop = threading.Event()
    threads = [threading.Thread(target=play, args=(deployment, s, p, stop, outcomes)) for s, p in pairs]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        for lobby in (*deployment.lobbies, deployment.lobbies[0]):
            reload(lobby)
            time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    failures = [o for o in outcomes if not (isinstance(o, int) and 200 <= o < 300)]
    assert failures == []
    assert len(outcomes) > 100
    assert " 502 " not in deployment.nginx_log.read_text()


def test_nginx_hides_metrics_and_passes_event_streams_through(deployment: Deployment) -> None:
    with deployment.client() as http:
        assert http.get("/metrics").status_code == 404
        with http.stream("GET", "/v1/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert "event: snapshot" in [next(lines) for _ in range(3)]
