"""Slow and numerous connections: deadlines for a request's head and body, and connection caps.

Modelled on nginx (`client_header_timeout`, `client_body_timeout`, `limit_conn`) and HAProxy
(`timeout http-request`, `maxconn` derived from the file limit), with one difference from nginx:
each deadline is overall, armed when the head (or body) starts and never extended by more bytes,
so a client that trickles one byte at a time is closed as surely as one that sends nothing.

- Head: from accepting the connection (for a keep-alive connection's next request: from its first
  byte) until the request's head is parsed, at most `LOBBY_CLIENT_HEADER_TIMEOUT_S`.
- Body: from the head until the body's last byte, at most `LOBBY_CLIENT_BODY_TIMEOUT_S`.
- A connection past a deadline is closed. Responses (event streams included) have no deadline.
- Caps, per worker: `LOBBY_MAX_CONNECTIONS` in all (by default as many as the file limit leaves
  room for), `LOBBY_MAX_CONNECTIONS_PER_ADDRESS` from one client address (the TCP peer; the
  proxies of `LOBBY_FORWARDED_ALLOW_IPS` are exempt, as they carry many clients). A connection
  over a cap is answered at once, before anything is read, with a minimal `503` problem+json
  (`Retry-After: 1`, `Connection: close`) and closed, so it never holds a slot.

uvicorn's h11 protocol arms no timer before the first request and only an idle timer after one;
`GuardedH11Protocol` adds the above on top of it. It relies on uvicorn's internals (the protocol's
`cycle`, `conn`, `client`, `server_state`, `loop`, its `handle_events` and `on_response_complete`,
the cycle's `more_body`), as `lobby.supervisor` does; `tests/lobby/test_connection_guard.py` names
each one, so an upgrade that moves them fails there first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import resource
import time
from collections import Counter
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol

from lobby.addresses import address_bucket
from lobby.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE

# File descriptors a worker keeps for itself besides client connections: the store's connections
# (up to 256 to Redis), the database and its WAL, logs, metrics files, pipes and the event loop.
FD_RESERVE = 320
REFUSAL_LOG_INTERVAL_S = 10.0

log = logging.getLogger("lobby.connections")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ConnectionLimits:
    """The deadlines and caps one worker applies to its connections."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    max_per_address: int
    exempt: tuple[Network, ...] = ()
    exempt_all: bool = False


def trusted_proxies(forwarded_allow_ips: str) -> tuple[tuple[Network, ...], bool]:
    """The networks of `LOBBY_FORWARDED_ALLOW_IPS`, and whether it is `*` (every peer)."""
    items = [part.strip() for part in forwarded_allow_ips.split(",") if part.strip()]
    networks = tuple(ipaddress.ip_network(item, strict=False) for item in items if item != "*")
    return networks, "*" in items


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
        return soft
    return hard


def connection_budget(max_connections: int, file_limit: int) -> int:
    """How many client connections one worker holds at most: the setting, if any, within what the
    file limit leaves after `FD_RESERVE`."""
    room = max(file_limit - FD_RESERVE, 1)
    return min(max_connections, room) if max_connections else room


def _refusal(detail: str) -> bytes:
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + "unavailable",
            "title": "Service unavailable",
            "status": 503,
            "detail": detail,
            "reason": "unavailable",
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\n"
        "retry-after: 1\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


TOO_MANY = _refusal("this server holds too many connections; retry shortly")
TOO_MANY_FROM_ADDRESS = _refusal("too many connections from this address; retry shortly")


class ConnectionGuard:
    """One worker's connection counts, overall and per client address."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.total = 0
        self.by_address: Counter[str] = Counter()
        self._refused = 0
        self._logged_at = 0.0

    def is_proxy(self, address: str) -> bool:
        """Whether `address` is one of the trusted proxies (`LOBBY_FORWARDED_ALLOW_IPS`)."""
        return self._exempt(address)

    def _exempt(self, address: str) -> bool:
        if self.limits.exempt_all:
            return True
        if not self.limits.exempt:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.limits.exempt)

    def admit(self, address: str) -> bytes | None:
        """Count a new connection from `address` (an IPv6 one by its /64); the refusal to send instead
        when over a cap."""
        if self.total >= self.limits.max_connections:
            return self._refuse(TOO_MANY)
        bucket = address_bucket(address)
        if self.by_address[bucket] >= self.limits.max_per_address and not self._exempt(address):
            return self._refuse(TOO_MANY_FROM_ADDRESS)
        self.total += 1
        self.by_address[bucket] += 1
        return None

    def release(self, address: str) -> None:
        """Forget a connection that `admit` counted."""
        bucket = address_bucket(address)
        self.total -= 1
        self.by_address[bucket] -= 1
        if self.by_address[bucket] <= 0:
            del self.by_address[bucket]

    def _refuse(self, answer: bytes) -> bytes:
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at >= REFUSAL_LOG_INTERVAL_S:
            log.warning(
                "refused %d connection(s) over the caps (%d held, at most %d, %d per address)",
                self._refused, self.total, self.limits.max_connections, self.limits.max_per_address,
            )
            self._refused, self._logged_at = 0, now
        return answer


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with overall deadlines for each request's head and body, and the
    caps of the `ConnectionGuard` its server state carries (as `guard`; without one, neither)."""

    _guard: ConnectionGuard | None = None
    _address = ""
    _deadline: asyncio.TimerHandle | None = None
    _awaiting_head = True
    _awaiting_body = False
    _tracked: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection, or refuse it over a cap; start the deadline of its first head."""
        super().connection_made(transport)
        guard: ConnectionGuard | None = getattr(self.server_state, "guard", None)
        if guard is None:
            return
        address = self.client[0] if self.client else ""
        refusal = guard.admit(address)
        if refusal is not None:
            transport.write(refusal)
            transport.close()
            return
        self._guard, self._address = guard, address
        self._arm(guard.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the deadline and give the connection's place back."""
        self._disarm()
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.release(self._address)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """The first byte of a keep-alive connection's next request starts its head's deadline."""
        if self._guard is not None and self._awaiting_head and self._deadline is None:
            self._arm(self._guard.limits.header_timeout_s)
        super().data_received(data)

    def handle_events(self) -> None:
        """Parse what arrived; a complete head stops its deadline and starts its body's."""
        super().handle_events()
        cycle, guard = self.cycle, self._guard
        if guard is None or cycle is None:
            return
        if cycle is not self._tracked:
            self._tracked, self._awaiting_head = cycle, False
            self._disarm()
            self._awaiting_body = cycle.more_body
            if self._awaiting_body:
                self._arm(guard.limits.body_timeout_s)
        elif self._awaiting_body and not cycle.more_body:
            self._awaiting_body = False
            self._disarm()

    def on_response_complete(self) -> None:
        """After a response, the connection waits for a next head (uvicorn's idle timer runs)."""
        self._disarm()
        self._awaiting_head, self._awaiting_body = True, False
        super().on_response_complete()
        if self._awaiting_head and self._guard is not None and self.conn.trailing_data[0]:
            self._arm(self._guard.limits.header_timeout_s)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
