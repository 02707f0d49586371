"""The game-client side: receive joins from the launcher, show them, verify them, ack, and connect.

    client = AsyncGameClient("arena", lobby_url="https://lobby.example")   # the lobby the GAME pins
    async with client.listen() as joins:
        async for join in joins:
            await client.ack(join)                         # the player's page shows "received"
            if not ask_player(join.prompt()):              # claims read without trust, for display
                await client.decline(join)                 # the slot is freed, the page shows it
                continue
            verified = await client.verify(join)           # JWKS of the pinned lobby; typ, iss, exp
            connection = await client.connect(verified)    # address from the verified `srv` only

`AsyncGameClient` is the primary API; `GameClient` is its blocking flavour for a game's own loop.
The joins themselves (`IncomingJoin`, `VerifiedJoin`) are in `client_sdk.joins`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from client_sdk import handshake
from client_sdk._portal import Portal
from client_sdk.attempt import JoinAttempt
from client_sdk.errors import (
    LobbyUnavailable,
    NotFound,
    UntrustedLobby,
    WrongAudience,
    error_for_reason,
    error_from_response,
)
from client_sdk.joins import IncomingJoin, VerifiedJoin, display_text, split_address
from client_sdk.jwks import REFETCH_INTERVAL_S, JWKSCache
from client_sdk.untrusted_json import loads
from client_sdk.verify import LEEWAY_S, TokenVerifier
from launcher.errors import ClientUnavailable, LauncherError, MessageRefused, URLRefused
from launcher.ipc import JoinListener
from launcher.urls import Join, normalize_lobby

REQUEST_TIMEOUT_S = 5.0
NAME_LOOKUP_TIMEOUT_S = 1.0  # the launcher waits for the join's answer meanwhile (5 s in all)
JOIN_QUEUE_SIZE = 16  # joins taken but not yet polled; past it the launcher is answered ok:false, "busy"

JoinHandler = Callable[[IncomingJoin], Awaitable[None] | None]
"""A function called with each join as it arrives; plain or `async`; raising refuses that join."""


class JoinStream:
    """The joins arriving for one scheme: `async with` to listen, `async for` to take them.

    At most `JOIN_QUEUE_SIZE` (16) joins wait to be taken; past that the launcher is answered
    `{"ok": false}` (the game client is busy) and the player's page never hears `received`.
    A join naming a lobby other than the pinned one is refused the same way (`untrusted_lobby`).
    `async with` raises `Conflict` when another instance already listens for this scheme.
    """

    def __init__(self, client: AsyncGameClient, handler: JoinHandler | None = None) -> None:
        self._client = client
        self._handler = handler
        self._queue: asyncio.Queue[IncomingJoin | None] = asyncio.Queue(JOIN_QUEUE_SIZE + 1)
        self.listener = JoinListener(client.scheme, self._take, path=client.socket_path)

    async def _take(self, join: Join) -> None:
        """Refuse a join from a lobby the game did not pin (the launcher sees ok:false); pass it on."""
        if join.lobby != self._client.lobby:
            raise MessageRefused(f"this game does not trust the lobby {join.lobby}", "untrusted_lobby")
        incoming = IncomingJoin(join.lobby, join.token)
        incoming.server_name = await self._client.server_name(incoming)
        if self._handler is not None:
            result = self._handler(incoming)
            if inspect.isawaitable(result):
                await result
            return
        if self._queue.qsize() >= JOIN_QUEUE_SIZE:
            raise ClientUnavailable("the game client is busy with earlier joins")
        self._queue.put_nowait(incoming)

    async def __aenter__(self) -> JoinStream:
        try:
            await self.listener.start()
        except LauncherError as exc:
            raise error_for_reason(exc.reason, str(exc)) from None
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and end the iteration."""
        await self.listener.close()
        if not self._queue.full():
            self._queue.put_nowait(None)

    def __aiter__(self) -> JoinStream:
        return self

    async def __anext__(self) -> IncomingJoin:
        join = await self._queue.get()
        if join is None:
            raise StopAsyncIteration
        return join


