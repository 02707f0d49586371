"""Joining a game server: reserve a slot and sign its token; redeem a token exactly once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

from lobby import tokens
from lobby.errors import NotFound, TokenError
from lobby.state import Lobby
from lobby.store import Player, RedeemOutcome, Reservation


@dataclass(frozen=True)
class IssuedJoin:
    """A join token with the URL that hands it to the game client."""

    token: str
    launch_url: str
    expires_at: float


def launch_url(scheme: str, lobby_url: str, token: str) -> str:
    """The `<scheme>://join?v=1&lobby=...&token=...` URL of DESIGN.md."""
    return f"{scheme}://join?v=1&lobby={quote(lobby_url, safe='')}&token={token}"


async def issue_join(lobby: Lobby, player: Player, server_id: str) -> IssuedJoin:
    """Reserve a slot for `player` on the server and sign the token naming it."""
    server = await lobby.servers.get(server_id)
    if server is None:
        raise NotFound("no such game server")
    now = lobby.now()
    settings = lobby.settings
    lobby.keys.refresh()
    token, claims, kid = tokens.issue(
        lobby.keys,
        issuer=settings.issuer,
        player_id=player.id,
        player_name=player.name,
        server_id=server_id,
        server_address=server.address,
        now=math.floor(now),
        ttl_s=settings.join_token_ttl_s,
    )
    reservation = Reservation(
        claims.jti, server_id, player, tokens.digest(token), kid, float(claims.exp)
    )
    await lobby.store.reserve(reservation, now, settings.heartbeat_timeout_s)
    return IssuedJoin(token, launch_url(settings.launch_scheme, settings.issuer, token), claims.exp)


def _issued_by_us(lobby: Lobby, token: str) -> str | None:
    """The jti of a token that may be one this lobby issued with a key still in service."""
    seen = tokens.peek(token)
    if seen is None:
        return None
    header, payload = seen
    kid, jti = header.get("kid"), payload.get("jti")
    if not isinstance(kid, str) or not isinstance(jti, str):
        return None
    lobby.keys.refresh()
    key = lobby.keys.get(kid)
    if key is None or key.retired:
        return None
    return jti


async def redeem_join(lobby: Lobby, token: str, server_id: str) -> Reservation:
    """Redeem `token` for `server_id`: exactly once, only for the server it names."""
    settings = lobby.settings
    jti = _issued_by_us(lobby, token)
    if jti is not None:
        result = await lobby.store.redeem(jti, tokens.digest(token), server_id, lobby.now())
        if result.outcome is RedeemOutcome.REDEEMED and result.reservation is not None:
            return result.reservation
        if result.outcome is not RedeemOutcome.NOT_ISSUED:
            raise TokenError(result.outcome.value, _REFUSALS[result.outcome])
    tokens.verify(
        token,
        lobby.keys,
        issuer=settings.issuer,
        audience=server_id,
        leeway_s=settings.clock_leeway_s,
    )
    raise TokenError("unknown_token", "this lobby did not issue that token as a join")


_REFUSALS = {
    RedeemOutcome.WRONG_AUDIENCE: "the token was issued for another game server",
    RedeemOutcome.REPLAYED: "the token has already been redeemed",
    RedeemOutcome.EXPIRED: "the token has expired",
}
