"""An instance that sat idle while Redis restarted answers its very next requests, not 503.

On loopback a restarted Redis closes its sockets with a FIN that redis-py's pool notices by itself;
after a host reboot, a failover or a NAT timeout nothing reaches the idle socket, and the first
command written on it meets a reset. `SilentProxy` stands between the lobby and a real Redis and
behaves that way: when Redis goes away it keeps the lobby's side open, and resets it on its next write.
The game list's sweep (`LOBBY_EVENTS_SWEEP_S`) would meet a dead connection within its interval and
make the store drop the idle ones, so a request inside that window was the one refused; the test
widens the window to the whole test by sweeping rarely.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.lobby import PASSWORD, add_server, unique
from tests.support.redis import RedisProcess

GENEROUS = "100000/minute"
IDLE_CHECK_S = "0.5"
IDLE_S = 1.0  # longer than that check interval, shorter than the event reader's 2 s socket timeout
WARM_UP = 40  # requests at once: as many pooled connections, all idle after the restart


class SilentProxy:
    """A loopback TCP proxy to `port` that never passes a close on to its client: it resets instead."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            gone = threading.Event()
            threading.Thread(target=self._to_client, args=(upstream, client, gone), daemon=True).start()
            threading.Thread(target=self._to_upstream, args=(client, upstream, gone), daemon=True).start()

    @staticmethod
    def _to_client(upstream: socket.socket, client: socket.socket, gone: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                client.sendall(data)
        gone.set()  # Redis went away: say nothing to the client until it writes

    @staticmethod
    def _to_upstream(client: socket.socket, upstream: socket.socket, gone: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if gone.is_set():
                    break
                upstream.sendall(data)
        _reset(client)
        upstream.close()

    def close(self) -> None:
        self.listener.close()


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


async def at_once(url: str, count: int) -> None:
    """`count` readiness checks at the same moment, each holding a pooled Redis connection."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        answers = await asyncio.gather(*(client.get("/readyz") for _ in range(count)))
    assert {r.status_code for r in answers} == {200}


@pytest.fixture
def redis_behind_proxy(tmp_path) -> Iterator[tuple[RedisProcess, SilentProxy]]:
    redis = RedisProcess(tmp_path / "redis").start()
    proxy = SilentProxy(redis.port)
    yield redis, proxy
    proxy.close()
    redis.stop()


@pytest.mark.parametrize("rate_limits", ["false", "true"])
def test_the_first_requests_after_an_unnoticed_redis_restart_are_answered(
    start_lobby, redis_behind_proxy, rate_limits
):
    redis, proxy = redis_behind_proxy
    limits = {f"LOBBY_RATE_LIMIT_{p}": GENEROUS for p in ("PER_ADDRESS", "PER_PLAYER", "PER_SERVER", "LOGIN")}
    lobby = start_lobby(
        LOBBY_STORE=f"redis://127.0.0.1:{proxy.port}/0",
        LOBBY_REDIS_IDLE_CHECK_S=IDLE_CHECK_S,
        LOBBY_RATE_LIMITS_ENABLED=rate_limits,
        LOBBY_EVENTS_SWEEP_S="600",
        **limits,
    )
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        add_server(api)
        asyncio.run(at_once(lobby.url, WARM_UP))
        redis.restart()
        time.sleep(IDLE_S)
        first = [
            api.get("/readyz"),
            api.post("/v1/players", json={"name": unique("after"), "password": PASSWORD}),
            api.get("/v1/games"),
        ]
        assert [r.status_code for r in first] == [200, 201, 200], [r.text for r in first]
        server = add_server(api)
        assert api.get(f"/v1/games/{server.id}").status_code == 200
    assert "the store failed" not in lobby.logs()
