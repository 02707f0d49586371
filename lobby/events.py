"""Live events: a publish/subscribe interface with event ids and a bounded history.

`EventBus` is what the rest of the lobby sees. `InProcessEventBus` implements it for one process;
`lobby.events_redis.RedisEventBus` for several instances on one Redis;
`lobby.events_sqlite.SqliteEventBus` for several processes on one SQLite file;
`event_bus_from_settings` chooses (the bus of the store's engine). All hand events to their own
process's subscribers through `LocalFanout`: every subscriber has a bounded queue, and one that falls behind
is dropped (its stream ends and the client reconnects with `Last-Event-ID`), so a slow reader never
makes the lobby's memory grow.

Events whose name starts with `_` are internal: they reach the `listen` callbacks of every process
(a log-out tells every instance's session cache) and never a stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import json
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fastapi.sse import format_sse_event

from lobby.settings import REDIS_SCHEMES, Settings

if TYPE_CHECKING:
    from lobby.store import Store

RETRY_MS = 2000
RESET = "reset"
# How long a resume waits for this process to read an id another process published: the SQLite
# poller reads every 50 ms and the Redis reader within milliseconds, so this covers both with room.
CATCH_UP_S = 0.5
INTERNAL_PREFIX = "_"

log = logging.getLogger("lobby")

Listener = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Event:
    """One published event; `player` set means only that player's streams see it."""

    id: str
    seq: int
    name: str
    data: Mapping[str, Any]
    player: str | None = None
    wire: bytes = field(default=b"", repr=False, compare=False)

    def visible_to(self, player: str | None) -> bool:
        """Whether a stream of `player` (None: anonymous) receives this event."""
        if self.name.startswith(INTERNAL_PREFIX):
            return False
        return self.player is None or self.player == player


def event_number(text: str) -> int | None:
    """A counter written in an event id: at most 19 ASCII digits (so `²`, `٣` or a 5,000-digit
    string from a client's `Last-Event-ID` is not one), or None."""
    if len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def sse_bytes(name: str, data: Mapping[str, Any], event_id: str, retry_ms: int | None = None) -> bytes:
    """One event in the text/event-stream wire format, its data as compact JSON."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return format_sse_event(data_str=payload, event=name, id=event_id, retry=retry_ms)


class Subscription(Protocol):
    """One subscriber's view of the bus: missed events on resume, then live ones."""

    last_id: str
    missed: list[Event] | None

    async def get(self, timeout_s: float) -> Event | None:
        """The next event, or None after `timeout_s` without one; `StopAsyncIteration` at the end."""

    def close(self) -> None:
        """Stop receiving; idempotent."""


class EventBus(Protocol):
    """Publish events to every subscriber, in this process or (Redis bus) in every instance."""

    async def open(self, store: Store) -> None:
        """Start delivering; the Redis bus connects through the Redis store's connection pool."""

    def check(self) -> None:
        """Raise `Unavailable` while events cannot be delivered (Redis unreachable)."""

    async def publish(
        self, name: str, data: Mapping[str, Any], player: str | None = None
    ) -> Event:
        """Give the event its id, keep it in the history and deliver it to the subscribers.

        Never raises for an unreachable Redis: the event is lost, and subscribers get `reset` later.
        """

    def subscribe(self, player: str | None = None, last_event_id: str | None = None) -> Subscription:
        """Start receiving; with `last_event_id`, `missed` holds what came after it (None: too old)."""

    def listen(self, name: str, listener: Listener) -> None:
        """Call `listener(data)` in this process for every event `name` published by any process."""

    async def catch_up(self, last_event_id: str) -> None:
        """Wait briefly until this process has read `last_event_id`, if another process published
        it and this one has not read it yet, so that resuming from it does not end in `reset`."""

    async def close(self) -> None:
        """End every subscription; later subscriptions end at once."""


