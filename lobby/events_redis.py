"""Live events through Redis: a change made through any lobby instance reaches the streams of all.

Publishing is an `XADD` to the capped stream `<prefix>events` (`MAXLEN ~ LOBBY_EVENTS_HISTORY`);
the events published during one turn of the event loop go in one pipeline, one round trip for all:
the stream is both the shared history and the notification, and its entry ids are the events' ids,
the same on every instance, so `Last-Event-ID` resumes on any of them. Each instance runs one
reader task (`XREAD BLOCK` on one pooled connection, whatever the number of subscribers) that keeps
a local copy of the recent history and hands every entry to this process's subscribers through
`LocalFanout`, player-scoped `join` events included. Every instance's game feed publishes the changes
it sees, so an event for everyone whose data has an `id` is not appended again when the stream's
latest event for that id is the same (name and data): a change reaches each stream once, not once
per instance (two instances racing may still both append it; views are full, so that is harmless).

Redis unreachable: `publish` logs once and returns (the request that caused it does not fail; the
game feed's sweep publishes the state again later), new streams are refused as `Unavailable`, and
once the reader reconnects every open stream gets `reset` (it may have missed events). Every wait
on Redis is bounded: `publish` gives up after `PUBLISH_TIMEOUT_S`, and a batch that fails in any
way (redis-py's cluster client also raises non-Redis errors under connection churn) resolves all
of its waiters, so no caller, the game feed included, can wait forever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from lobby.errors import Unavailable
from lobby.events import RESET, Event, LocalFanout, event_number, sse_bytes
from lobby.store import RedisStore, Store

log = logging.getLogger("lobby")
STREAM_KEY = "events"
BLOCK_MS = 1000  # below the store pool's socket timeout (2 s)
READ_COUNT = 512
RETRY_PAUSE_S = 0.25
PUBLISH_TIMEOUT_S = 3.0  # above the store pool's socket timeout (2 s): a hung Redis, not a slow one
NO_ID = "0-0"


def _fields(name: str, data: Mapping[str, Any], player: str | None) -> dict[str, str]:
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return {"n": name, "d": payload, "p": player or ""}


def _stream_id(text: str) -> tuple[int, int] | None:
    """A Redis stream id (`<ms>-<seq>`) as a comparable pair, or None when `text` is not one."""
    ms, dash, seq = text.partition("-")
    ms_number, seq_number = event_number(ms), event_number(seq)
    if not dash or ms_number is None or seq_number is None:
        return None
    return ms_number, seq_number


class RedisEventBus(LocalFanout):
    """The `EventBus` of several lobby instances on one Redis stream."""

    def __init__(self, history: int, queue: int) -> None:
        super().__init__(queue)
        self._history_len = history
        self._history: collections.deque[Event] = collections.deque()
        self._index: dict[str, int] = {}
        self._seq = 0
        self._last = NO_ID
        self._latest: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._redis: Redis | None = None
        self._key = STREAM_KEY
        self._reader: asyncio.Task[None] | None = None
        self._reader_down = False
        self._publish_down = False
        self._outbox: list[tuple[dict[str, str], asyncio.Future[bytes]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def open(self, store: Store) -> None:
        """Load the recent history and start the reader, on the Redis store's connection pool."""
        if not isinstance(store, RedisStore):
            raise TypeError("the Redis event bus needs the Redis store")
        self._redis = store.client
        self._key = store.prefix + STREAM_KEY
        await self._load()
        self._reader = asyncio.create_task(self._read_forever())

    def check(self) -> None:
        """Raise `Unavailable` while the reader cannot reach Redis."""
        if self._redis is None or self._reader_down:
            raise Unavailable("live events cannot reach Redis")

    async def publish(
        self, name: str, data: Mapping[str, Any], player: str | None = None
    ) -> Event:
        """Append the event to the shared stream; this and every other instance's reader delivers it."""
        subject = data.get("id") if player is None else None
        if isinstance(subject, str) and self._latest.get(subject) == (name, data):
            return Event(self._last, 0, name, data)
        try:
            raw = await asyncio.wait_for(self._append(_fields(name, data, player)), PUBLISH_TIMEOUT_S)
        except Exception as exc:  # any failure of the client, or no answer in time
            if not self._publish_down:
                log.warning("events not published while Redis fails: %s", type(exc).__name__)
            self._publish_down = True
            return Event("", 0, name, data, player)
        self._publish_down = False
        event_id = raw.decode()
        return Event(event_id, 0, name, data, player, sse_bytes(name, data, event_id))

    def _append(self, fields: dict[str, str]) -> asyncio.Future[bytes]:
        """Queue one XADD; the queue goes out as one pipeline once this turn of the loop is over."""
        if self._redis is None:
            raise ConnectionError("the event bus is not open")
        loop = asyncio.get_running_loop()
        if not self._outbox:
            task = loop.create_task(self._send_outbox(self._redis))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        future: asyncio.Future[bytes] = loop.create_future()
        self._outbox.append((fields, future))
        return future

    async def _send_outbox(self, redis: Redis) -> None:
        """Send the queued XADDs as one pipeline; every waiter is resolved, whatever happens."""
        batch, self._outbox = self._outbox, []
        failure: BaseException = ConnectionError("the events were not sent")
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for fields, _future in batch:
                    pipe.xadd(self._key, fields, maxlen=self._history_len, approximate=True)
                replies = await pipe.execute()
            for (_fields, future), raw in zip(batch, replies, strict=True):
                if not future.done():
                    future.set_result(raw)
        except Exception as exc:  # redis-py's cluster client raises non-Redis errors too
            failure = exc
        finally:
            for _fields, future in batch:
                if not future.done():
                    future.set_exception(failure)

    def _latest_id(self) -> str:
        return self._last

    def _since(self, last_event_id: str, player: str | None) -> list[Event] | None:
        wanted = last_event_id.strip()
        seq = self._index.get(wanted)
        if seq is None:
            return [] if wanted == self._last else None
        return [e for e in self._history if e.seq > seq and e.visible_to(player)]

    def _is_ahead(self, last_event_id: str) -> bool:
        wanted = _stream_id(last_event_id.strip())
        return wanted is not None and wanted > (_stream_id(self._last) or (0, 0))

    def _remember(self, raw_id: bytes, fields: Mapping[bytes, bytes]) -> Event | None:
        event_id = raw_id.decode()
        self._last = event_id
        try:
            name = fields[b"n"].decode()
            data = json.loads(fields[b"d"])
            player = fields.get(b"p", b"").decode() or None
        except (KeyError, ValueError):
            log.warning("skipped a malformed event entry %s", event_id)
            return None
        subject = data.get("id") if player is None and isinstance(data, dict) else None
        if isinstance(subject, str):
            self._latest[subject] = (name, data)
        self._seq += 1
        event = Event(event_id, self._seq, name, data, player, sse_bytes(name, data, event_id))
        self._history.append(event)
        self._index[event_id] = self._seq
        while len(self._history) > self._history_len:
            self._index.pop(self._history.popleft().id, None)
        return event

    async def _load(self) -> None:
        """Replace the local history with the stream's latest entries."""
        assert self._redis is not None
        entries = await self._redis.xrevrange(self._key, count=self._history_len)
        self._history.clear()
        self._index.clear()
        self._latest.clear()
        self._last = NO_ID
        for raw_id, fields in reversed(entries):
            self._remember(raw_id, fields)

    async def _read_forever(self) -> None:
        """Deliver every new entry of the stream until cancelled; after an outage, `reset` all."""
        assert self._redis is not None
        while True:
            try:
                if self._reader_down:
                    await self._load()
                    self._reader_down = False
                    log.warning("events flow again; open streams get reset")
                    self._fan_out(Event(self._last, 0, RESET, {}))
                replies = await self._redis.xread(
                    {self._key: self._last}, count=READ_COUNT, block=BLOCK_MS
                )
            except Exception as exc:  # any client failure: read again after a pause
                if not self._reader_down:
                    log.warning("event reader lost Redis: %s", type(exc).__name__)
                self._reader_down = True
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            for _stream, entries in replies or ():
                for raw_id, fields in entries:
                    event = self._remember(raw_id, fields)
                    if event is not None:
                        self._fan_out(event)

    async def close(self) -> None:
        """End every subscription and stop the reader (the pool is the store's to close)."""
        await super().close()
        if self._sending:
            _done, stuck = await asyncio.wait(set(self._sending), timeout=PUBLISH_TIMEOUT_S)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
