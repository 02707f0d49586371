"""Slow and numerous connections: a request's head and body have deadlines a trickle cannot
extend, connections are capped overall and per address with a 503 at once, and each worker raises
its own open-file limit; other clients keep being served throughout."""

from __future__ import annotations

import inspect
import json
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from lobby.connection_guard import ConnectionGuard, ConnectionLimits, connection_budget, trusted_proxies
from tests.support.lobby import LobbyProcess

HEADER_TIMEOUT_S = 3.0
HALF_REQUEST = b"GET /v1/games HTTP/1.1\r\nHost: lobby\r\nUser-Agent: slow\r\n"
SLOW_CLIENTS = 1100  # more than the 1024 files a worker may open by default, less its own
SERVICE_MANAGER_SOFT_LIMIT = 1024
MARGIN_S = 20.0  # the machine is shared and loaded: generous


@pytest.fixture
def guarded_lobby(tmp_path: Path) -> Iterator[object]:
    """Start lobbies whose processes start with the soft file limit of 1024 a service manager gives."""
    started: list[LobbyProcess] = []

    def start(**env: str) -> LobbyProcess:
        env.setdefault("LOBBY_CLIENT_HEADER_TIMEOUT_S", str(HEADER_TIMEOUT_S))
        process = LobbyProcess(tmp_path / f"lobby{len(started)}", env)
        process.soft_file_limit = SERVICE_MANAGER_SOFT_LIMIT
        started.append(process.start())
        return process

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * SLOW_CLIENTS:
        pytest.fail(f"this test needs a hard open-file limit of {4 * SLOW_CLIENTS} (it is {hard})")
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(saved[0], 3 * SLOW_CLIENTS), saved[1]))
    try:
        yield start
    finally:
        for process in started:
            process.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def open_half_requests(lobby: LobbyProcess, count: int) -> list[socket.socket]:
    """`count` connections from 127.0.0.1 that each send half a request head and stop."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", lobby.port), timeout=10)
        sock.sendall(HALF_REQUEST)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def wait_until_closed(sockets: list[socket.socket], timeout_s: float) -> dict[socket.socket, bytes]:
    """What the server sent on each socket before closing it; fails if one stays open."""
    received = {sock: b"" for sock in sockets}
    open_ = set(sockets)
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while open_:
            assert time.monotonic() < deadline, f"{len(open_)} slow connections are still open"
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                received[sock] += data
                if not data:
                    open_.discard(sock)
                    selector.unregister(sock)
    return received


def healthz_from_another_address(lobby: LobbyProcess) -> int:
    """`GET /healthz` on a new connection from 127.0.0.2, with a generous timeout."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=lobby.url, transport=transport, timeout=10) as client:
        return client.get("/healthz").status_code


def worker_file_limits(lobby: LobbyProcess) -> set[tuple[str, str]]:
    """The (soft, hard) open-file limits of the lobby's workers, from /proc."""
    limits = set()
    for pid in lobby.workers():
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                limits.add((soft, hard))
    return limits


def test_a_thousand_and_more_half_requests_neither_starve_others_nor_outlive_their_deadline(
    guarded_lobby: object,
) -> None:
    lobby = guarded_lobby()  # type: ignore[operator]
    slow = open_half_requests(lobby, SLOW_CLIENTS)
    try:
        assert healthz_from_another_address(lobby) == 200
        received = wait_until_closed(slow, HEADER_TIMEOUT_S + MARGIN_S)
        assert healthz_from_another_address(lobby) == 200
    finally:
        for sock in slow:
            sock.close()

    refused = [data for data in received.values() if data]
    timed_out = [data for data in received.values() if not data]
    # The per-address cap held 256 (fewer if the start-up probe's connection was still counted);
    # the deadline closed them unanswered.
    assert 250 <= len(timed_out) <= 256, len(timed_out)
    for data in refused:
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), head
        assert b"retry-after: 1" in head
        assert json.loads(body)["reason"] == "unavailable"
    assert "out of system resource" not in lobby.logs()


def test_each_worker_raises_its_soft_file_limit_and_holds_all_the_slow_clients(
    guarded_lobby: object,
) -> None:
    lobby = guarded_lobby(LOBBY_MAX_CONNECTIONS_PER_ADDRESS="5000")  # type: ignore[operator]
    assert {soft == hard for soft, hard in worker_file_limits(lobby)} == {True}
    slow = open_half_requests(lobby, SLOW_CLIENTS)
    try:
        assert healthz_from_another_address(lobby) == 200
        received = wait_until_closed(slow, HEADER_TIMEOUT_S + MARGIN_S)
    finally:
        for sock in slow:
            sock.close()
    assert set(received.values()) == {b""}, "every slow client was held, then closed unanswered"
    assert "out of system resource" not in lobby.logs()