class _Subscriber:
    """An in-process subscription: a bounded queue and at most one waiting reader."""

    __slots__ = ("_bus", "_limit", "_queue", "_waiter", "closed", "last_id", "missed", "player")

    def __init__(self, bus: LocalFanout, player: str | None, limit: int) -> None:
        self._bus = bus
        self._limit = limit
        self._queue: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.player = player
        self.closed = False
        self.last_id = ""
        self.missed: list[Event] | None = None

    def deliver(self, event: Event) -> bool:
        """Queue `event`; False when the queue is full (the subscriber is too slow)."""
        if len(self._queue) >= self._limit:
            return False
        self._queue.append(event)
        self._wake()
        return True

    def end(self) -> None:
        """Mark the subscription over and wake its reader."""
        self.closed = True
        self._queue.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout_s: float) -> Event | None:
        """The next event, None on timeout, `StopAsyncIteration` once closed."""
        if not self._queue and not self.closed:
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout_s, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._queue:
            return self._queue.popleft()
        if self.closed:
            raise StopAsyncIteration
        return None

    def close(self) -> None:
        """Leave the bus."""
        self._bus.unsubscribe(self)
        self.end()


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Hold off the cyclic garbage collector while fanning one event out.

    The loop allocates a wake-up per subscriber; a full collection it triggers scans every open
    connection's objects, which with 10,000 streams cost ~300 ms, more than the fan-out itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class LocalFanout:
    """This process's subscribers and the hand-over of each event to them; buses build on it."""

    def __init__(self, queue: int) -> None:
        self._queue = queue
        self._subscribers: set[_Subscriber] = set()
        self._listeners: dict[str, list[Listener]] = {}
        self._readers: list[asyncio.Future[None]] = []
        self._closed = False
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        """How many subscriptions are live."""
        return len(self._subscribers)

    async def open(self, store: Store) -> None:
        """Nothing to connect."""

    def check(self) -> None:
        """Always deliverable."""

    def _latest_id(self) -> str:
        raise NotImplementedError

    def _since(self, last_event_id: str, player: str | None) -> list[Event] | None:
        raise NotImplementedError

    def _is_ahead(self, last_event_id: str) -> bool:
        """Whether `last_event_id` is an id of this bus that this process has not read yet."""
        return False

    async def catch_up(self, last_event_id: str) -> None:
        """See `EventBus.catch_up`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_S
        while self._is_ahead(last_event_id) and not self._closed:
            waiter: asyncio.Future[None] = loop.create_future()
            self._readers.append(waiter)
            try:
                await asyncio.wait_for(waiter, deadline - loop.time())
            except TimeoutError:
                return

    def listen(self, name: str, listener: Listener) -> None:
        """See `EventBus.listen`."""
        self._listeners.setdefault(name, []).append(listener)

    def _fan_out(self, event: Event) -> None:
        """Tell the listeners; queue `event` for every subscriber that may see it; drop those too
        slow to take it."""
        readers, self._readers = self._readers, []
        for reader in readers:
            if not reader.done():
                reader.set_result(None)
        for listener in self._listeners.get(event.name, ()):
            try:
                listener(event.data)
            except Exception as exc:  # one bad entry must not stop the delivery
                log.warning("event %s listener failed: %s", event.name, type(exc).__name__)
        if event.name.startswith(INTERNAL_PREFIX):
            return
        with _no_gc():
            slow = [s for s in self._subscribers if event.visible_to(s.player) and not s.deliver(event)]
        for subscriber in slow:
            self.dropped += 1
            subscriber.close()

    def subscribe(self, player: str | None = None, last_event_id: str | None = None) -> _Subscriber:
        """Start receiving events; see `EventBus.subscribe`."""
        subscriber = _Subscriber(self, player, self._queue)
        subscriber.last_id = self._latest_id()
        if last_event_id is not None:
            subscriber.missed = self._since(last_event_id, player)
        if self._closed:
            subscriber.end()
        else:
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        """Forget a subscriber."""
        self._subscribers.discard(subscriber)

    async def close(self) -> None:
        """End every subscription."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber.close()


class InProcessEventBus(LocalFanout):
    """The `EventBus` of one lobby process, with a history of the last `history` events."""

    def __init__(self, history: int, queue: int) -> None:
        super().__init__(queue)
        self._boot = secrets.token_hex(4)
        self._seq = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=history)

    def _id(self, seq: int) -> str:
        return f"{self._boot}-{seq}"

    def _latest_id(self) -> str:
        return self._id(self._seq)

    async def publish(
        self, name: str, data: Mapping[str, Any], player: str | None = None
    ) -> Event:
        """Number the event, remember it and queue it for every subscriber that may see it."""
        self._seq += 1
        event_id = self._id(self._seq)
        event = Event(event_id, self._seq, name, data, player, sse_bytes(name, data, event_id))
        self._history.append(event)
        self._fan_out(event)
        return event

    def _since(self, last_event_id: str, player: str | None) -> list[Event] | None:
        boot, _, number = last_event_id.strip().rpartition("-")
        seq = event_number(number)
        if boot != self._boot or seq is None:
            return None
        oldest = self._history[0].seq if self._history else self._seq + 1
        if seq > self._seq or seq < oldest - 1:
            return None
        start = seq - oldest + 1
        return [e for e in list(self._history)[start:] if e.visible_to(player)]


def event_bus_from_settings(settings: Settings) -> EventBus:
    """The event bus these settings call for: on the store's Redis or SQLite file, else in-process."""
    if settings.store_url.startswith(REDIS_SCHEMES):
        from lobby.events_redis import RedisEventBus

        return RedisEventBus(settings.events_history, settings.events_queue)
    if settings.store_url.startswith("sqlite:///"):
        from lobby.events_sqlite import SqliteEventBus

        return SqliteEventBus(settings.events_history, settings.events_queue)
    return InProcessEventBus(settings.events_history, settings.events_queue)
