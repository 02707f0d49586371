"""The game-server side: register, heartbeat, validate join tokens (online, offline or both), leave.

    async with await AsyncGameServer.register(LOBBY, admin_token=..., name="eu-1",
                                              address="203.0.113.5:7777", capacity=16) as server:
        player = await server.accept(reader, writer)     # the reference handshake, per policy

`AsyncGameServer` is the primary API; `GameServer` is its blocking flavour over the same core.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import enum
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

import httpx

from client_sdk import handshake
from client_sdk._portal import Portal
from client_sdk.errors import (
    LobbyUnavailable,
    NotFound,
    PlaylinkError,
    Replayed,
    TokenRefused,
    error_from_response,
)
from client_sdk.handshake import Player
from client_sdk.jwks import REFETCH_INTERVAL_S, JWKSCache
from client_sdk.reports import Outbox, Report
from client_sdk.verify import LEEWAY_S, ReplayGuard, TokenVerifier, read_unverified

REQUEST_TIMEOUT_S = 5.0
HEARTBEAT_INTERVAL_S = 10.0
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 15.0

log = logging.getLogger("client_sdk")


class Policy(enum.Enum):
    """How a game server validates join tokens."""

    ONLINE = "online"
    """Redeem at the lobby only (exactly once, audience enforced there); the default."""
    OFFLINE = "offline"
    """Verify locally, with the lobby's cached JWKS and a local used-`jti` set, never waiting on the
    lobby; each admission is then reported (redeemed) at the lobby after the next heartbeat that gets
    through, so the lobby lists the player as a member and stops holding their slot as reserved.
    Until then the slot counts twice there (in the heartbeat's `players` and as `reserved`)."""
    ONLINE_WITH_FALLBACK = "online_with_fallback"
    """Redeem at the lobby; verify locally only when the lobby cannot be reached, and redeem those
    tokens at the lobby once it answers again (see `report_offline_admissions`)."""


class Admission(NamedTuple):
    """A player admitted by a join token, and how: `online` (redeemed) or offline (verified)."""

    player: Player
    game: str
    jti: str
    expires_at: float
    online: bool


@dataclass
class HeartbeatState:
    """What the heartbeat loop knows: consecutive failures, the next delay, the last error reason."""

    consecutive_failures: int = 0
    next_delay_s: float = 0.0
    last_error: str | None = None
    sent: int = 0


def backoff_s(failures: int, first_s: float, max_s: float) -> float:
    """The delay after `failures` consecutive failures: doubling from `first_s`, capped, jittered."""
    ceiling = min(max_s, first_s * 2 ** max(0, failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrecy


class AsyncGameServer:
    """One registered game server's client of the lobby; `async with` starts and stops it.

    `player_count` (None: the players accepted minus those who left, `len(players)`) is what each
    heartbeat reports. The hooks, each a plain function called on the SDK's loop (an exception in
    one is logged, never raised): `on_heartbeat_failed(state)` after each failed heartbeat,
    `on_lobby_back(state)` at the first heartbeat that gets through after failures, and
    `on_reported(count)` when queued admissions and leaves reached the lobby. Logs go to the
    `client_sdk` logger.

    Attributes for the game: `id` (this server's id at the lobby), `players` (player id -> `Player`,
    admitted and not left), `heartbeat_state` (a `HeartbeatState`), `policy`, `unreported` and
    `unreported_leaves` (what waits for the lobby).
    """

    def __init__(
        self,
        lobby_url: str,
        server_id: str,
        secret: str,
        *,
        policy: Policy = Policy.ONLINE,
        issuer: str | None = None,
        leeway_s: float = LEEWAY_S,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        jwks_refetch_interval_s: float = REFETCH_INTERVAL_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        handshake_timeout_s: float = handshake.TIMEOUT_S,
        player_count: Callable[[], int] | None = None,
        deregister_on_close: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        on_heartbeat_failed: Callable[[HeartbeatState], object] | None = None,
        on_lobby_back: Callable[[HeartbeatState], object] | None = None,
        on_reported: Callable[[int], object] | None = None,
    ) -> None:
        self.on_heartbeat_failed = on_heartbeat_failed
        self.on_lobby_back = on_lobby_back
        self.on_reported = on_reported
        self.lobby_url = lobby_url.rstrip("/")
        self.id = server_id
        self.policy = Policy(policy)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self.handshake_timeout_s = handshake_timeout_s
        self.deregister_on_close = deregister_on_close
        self.heartbeat_state = HeartbeatState()
        self.players: dict[str, Player] = {}
        self._player_count = player_count
        self._http = httpx.AsyncClient(
            base_url=self.lobby_url,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=request_timeout_s,
            transport=transport,
            follow_redirects=False,
        )
        self.jwks = JWKSCache(self.lobby_url, client=self._http, refetch_interval_s=jwks_refetch_interval_s)
        self.replay_guard = ReplayGuard()
        self.verifier = TokenVerifier(
            self.jwks,
            issuer=issuer or self.lobby_url,
            audience=server_id,
            leeway_s=leeway_s,
            replay_guard=self.replay_guard,
        )
        self._heartbeats: asyncio.Task[None] | None = None
        self._outbox = Outbox()
        self._reporting = asyncio.Lock()

    @classmethod
    async def register(
        cls,
        lobby_url: str,
        *,
        admin_token: str,
        name: str,
        address: str,
        capacity: int,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: object,
    ) -> AsyncGameServer:
        """Register a new game server with the operator's admin token; it deregisters when closed."""
        body = {"name": name, "address": address, "capacity": capacity}
        async with httpx.AsyncClient(base_url=lobby_url.rstrip("/"), transport=transport) as http:
            response = await _send(
                http.post("/v1/servers", json=body, headers={"Authorization": f"Bearer {admin_token}"})
            )
        options.setdefault("deregister_on_close", True)
        return cls(
            lobby_url, response.json()["id"], response.json()["secret"], transport=transport, **options
        )  # type: ignore[arg-type]

    async def start(self) -> None:
        """Send the first heartbeat and keep sending them in the background; prefetch keys if needed."""
        if self.policy is not Policy.ONLINE:
            with contextlib.suppress(PlaylinkError):
                await self.jwks.refresh()
        if self._heartbeats is None:
            self._heartbeats = asyncio.create_task(self._heartbeat_forever(), name=f"heartbeat {self.id}")

    async def heartbeat(self) -> None:
        """Tell the lobby once that this server is alive, with its player count."""
        count = self._player_count() if self._player_count else len(self.players)
        await _send(self._http.put(f"/v1/servers/{self.id}/heartbeat", json={"players": count}))

    async def _heartbeat_forever(self) -> None:
        """Heartbeat every interval; after failures, back off (doubling, capped) and keep trying."""
        state = self.heartbeat_state
        while True:
            try:
                await self.heartbeat()
            except PlaylinkError as exc:
                state.consecutive_failures += 1
                state.last_error = exc.reason
                state.next_delay_s = backoff_s(
                    state.consecutive_failures, self.backoff_first_s, self.backoff_max_s
                )
                log.warning("heartbeat failed (%s); retrying in %.1f s", exc.reason, state.next_delay_s)
                _hook(self.on_heartbeat_failed, state)
            else:
                back = state.consecutive_failures > 0
                if back:
                    log.info("the lobby answers again after %d failed heartbeats", state.consecutive_failures)
                state.consecutive_failures, state.last_error = 0, None
                state.sent += 1
                state.next_delay_s = self.heartbeat_interval_s
                if back:
                    _hook(self.on_lobby_back, state)
                if self._outbox:
                    await self.report_offline_admissions()
            await asyncio.sleep(state.next_delay_s)

    async def redeem(self, token: str) -> Admission:
        """The online check: redeem `token` at the lobby (exactly once, for this server only)."""
        jti = _unverified_jti(token)
        if jti is not None and self.replay_guard.seen(jti):
            raise Replayed("this join token was already used at this server")
        admission = await self._redeem_at_lobby(token)
        with contextlib.suppress(PlaylinkError):
            self.replay_guard.use(admission.jti, admission.expires_at + self.verifier.leeway_s)
        self.players[admission.player.id] = admission.player
        return admission

    async def _redeem_at_lobby(self, token: str) -> Admission:
        response = await _send(self._http.post("/v1/tokens/redeem", json={"token": token}))
        body = response.json()
        expires_at = datetime.datetime.fromisoformat(body["expires_at"]).timestamp()
        player = Player(body["player"]["id"], body["player"]["name"])
        return Admission(player, body["game"], body["jti"], expires_at, True)

    @property
    def unreported(self) -> list[Admission]:
        """Players admitted offline whose tokens the lobby has not redeemed yet."""
        return [report.admission for report in self._outbox if report.admission is not None]

    @property
    def unreported_leaves(self) -> list[str]:
        """Ids of players whose leave the lobby has not heard yet (it was unreachable), in order."""
        return [report.player_id for report in self._outbox if report.admission is None]

    async def report_offline_admissions(self) -> int:
        """Tell the lobby, in order, what it missed: offline admissions and queued leaves; how many
        it took.

        Runs after each heartbeat that gets through, so the lobby learns who joined (it spends those
        tokens and lists those players as members) and who left (it frees their slots). A token the
        lobby refuses (most often `expired`, when the outage outlasted it; `replayed` if another
        process of this server redeemed it) is dropped with a warning: the lobby then counts that
        player only through the heartbeats' player count. Stops at the first `LobbyUnavailable`.
        """
        reported = 0
        async with self._reporting:
            while self._outbox:
                report = self._outbox.first()
                try:
                    await self._send_report(report)
                except LobbyUnavailable:
                    break
                except PlaylinkError as exc:
                    log.warning("the lobby refused %s: %s", report.what(), exc.reason)
                else:
                    reported += 1
                self._outbox.done()
        if reported:
            log.info("reported %d admission(s) and leave(s) the lobby missed", reported)
            _hook(self.on_reported, reported)
        return reported

    async def _send_report(self, report: Report) -> None:
        """Send one queued report to the lobby; a leave the lobby did not know is done too."""
        if report.token is not None:
            await self._redeem_at_lobby(report.token)
            return
        with contextlib.suppress(NotFound):
            await _send(self._http.post(f"/v1/servers/{self.id}/leave", json={"player": report.player_id}))

    async def verify(self, token: str) -> Admission:
        """The offline check: signature by the lobby's JWKS, audience this server, each `jti` once."""
        claims = await self.verifier.verify(token)
        admission = Admission(Player(claims.sub, claims.name), claims.aud, claims.jti, claims.exp, False)
        self.players[admission.player.id] = admission.player
        return admission

    async def admit(self, token: str) -> Admission:
        """Validate `token` by this server's policy; an offline admission is queued for the lobby."""
        if self.policy is Policy.ONLINE:
            return await self.redeem(token)
        if self.policy is Policy.ONLINE_WITH_FALLBACK:
            try:
                return await self.redeem(token)
            except LobbyUnavailable:
                log.warning("the lobby is unreachable; verifying the join token offline")
        admission = await self.verify(token)
        self._outbox.add(Report(admission.player.id, token, admission))
        return admission

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Admission:
        """Run the server side of the reference handshake on a new connection and admit the player by
        the policy. On a refusal it answers `{"ok": false, "reason"}`, closes the connection and
        raises the reason's `PlaylinkError` (a `TokenRefused`, `LobbyUnavailable` for an online
        policy with the lobby down, or `HandshakeFailed` for a broken hello)."""
        admitted: list[Admission] = []

        async def admit(token: str) -> Player:
            admitted.append(await self.admit(token))
            return admitted[0].player

        await handshake.accept(reader, writer, admit, self.handshake_timeout_s)
        return admitted[0]

    async def leave(self, player_id: str) -> bool:
        """Report that a player left (frees the slot); False if the lobby did not have them here.

        While the lobby is unreachable, or earlier reports still wait for it, the leave is queued
        (see `unreported_leaves`) and sent in order after them; it then returns True."""
        self.players.pop(player_id, None)
        if self._outbox:
            self._outbox.add(Report(player_id))
            await self.report_offline_admissions()
            return True
        try:
            await _send(self._http.post(f"/v1/servers/{self.id}/leave", json={"player": player_id}))
        except NotFound:
            return False
        except LobbyUnavailable:
            log.warning("the lobby is unreachable; %s's leave is queued until it answers", player_id)
            self._outbox.add(Report(player_id))
        return True

    async def deregister(self) -> None:
        """Remove this server from the lobby."""
        await _send(self._http.delete(f"/v1/servers/{self.id}"))

    async def aclose(self) -> None:
        """Stop the heartbeats, deregister if this server registered itself, close connections."""
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
            self._heartbeats = None
        try:
            if self.deregister_on_close:
                with contextlib.suppress(LobbyUnavailable, NotFound):
                    await self.deregister()
        finally:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncGameServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class GameServer:
    """The blocking flavour of `AsyncGameServer`, running the same core on a private loop thread."""

    def __init__(self, lobby_url: str, server_id: str, secret: str, **options: object) -> None:
        self._portal = Portal()

        async def build() -> AsyncGameServer:
            return AsyncGameServer(lobby_url, server_id, secret, **options)  # type: ignore[arg-type]

        self._core = self._portal.call(build)

    @classmethod
    def register(cls, lobby_url: str, **options: object) -> GameServer:
        """Register a new game server with the operator's admin token; it deregisters when closed."""
        self = cls.__new__(cls)
        self._portal = Portal()
        self._core = self._portal.call(AsyncGameServer.register, lobby_url, **options)  # type: ignore[arg-type]
        return self

    @property
    def core(self) -> AsyncGameServer:
        """The async core (its attributes: `id`, `players`, `heartbeat_state`, `policy`, ...)."""
        return self._core

    @property
    def id(self) -> str:
        """This server's id at the lobby."""
        return self._core.id

    def start(self) -> None:
        """Send heartbeats in the background."""
        self._portal.call(self._core.start)

    def redeem(self, token: str) -> Admission:
        """The online check (see `AsyncGameServer.redeem`)."""
        return self._portal.call(self._core.redeem, token)

    def verify(self, token: str) -> Admission:
        """The offline check (see `AsyncGameServer.verify`)."""
        return self._portal.call(self._core.verify, token)

    def admit(self, token: str) -> Admission:
        """Validate `token` by this server's policy."""
        return self._portal.call(self._core.admit, token)

    def leave(self, player_id: str) -> bool:
        """Report that a player left."""
        return self._portal.call(self._core.leave, player_id)

    @property
    def unreported(self) -> list[Admission]:
        """Offline admissions the lobby has not redeemed yet (see `AsyncGameServer.unreported`)."""
        return self._core.unreported

    @property
    def unreported_leaves(self) -> list[str]:
        """Leaves the lobby has not heard yet, in order (see `AsyncGameServer.unreported_leaves`)."""
        return self._core.unreported_leaves

    def report_offline_admissions(self) -> int:
        """Send the queued admissions and leaves now, in order (see `AsyncGameServer`)."""
        return self._portal.call(self._core.report_offline_admissions)

    def deregister(self) -> None:
        """Remove this server from the lobby."""
        self._portal.call(self._core.deregister)

    def close(self) -> None:
        """Stop heartbeats, deregister if self-registered, and stop the loop thread."""
        try:
            self._portal.call(self._core.aclose)
        finally:
            self._portal.close()

    def __enter__(self) -> GameServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _hook(hook: Callable[..., object] | None, *args: object) -> None:
    """Call a game's hook; its exception is logged, never let into the SDK's own loops."""
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:
        log.exception("a game's hook (%s) raised", getattr(hook, "__name__", hook))


async def _send(request: Awaitable[httpx.Response]) -> httpx.Response:
    """Await an httpx request; a refusal becomes its `PlaylinkError`, no answer `LobbyUnavailable`."""
    try:
        response = await request
    except httpx.HTTPError as exc:
        raise LobbyUnavailable(f"the lobby could not be reached ({type(exc).__name__})") from None
    if response.is_success:
        return response
    raise error_from_response(response)


def _unverified_jti(token: str) -> str | None:
    """The `jti` a token claims, read without trust (only to look it up among used ones)."""
    try:
        jti = read_unverified(token)[1].get("jti")
    except TokenRefused:
        return None
    return jti if isinstance(jti, str) else None
