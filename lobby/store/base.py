"""The store interface every lobby storage engine implements, and the records it returns."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Player:
    """A registered player."""

    id: str
    name: str


@dataclass(frozen=True)
class GameServer:
    """A game server as the lobby sees it, with its live counts."""

    id: str
    name: str
    address: str
    capacity: int
    players: int
    reserved: int
    last_seen: float
    members: tuple[Player, ...] = ()

    def status(self, now: float, heartbeat_timeout_s: float) -> str:
        """`offline` when it missed its heartbeats, `full` when no slot is left, else `online`."""
        if now - self.last_seen > heartbeat_timeout_s:
            return "offline"
        if self.players + self.reserved >= self.capacity:
            return "full"
        return "online"


@dataclass(frozen=True)
class ServerFacts:
    """What never changes about a game server: where players connect, and its secret's hash."""

    address: str
    secret_hash: bytes


@dataclass(frozen=True)
class Reservation:
    """A slot held for a player by one issued join token, until it expires or is redeemed."""

    jti: str
    server_id: str
    player: Player
    digest: bytes
    kid: str
    expires_at: float


@dataclass(frozen=True)
class ReservationState:
    """A reservation as the store holds it, with when it was redeemed (None: not yet)."""

    reservation: Reservation
    redeemed_at: float | None


class RedeemOutcome(enum.Enum):
    """What an atomic redemption attempt found."""

    REDEEMED = "redeemed"
    NOT_ISSUED = "not_issued"
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class RedeemResult:
    """The outcome of a redemption and, when a matching reservation exists, that reservation."""

    outcome: RedeemOutcome
    reservation: Reservation | None = None


class Store(Protocol):
    """Players, sessions, game servers, reservations and redemptions, shared by lobby instances.

    Every method is atomic on its own; `reserve` and `redeem` are the operations whose atomicity
    the lobby's guarantees rest on (no overfilled server, exactly-once redemption).
    """

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None:
        """Finish pending work and disconnect."""

    async def ping(self) -> None:
        """Return when the store answers; raise `Unavailable` otherwise."""

    async def create_player(self, player: Player, password_hash: str, now: float) -> None:
        """Add a player; `Conflict` when the name, or a look-alike, is taken (`lobby.names.name_key`)."""

    async def player_credentials(self, name: str) -> tuple[Player, str] | None:
        """The player called `name` and their password hash, or None."""

    async def create_session(self, token_hash: bytes, player_id: str, expires_at: float) -> None:
        """Remember a session by the hash of its token."""

    async def session_player(self, token_hash: bytes, now: float) -> Player | None:
        """The player of a live session, or None."""

    async def delete_session(self, token_hash: bytes) -> None:
        """Revoke a session."""

    async def create_server(self, server: GameServer, secret_hash: bytes) -> None:
        """Register a game server with the hash of its secret."""

    async def server_facts(self, server_id: str) -> ServerFacts | None:
        """The address and secret hash of a server, or None when it does not exist."""

    async def get_server(self, server_id: str, now: float) -> GameServer | None:
        """One server with its live counts and members, or None."""

    async def list_servers(self, now: float, ids: Collection[str] | None = None) -> list[GameServer]:
        """Every server (or only those of `ids` that exist) with its live counts, oldest first."""

    async def heartbeat(self, server_id: str, players: int, now: float) -> bool:
        """Mark a server alive with its player count; False when it does not exist."""

    async def delete_server(self, server_id: str) -> bool:
        """Deregister a server and drop its reservations; False when it did not exist."""

    async def reserve(
        self,
        reservation: Reservation,
        now: float,
        heartbeat_timeout_s: float,
        *,
        address: str = "",
        max_per_address: int = 0,
    ) -> str | None:
        """Hold a slot: `NotFound`, or `Conflict` (`server_offline`, `server_full`) when it cannot.

        A player holds one unredeemed reservation at a time: their earlier one, on any server, is
        replaced; returns that server's id when it was another one. With `max_per_address`, the
        live unredeemed reservations made from `address` (not counting the one replaced) are capped:
        `RateLimited` (`too_many_reservations`, `Retry-After` until the first expires) at the cap.
        A refused reserve changes nothing.
        """

    async def redeem(self, jti: str, digest: bytes, server_id: str, now: float) -> RedeemResult:
        """Mark the reservation of `jti` redeemed if its digest matches and it is unredeemed.

        No clock leeway here: the reservation stops counting against capacity at `expires_at`,
        so its token must stop redeeming at the same instant, or a freed slot could be filled twice.
        """

    async def reservation(self, jti: str) -> ReservationState | None:
        """The reservation of `jti`, redeemed or not, or None when there is none (or purged)."""

    async def decline(self, jti: str, digest: bytes, now: float) -> ReservationState | None:
        """Drop the live, unredeemed reservation of `jti` if its digest matches: its slot is free
        and its token stops redeeming at once. Returns what was found (a redeemed or expired one
        is left as it is), or None when there is no such reservation (never, replaced, declined)."""

    async def leave(self, server_id: str, player_id: str) -> bool:
        """Free a player's slot on a server; False when the player was not on it."""

    async def purge(self, now: float) -> None:
        """Forget expired sessions and reservations that can no longer matter."""
