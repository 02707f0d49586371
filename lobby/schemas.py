"""Request and response bodies of the lobby's HTTP API, validated at the edge."""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lobby.names import look_alike_problem, normal_form
from lobby.store import GameServer, Player

NAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 256
CAPACITY_MAX = 100_000
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*")


def _display_name(value: str) -> str:
    if not value.isprintable() or not value.strip():
        raise ValueError("must be printable text, not only spaces")
    return value


def _address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or port != str(int(port)):
        raise ValueError("must be host:port with a port from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])
    elif not HOSTNAME.fullmatch(host):
        raise ValueError("the host must be a DNS name, an IPv4 address or a bracketed IPv6 address")
    return value


def _new_player_name(value: str) -> str:
    value = normal_form(value)
    if not value or len(value) > NAME_MAX:
        raise ValueError(f"must be 1 to {NAME_MAX} characters once normalized (NFKC)")
    problem = look_alike_problem(value)
    if problem is not None:
        raise ValueError(f"this name {problem}, so it could pass for another player's")
    return value


DisplayName = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX), AfterValidator(_display_name)
]
NewPlayerName = Annotated[DisplayName, AfterValidator(_new_player_name)]
Address = Annotated[str, Field(min_length=3, max_length=262), AfterValidator(_address)]


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Credentials(Body):
    """`{name, password}` to register or log in."""

    name: DisplayName
    password: Annotated[str, Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]


class Registration(Body):
    """`{name, password}` of a new player: the name in normal form, refused if it could pass for another."""

    name: NewPlayerName
    password: Annotated[str, Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]


class NewServer(Body):
    """`{name, address, capacity}` of a game server to register."""

    name: DisplayName
    address: Address
    capacity: Annotated[int, Field(ge=1, le=CAPACITY_MAX, strict=True)]


class Heartbeat(Body):
    """`{players}`: how many players the game server has now."""

    players: Annotated[int, Field(ge=0, le=CAPACITY_MAX, strict=True)]


class Leave(Body):
    """`{player}`: the id of the player who left."""

    player: Annotated[str, Field(min_length=1, max_length=64)]


class TokenBody(Body):
    """`{token}`: a join token."""

    token: Annotated[str, Field(min_length=1, max_length=65536)]


def rfc3339(seconds: float) -> str:
    """An epoch time as an RFC 3339 UTC string."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def player_view(player: Player) -> dict[str, str]:
    """A player as the API shows it."""
    return {"id": player.id, "name": player.name}


def game_view(server: GameServer, now: float, heartbeat_timeout_s: float) -> dict[str, object]:
    """A game server as the API shows it."""
    return {
        "id": server.id,
        "name": server.name,
        "address": server.address,
        "capacity": server.capacity,
        "players": server.players,
        "reserved": server.reserved,
        "status": server.status(now, heartbeat_timeout_s),
    }
