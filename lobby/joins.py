"""Joining a game server: reserve a slot and sign its token; acknowledge or decline it; redeem it
exactly once.

Each step publishes what changed: the game's counts (through the game feed) and, to the player's
own event streams, the join's progress (`received` on acknowledgement, `declined` when the game
client's player said no, `joined` on redemption).
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import quote

from lobby import tokens
from lobby.errors import NotFound, TokenError
from lobby.state import Lobby
from lobby.store import Player, RedeemOutcome, Reservation

RECEIVED = "received"
JOINED = "joined"
DECLINED = "declined"


@dataclass(frozen=True)
class IssuedJoin:
    """A join token with the URL that hands it to the game client."""

    token: str
    launch_url: str
    expires_at: float


def launch_url(scheme: str, lobby_url: str, token: str) -> str:
    """The `<scheme>://join?v=1&lobby=...&token=...` URL of DESIGN.md."""
    return f"{scheme}://join?v=1&lobby={quote(lobby_url, safe='')}&token={token}"


async def issue_join(lobby: Lobby, player: Player, server_id: str, address: str) -> IssuedJoin:
    """Reserve a slot for `player` on the server, asked from client `address`, and sign the token
    naming it; the player's earlier unredeemed reservation, on any server, is replaced."""
    server = await lobby.server_facts(server_id)
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
    replaced = await lobby.store.reserve(
        reservation,
        now,
        settings.heartbeat_timeout_s,
        address=address,
        max_per_address=settings.reservations_per_address,
    )
    lobby.metrics.tokens_issued.inc()
    lobby.feed.touch(server_id)
    if replaced is not None:
        lobby.feed.touch(replaced)
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
    try:
        reservation = await _redeem(lobby, token, server_id)
    except TokenError as refused:
        lobby.metrics.tokens_refused.labels(refused.reason).inc()
        raise
    lobby.metrics.tokens_redeemed.inc()
    return reservation


async def _redeem(lobby: Lobby, token: str, server_id: str) -> Reservation:
    jti = _issued_by_us(lobby, token)
    if jti is not None:
        result = await lobby.store.redeem(jti, tokens.digest(token), server_id, lobby.now())
        if result.outcome is RedeemOutcome.REDEEMED and result.reservation is not None:
            lobby.feed.touch(server_id)
            await _progress(lobby, result.reservation, JOINED)
            return result.reservation
        if result.outcome is not RedeemOutcome.NOT_ISSUED:
            raise TokenError(result.outcome.value, _REFUSALS[result.outcome])
    _refuse_unissued(lobby, token, server_id)


async def ack_join(lobby: Lobby, token: str) -> str:
    """The holder of `token` got the join: tell the player's streams; consumes nothing.

    Returns the join's state, `received` or (once the server redeemed it) `joined`.
    """
    jti = _issued_by_us(lobby, token)
    found = await lobby.store.reservation(jti) if jti is not None else None
    if found is None or not hmac.compare_digest(found.reservation.digest, tokens.digest(token)):
        seen = tokens.peek(token)
        audience = seen[1].get("aud") if seen else None
        _refuse_unissued(lobby, token, audience if isinstance(audience, str) else "")
    if found.redeemed_at is not None:
        return JOINED
    if lobby.now() >= found.reservation.expires_at:
        raise TokenError("expired", _REFUSALS[RedeemOutcome.EXPIRED])
    await _progress(lobby, found.reservation, RECEIVED)
    return RECEIVED


async def decline_join(lobby: Lobby, token: str) -> str:
    """The holder of `token` turned the join down: free its slot at once, so the token no longer
    redeems, and tell the player's streams. Returns `declined`, or `joined` when already redeemed."""
    jti = _issued_by_us(lobby, token)
    now = lobby.now()
    found = await lobby.store.decline(jti, tokens.digest(token), now) if jti is not None else None
    if found is None:
        seen = tokens.peek(token)
        audience = seen[1].get("aud") if seen else None
        _refuse_unissued(lobby, token, audience if isinstance(audience, str) else "")
    if found.redeemed_at is not None:
        return JOINED
    if now >= found.reservation.expires_at:
        raise TokenError("expired", _REFUSALS[RedeemOutcome.EXPIRED])
    lobby.feed.touch(found.reservation.server_id)
    await _progress(lobby, found.reservation, DECLINED)
    return DECLINED


def _refuse_unissued(lobby: Lobby, token: str, audience: str) -> NoReturn:
    """Name why a token with no reservation of ours is refused (the full verification's reason)."""
    settings = lobby.settings
    tokens.verify(
        token, lobby.keys, issuer=settings.issuer, audience=audience, leeway_s=settings.clock_leeway_s
    )
    raise TokenError("unknown_token", "this lobby did not issue that token as a join")


async def _progress(lobby: Lobby, reservation: Reservation, state: str) -> None:
    data = {"game": reservation.server_id, "jti": reservation.jti, "state": state}
    await lobby.events.publish("join", data, player=reservation.player.id)


_REFUSALS = {
    RedeemOutcome.WRONG_AUDIENCE: "the token was issued for another game server",
    RedeemOutcome.REPLAYED: "the token has already been redeemed",
    RedeemOutcome.EXPIRED: "the token has expired",
}