def trickle(sock: socket.socket, chunk: bytes, times: int = 60, every_s: float = 0.5) -> int:
    """Send `chunk` every `every_s` seconds; how many went out before the server closed."""
    for sent in range(times):
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return sent
        time.sleep(every_s)
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                return sent
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return sent
        finally:
            sock.setblocking(True)
    return times


def test_a_trickled_head_is_closed_at_its_deadline(guarded_lobby: object) -> None:
    lobby = guarded_lobby()  # type: ignore[operator]
    with socket.create_connection(("127.0.0.1", lobby.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/games HTTP/1.1\r\nHost: lobby\r\n")
        sent = trickle(sock, b"X-Trickle: 1\r\n")
    assert sent < 60, "a line every 0.5 s kept the head open for 30 s"


def test_a_keep_alive_connections_next_head_has_a_deadline_too(guarded_lobby: object) -> None:
    lobby = guarded_lobby()  # type: ignore[operator]
    with socket.create_connection(("127.0.0.1", lobby.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: lobby\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /v1/games HTTP/1.1\r\n")
        sent = trickle(sock, b"X-Trickle: 1\r\n")
    assert sent < 60, "a line every 0.5 s kept the next head open for 30 s"


def test_a_trickled_body_is_closed_at_its_deadline(guarded_lobby: object) -> None:
    lobby = guarded_lobby(LOBBY_CLIENT_BODY_TIMEOUT_S="3")  # type: ignore[operator]
    with socket.create_connection(("127.0.0.1", lobby.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/joins/ack HTTP/1.1\r\nHost: lobby\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        sent = trickle(sock, b" ")
    assert sent < 60, "a byte every 0.5 s kept the body open for 30 s"


def test_trusted_proxies_are_exempt_from_the_per_address_cap_only() -> None:
    exempt, everyone = trusted_proxies("10.0.0.0/8, 192.0.2.1")
    assert not everyone
    guard = ConnectionGuard(ConnectionLimits(1.0, 1.0, max_connections=5, max_per_address=2, exempt=exempt))
    assert [guard.admit("10.1.2.3") for _ in range(4)] == [None] * 4
    assert guard.admit("203.0.113.7") is None
    assert guard.admit("203.0.113.8") is not None, "the overall cap applies to everyone"
    guard.release("10.1.2.3")
    guard.release("10.1.2.3")
    assert guard.admit("203.0.113.7") is None
    assert guard.admit("203.0.113.7") is not None, "two per ordinary address"
    assert guard.total == 4


def test_the_overall_cap_stays_within_the_file_limit() -> None:
    assert connection_budget(0, 1024) == 1024 - 320
    assert connection_budget(100, 1024) == 100
    assert connection_budget(100_000, 1024) == 1024 - 320
    assert connection_budget(0, 10) == 1


def test_the_uvicorn_internals_the_guard_relies_on_are_there() -> None:
    """The guard hooks into uvicorn's h11 protocol below its public surface; this names each part."""
    hooks = ("connection_made", "connection_lost", "data_received", "handle_events", "on_response_complete")
    for method in hooks:
        assert callable(getattr(H11Protocol, method)), method
    init = inspect.getsource(H11Protocol.__init__)
    for attribute in ("self.cycle", "self.conn", "self.client", "self.server_state", "self.loop"):
        assert attribute in init, attribute
    assert "self.more_body" in inspect.getsource(RequestResponseCycle.__init__)
    assert isinstance(h11.Connection(h11.SERVER).trailing_data, tuple)


def test_ipv6_clients_share_the_per_address_cap_of_their_64() -> None:
    """One host picks addresses freely within its /64: counting each address apart lifts the cap."""
    guard = ConnectionGuard(ConnectionLimits(10, 30, max_connections=100, max_per_address=2))
    assert guard.admit("2001:db8:1:2::a") is None
    assert guard.admit("2001:db8:1:2::b") is None
    assert guard.admit("2001:db8:1:2:ffff::c") is not None  # same /64: over the cap
    assert guard.admit("2001:db8:1:3::a") is None  # another /64
    guard.release("2001:db8:1:2::a")
    assert guard.admit("2001:db8:1:2::d") is None
