"""A join as the game client holds it: handed over (untrusted, for display), then verified."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from client_sdk.errors import Malformed, TokenRefused
from client_sdk.verify import JoinClaims, read_unverified
from launcher.urls import REDACTED


@dataclass(frozen=True)
class JoinPreview:
    """A join's claims read WITHOUT trust, for display only; any field may be None."""

    player_id: str | None
    player_name: str | None
    server_id: str | None
    server_address: str | None
    expires_at: int | None


def display_text(value: object) -> str | None:
    """A claim for display: printable text of sane length, else None."""
    if isinstance(value, str) and value.isprintable() and 0 < len(value) <= 256:
        return value
    return None


def preview(token: str) -> JoinPreview:
    """Read a token's claims without trust, for a prompt and a countdown."""
    try:
        claims = read_unverified(token)[1]
    except TokenRefused:
        claims = {}
    exp = claims.get("exp")
    return JoinPreview(
        display_text(claims.get("sub")),
        display_text(claims.get("name")),
        display_text(claims.get("aud")),
        display_text(claims.get("srv")),
        exp if type(exp) is int else None,
    )


class IncomingJoin:
    """A join handed over by the launcher: its lobby, its token, and an untrusted preview.

    `server_name` is the name the pinned lobby lists for the server the token names (looked up
    when the join arrives; None if the lobby did not answer in time): like the preview, it is
    for display only until `verify` (a forged token can name any server the lobby lists).
    """

    __slots__ = ("lobby", "preview", "server_name", "token")

    def __init__(self, lobby: str, token: str, server_name: str | None = None) -> None:
        self.lobby = lobby
        self.token = token
        self.preview = preview(token)
        self.server_name = server_name

    def __repr__(self) -> str:
        return f"IncomingJoin(lobby={self.lobby!r}, token={REDACTED!r}, preview={self.preview!r})"

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the token expires by its (unverified) `exp`, for a countdown."""
        if self.preview.expires_at is None:
            return None
        return max(0.0, self.preview.expires_at - (time.time() if now is None else now))

    def prompt(self) -> str:
        """The question to ask the player before acting on a link a web page fired: "Join Arena #1
        (203.0.113.5:7777) as alice?", the server's address alone when its name is unknown."""
        address = self.preview.server_address or self.preview.server_id
        if self.server_name and address:
            server = f"{self.server_name} ({address})"
        else:
            server = self.server_name or address or "an unknown server"
        return f"Join {server} as {self.preview.player_name or 'an unknown player'}?"


@dataclass(frozen=True)
class VerifiedJoin:
    """A join whose token verified against the pinned lobby; connect only to `host`:`port`."""

    lobby: str
    token: str = field(repr=False)
    claims: JoinClaims

    @property
    def host(self) -> str:
        """The game server's host, from the verified `srv` claim."""
        return split_address(self.claims.srv)[0]

    @property
    def port(self) -> int:
        """The game server's port, from the verified `srv` claim."""
        return split_address(self.claims.srv)[1]


def split_address(address: str) -> tuple[str, int]:
    """Split `host:port` (IPv6 in brackets, as in `srv`) into host and port; `Malformed` if it is not one."""
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Malformed(f"{address[:80]!r} is not host:port")
    return host, int(port)