class AsyncGameClient:
    """A game client's link to the one lobby it pins: receive, ack, verify, connect or decline joins.

    `lobby` is the pinned lobby's normalized URL (joins naming another are refused); `scheme` the
    URL scheme it listens for. See docs/sdk.md for the lifecycle and what each method raises.
    """

    def __init__(
        self,
        scheme: str,
        lobby_url: str,
        *,
        issuer: str | None = None,
        leeway_s: float = LEEWAY_S,
        jwks_refetch_interval_s: float = REFETCH_INTERVAL_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        handshake_timeout_s: float = handshake.TIMEOUT_S,
        socket_path: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            self.lobby = normalize_lobby(lobby_url)
        except URLRefused as exc:
            raise ValueError(f"the pinned lobby URL is not usable: {exc}") from None
        self.scheme = scheme
        self.socket_path = socket_path
        self.handshake_timeout_s = handshake_timeout_s
        self._http = httpx.AsyncClient(
            base_url=self.lobby, timeout=request_timeout_s, transport=transport, follow_redirects=False
        )
        self.jwks = JWKSCache(self.lobby, client=self._http, refetch_interval_s=jwks_refetch_interval_s)
        self.verifier = TokenVerifier(self.jwks, issuer=issuer or self.lobby, leeway_s=leeway_s)

    def listen(self) -> JoinStream:
        """Listen for joins (single instance per user and scheme): `async with ... as joins`;
        `Conflict` when another instance of the game already listens."""
        return JoinStream(self)

    async def serve(self, handler: JoinHandler) -> None:
        """Call `handler(join)` (plain or async) for each join until cancelled; an exception refuses
        that join (the launcher is answered `ok: false`); `Conflict` as for `listen`."""
        async with JoinStream(self, handler) as stream:
            await stream.listener.serve_forever()

    async def server_name(self, join: IncomingJoin) -> str | None:
        """The name the pinned lobby lists for the server the join's (unverified) `aud` names, for
        display; None when it has none or does not answer within `NAME_LOOKUP_TIMEOUT_S`."""
        server_id = join.preview.server_id
        try:
            self.check_lobby(join)
        except UntrustedLobby:
            return None
        if server_id is None:
            return None
        try:
            response = await self._http.get(
                f"/v1/games/{quote(server_id, safe='')}", timeout=NAME_LOOKUP_TIMEOUT_S
            )
            body = loads(response.content) if response.is_success else None
        except (httpx.HTTPError, ValueError):
            return None
        return display_text(body.get("name")) if isinstance(body, dict) else None

    def check_lobby(self, join: IncomingJoin | VerifiedJoin) -> None:
        """Refuse a join naming a lobby other than the pinned one, before any connection."""
        try:
            lobby = normalize_lobby(join.lobby)
        except URLRefused:
            lobby = None
        if lobby != self.lobby:
            raise UntrustedLobby("the join names a lobby this game does not pin")

    async def verify(
        self,
        join: IncomingJoin,
        *,
        expected_address: str | None = None,
        expected_server_id: str | None = None,
    ) -> VerifiedJoin:
        """Verify the join's token with the pinned lobby's keys; optionally pin where it may lead."""
        self.check_lobby(join)
        claims = await self.verifier.verify(join.token)
        split_address(claims.srv)
        if expected_address is not None and claims.srv != expected_address:
            raise WrongAudience("the token leads to another game server than the one chosen")
        if expected_server_id is not None and claims.aud != expected_server_id:
            raise WrongAudience("the token is for another game server than the one chosen")
        return VerifiedJoin(self.lobby, join.token, claims)

    async def ack(self, join: IncomingJoin | VerifiedJoin) -> bool:
        """Tell the pinned lobby the client got this join; False when the lobby has no such endpoint.

        Raises `UntrustedLobby`, `LobbyUnavailable`, or the lobby's `TokenRefused` reason."""
        return await self._report("/v1/joins/ack", join) is not None

    async def decline(self, join: IncomingJoin | VerifiedJoin) -> bool:
        """Tell the pinned lobby the player turned this join down: its slot is freed at once, the
        token no longer redeems, and the player's page shows `declined`. False when the lobby has no
        such endpoint or the server already redeemed the join. Raises as `ack` does."""
        return await self._report("/v1/joins/decline", join) == "declined"

    async def _report(self, path: str, join: IncomingJoin | VerifiedJoin) -> str | None:
        """POST the join's token to `path`; the join's state it answers, None on a 404."""
        self.check_lobby(join)
        try:
            response = await self._http.post(path, json={"token": join.token})
        except httpx.HTTPError as exc:
            raise LobbyUnavailable(f"the lobby could not be reached ({type(exc).__name__})") from None
        if response.is_success:
            try:
                body = loads(response.content)
            except ValueError:
                body = None
            state = body.get("state") if isinstance(body, dict) else None
            return state if isinstance(state, str) else ""
        error = error_from_response(response)
        if isinstance(error, NotFound):
            return None
        raise error

    async def connect(self, join: VerifiedJoin) -> handshake.Connection:
        """Connect to the verified `srv` and run the reference handshake; raise the server's reason."""
        return await handshake.hello(join.host, join.port, join.token, self.handshake_timeout_s)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncGameClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class GameClient:
    """The blocking flavour of `AsyncGameClient`: `start()`, then `poll()` joins from the game loop
    and drive each with `begin(join)` (never blocks), or with the blocking `verify`/`connect`."""

    def __init__(self, scheme: str, lobby_url: str, **options: object) -> None:
        self._portal = Portal()

        async def build() -> AsyncGameClient:
            return AsyncGameClient(scheme, lobby_url, **options)  # type: ignore[arg-type]

        self._core = self._portal.call(build)
        self._joins: queue.Queue[IncomingJoin | None] = queue.Queue(JOIN_QUEUE_SIZE)
        self._stream: JoinStream | None = None

    @property
    def core(self) -> AsyncGameClient:
        """The async core."""
        return self._core

    def start(self) -> None:
        """Start listening for joins in the background (single instance per user and scheme)."""

        async def begin() -> JoinStream:
            stream = JoinStream(self._core, self._enqueue)
            await stream.__aenter__()
            return stream

        self._stream = self._portal.call(begin)

    def _enqueue(self, join: IncomingJoin) -> None:
        """Hand a join to the game loop, refusing it when the game has not taken earlier ones."""
        try:
            self._joins.put_nowait(join)
        except queue.Full:
            raise ClientUnavailable("the game client is busy with earlier joins") from None

    def begin(self, join: IncomingJoin) -> JoinAttempt:
        """Start the join's lifecycle without blocking: acks it at once, then `accept()` or
        `decline()` on the handle, and read its `state` each frame (see `client_sdk.attempt`)."""
        return JoinAttempt(self._core, self._portal.loop, join)

    def poll(self, timeout_s: float | None = 0) -> IncomingJoin | None:
        """The next join, or None if none arrives within `timeout_s` seconds (0, the default: do not
        wait, for a frame loop; None: wait until a join arrives or the client closes)."""
        try:
            return self._joins.get(block=timeout_s != 0, timeout=timeout_s)
        except queue.Empty:
            return None

    def verify(
        self,
        join: IncomingJoin,
        *,
        expected_address: str | None = None,
        expected_server_id: str | None = None,
    ) -> VerifiedJoin:
        """Verify the join (see `AsyncGameClient.verify`); blocks up to the request timeout."""
        return self._portal.call(
            self._core.verify, join, expected_address=expected_address, expected_server_id=expected_server_id
        )

    def ack(self, join: IncomingJoin | VerifiedJoin) -> bool:
        """Acknowledge the join at the pinned lobby (see `AsyncGameClient.ack`)."""
        return self._portal.call(self._core.ack, join)

    def decline(self, join: IncomingJoin | VerifiedJoin) -> bool:
        """Decline the join at the pinned lobby (see `AsyncGameClient.decline`)."""
        return self._portal.call(self._core.decline, join)

    def connect(self, join: VerifiedJoin) -> tuple[socket.socket, handshake.Player]:
        """Connect to the verified `srv` with the reference handshake; the socket and the player.

        The handshake is bounded by `handshake_timeout_s`; the socket handed back is in blocking
        mode with no timeout (the game sets its own). Raises `HandshakeFailed` or the server's
        `TokenRefused` reason."""
        timeout_s = self._core.handshake_timeout_s
        sock, player = handshake.hello_blocking(join.host, join.port, join.token, timeout_s)
        sock.settimeout(None)
        return sock, player

    def close(self) -> None:
        """Stop listening, close connections and the loop thread; a waiting `poll(None)` returns None."""
        try:
            if self._stream is not None:
                self._portal.call(self._stream.aclose)
            self._portal.call(self._core.aclose)
        finally:
            self._portal.close()
            with contextlib.suppress(queue.Full):
                self._joins.put_nowait(None)

    def __enter__(self) -> GameClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
