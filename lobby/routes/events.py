"""Live events as Server-Sent Events: the game list as it changes, and a player's join progress."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse

from lobby.deps import LobbyDep, session_credential
from lobby.errors import Unavailable
from lobby.events import RESET, RETRY_MS, sse_bytes
from lobby.state import Lobby

router = APIRouter(prefix="/v1/events", tags=["events"])
PING = b": ping\n\n"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _logged_in(lobby: Lobby, session: tuple[bytes, str] | None) -> bool:
    """Whether the stream's session (token hash, player id) is still live; True when it has none."""
    return session is None or await lobby.session_player(session[0]) is not None


async def _stream(
    lobby: Lobby, session: tuple[bytes, str] | None, last_event_id: str | None
) -> AsyncIterator[bytes]:
    """The stream of one subscriber; it subscribes on its first step, so a response that never
    starts holds nothing. A stream whose session has ended (log-out, expiry) ends instead of
    passing on the next event for that player."""
    player = session[1] if session else None
    if last_event_id is not None:
        await lobby.events.catch_up(last_event_id)
    subscription = lobby.events.subscribe(player, last_event_id)
    feed, ping_s = lobby.feed, lobby.settings.events_ping_s
    lobby.metrics.event_subscribers.inc()
    try:
        if subscription.missed is None:
            name = "reset" if last_event_id is not None else "snapshot"
            games = await feed.games()
            yield sse_bytes(name, {"games": games}, subscription.last_id, RETRY_MS)
        else:
            for event in subscription.missed:
                yield event.wire
        while True:
            try:
                event = await subscription.get(ping_s)
            except StopAsyncIteration:
                return
            if event is None:
                yield PING
            elif event.player is not None and not await _logged_in(lobby, session):
                return
            elif event.name == RESET:
                yield sse_bytes(RESET, {"games": await feed.games()}, event.id)
            else:
                yield event.wire
    except Unavailable:
        return
    finally:
        subscription.close()
        lobby.metrics.event_subscribers.dec()


@router.get("", responses={200: {"content": {"text/event-stream": {}}}})
async def events(request: Request, lobby: LobbyDep) -> EventSourceResponse:
    """Server-Sent Events: `snapshot` (or `reset`), then `game`, `game_removed`; with a session,
    also `join` events of that player. `Last-Event-ID` resumes after the event it names.
    A `reset` may also come mid-stream, after the lobby lost touch with Redis."""
    lobby.events.check()
    found = await session_credential(request, lobby)
    session = (found[0], found[1].id) if found else None
    stream = _stream(lobby, session, request.headers.get("last-event-id"))
    return EventSourceResponse(stream, headers=STREAM_HEADERS)
