"""One join driven from a game's frame loop: every step runs in the background, the loop reads a state.

    attempt = client.begin(join)              # acks in the background; state PROMPTING
    ...each frame:
    if attempt.state is JoinState.PROMPTING:  draw join.prompt(), on Yes attempt.accept(), on No
                                              attempt.decline()
    elif attempt.state is JoinState.CONNECTED: sock, player = attempt.socket, attempt.player
    elif attempt.state is JoinState.FAILED:    show attempt.error.reason

No call blocks the frame: `accept` and `decline` return at once, and the work (verify, handshake,
the lobby's decline) runs on the SDK's own loop thread.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from client_sdk import handshake
from client_sdk.errors import PlaylinkError

if TYPE_CHECKING:
    from client_sdk.client import AsyncGameClient
    from client_sdk.joins import IncomingJoin, VerifiedJoin

log = logging.getLogger("client_sdk")


class JoinState(enum.Enum):
    """Where a `JoinAttempt` is; read it once per frame."""

    PROMPTING = "prompting"
    """Waiting for the player's answer: call `accept()` or `decline()`."""
    VERIFYING = "verifying"
    """Checking the token with the pinned lobby's keys."""
    CONNECTING = "connecting"
    """Running the handshake with the game server named by the verified token."""
    CONNECTED = "connected"
    """Admitted: `socket` (blocking, no timeout) and `player` are the game's."""
    DECLINING = "declining"
    """Telling the lobby the player said no."""
    DECLINED = "declined"
    """Declined (at the lobby, when it could be reached); the join is over."""
    FAILED = "failed"
    """Refused or unreachable: `error` (a `PlaylinkError`) says why; a retry needs a new join."""


class JoinAttempt:
    """One join's way from the prompt to a connection, for a frame loop that must never block."""

    def __init__(self, core: AsyncGameClient, loop: asyncio.AbstractEventLoop, join: IncomingJoin) -> None:
        self.join = join
        self.state = JoinState.PROMPTING
        self.error: PlaylinkError | None = None
        self.verified: VerifiedJoin | None = None
        self.socket: socket.socket | None = None
        self.player: handshake.Player | None = None
        self._core = core
        self._loop = loop
        self._run(self._ack())

    @property
    def reason(self) -> str | None:
        """The failure's machine-readable reason, or None unless `state` is FAILED."""
        return self.error.reason if self.error is not None else None

    def accept(self) -> None:
        """The player said yes: verify and connect in the background; returns at once."""
        self._answer(JoinState.VERIFYING, self._connect())

    def decline(self) -> None:
        """The player said no: decline at the lobby in the background; returns at once."""
        self._answer(JoinState.DECLINING, self._decline())

    def _answer(self, state: JoinState, work: Coroutine[Any, Any, None]) -> None:
        """Leave PROMPTING for `state` and start `work`; a second answer is a `RuntimeError`."""
        if self.state is not JoinState.PROMPTING:
            work.close()
            raise RuntimeError(f"this join was already answered (it is {self.state.value})")
        self.state = state
        self._run(work)

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        """Start `work` on the SDK's loop thread."""
        asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _ack(self) -> None:
        """Acknowledge the join so the player's page shows `received`; a failure is only logged."""
        try:
            await self._core.ack(self.join)
        except PlaylinkError as exc:
            log.warning("could not acknowledge the join (%s)", exc.reason)

    async def _connect(self) -> None:
        try:
            self.verified = verified = await self._core.verify(self.join)
            self.state = JoinState.CONNECTING
            timeout_s = self._core.handshake_timeout_s
            sock, player = await asyncio.to_thread(
                handshake.hello_blocking, verified.host, verified.port, verified.token, timeout_s
            )
        except PlaylinkError as exc:
            self.error, self.state = exc, JoinState.FAILED
            return
        except Exception as exc:  # a bug must not leave the frame loop waiting forever
            log.exception("the join failed unexpectedly")
            self.error = PlaylinkError(f"the join failed unexpectedly ({type(exc).__name__})")
            self.state = JoinState.FAILED
            return
        sock.settimeout(None)
        self.socket, self.player = sock, player
        self.state = JoinState.CONNECTED

    async def _decline(self) -> None:
        try:
            await self._core.decline(self.join)
        except PlaylinkError as exc:
            log.warning("could not decline the join at the lobby (%s)", exc.reason)
        self.state = JoinState.DECLINED
