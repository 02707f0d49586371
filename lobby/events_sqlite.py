"""Live events through the SQLite file: every lobby process on the host sees every process's events.

Publishing appends a row to the `events` table (through the store's writer, trimmed to the latest
`LOBBY_EVENTS_HISTORY` rows); the row id is the event's id, the same in every process, so
`Last-Event-ID` resumes on any worker. Each process runs one poller task that reads the rows after
the last one it saw every `EVENTS_POLL_S` (on the store's reader connection, whatever the number of
subscribers), keeps a local copy of the recent history and hands every row to this process's
subscribers through `LocalFanout`, player-scoped `join` events included. As with the Redis bus, an
event for everyone whose data has an `id` is not appended again when the latest row for that id is
the same, so a change every worker's game feed sees reaches each stream once, not once per worker.

A failing database: `publish` logs once and returns (the request that caused it does not fail; the
game feed's sweep publishes the state again later); the poller logs once and keeps retrying from
the last id it saw, so nothing still in the table is missed. A poller that finds rows trimmed
before it read them (ids are never skipped otherwise) sends its open streams `reset`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from lobby.events import RESET, Event, LocalFanout, event_number, sse_bytes
from lobby.store import SqliteStore, Store
from lobby.store.sqlite import EventRow

log = logging.getLogger("lobby")
EVENTS_POLL_S = 0.05
READ_COUNT = 512
RETRY_PAUSE_S = 0.25


class SqliteEventBus(LocalFanout):
    """The `EventBus` of several lobby processes on one SQLite file."""

    def __init__(self, history: int, queue: int) -> None:
        super().__init__(queue)
        self._history_len = history
        self._history: collections.deque[Event] = collections.deque()
        self._last = 0
        self._latest: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._store: SqliteStore | None = None
        self._poller: asyncio.Task[None] | None = None
        self._poll_lock = asyncio.Lock()
        self._poll_down = False
        self._publish_down = False

    async def open(self, store: Store) -> None:
        """Load the recent history and start the poller, on the SQLite store's connections."""
        if not isinstance(store, SqliteStore):
            raise TypeError("the SQLite event bus needs the SQLite store")
        self._store = store
        while await self._poll(fan_out=False):
            pass
        self._poller = asyncio.create_task(self._poll_forever())

    async def publish(
        self, name: str, data: Mapping[str, Any], player: str | None = None
    ) -> Event:
        """Append the event to the shared table; this and every other process's poller delivers it."""
        subject = data.get("id") if player is None else None
        if isinstance(subject, str) and self._latest.get(subject) == (name, data):
            return Event(str(self._last), 0, name, data)
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        try:
            if self._store is None:
                raise ConnectionError("the event bus is not open")
            row_id = await self._store.append_event(
                name, payload, player, time.time(), self._history_len
            )
        except Exception as exc:
            if not self._publish_down:
                log.warning("events not published while the database fails: %s", type(exc).__name__)
            self._publish_down = True
            return Event("", 0, name, data, player)
        self._publish_down = False
        event_id = str(row_id)
        return Event(event_id, row_id, name, data, player, sse_bytes(name, data, event_id))

    def _latest_id(self) -> str:
        return str(self._last)

    def _since(self, last_event_id: str, player: str | None) -> list[Event] | None:
        seq = event_number(last_event_id.strip())
        if seq is None:
            return None
        oldest = self._history[0].seq if self._history else self._last + 1
        if seq > self._last or seq < oldest - 1:
            return None
        return [e for e in self._history if e.seq > seq and e.visible_to(player)]

    def _is_ahead(self, last_event_id: str) -> bool:
        wanted = event_number(last_event_id.strip())
        return wanted is not None and wanted > self._last

    def _remember(self, row: EventRow) -> Event | None:
        row_id, name, payload, player = row
        self._last = row_id
        try:
            data = json.loads(payload)
        except ValueError:
            log.warning("skipped a malformed event row %s", row_id)
            return None
        subject = data.get("id") if player is None and isinstance(data, dict) else None
        if isinstance(subject, str):
            self._latest[subject] = (name, data)
        event_id = str(row_id)
        event = Event(event_id, row_id, name, data, player, sse_bytes(name, data, event_id))
        self._history.append(event)
        while len(self._history) > self._history_len:
            self._history.popleft()
        return event

    async def catch_up(self, last_event_id: str) -> None:
        """Read the table now when `last_event_id` is newer than what this process has seen."""
        if self._is_ahead(last_event_id) and self._store is not None:
            with contextlib.suppress(Exception):  # the poller reports a failing database
                while await self._poll(fan_out=True) and self._is_ahead(last_event_id):
                    pass

    async def _poll(self, fan_out: bool) -> bool:
        """Take in the rows after the last one seen; True when there may be more."""
        async with self._poll_lock:
            return await self._poll_once(fan_out)

    async def _poll_once(self, fan_out: bool) -> bool:
        assert self._store is not None
        rows = await self._store.events_after(self._last, READ_COUNT)
        if fan_out and rows and self._last and rows[0][0] > self._last + 1:
            self._history.clear()
            self._fan_out(Event(str(rows[0][0] - 1), 0, RESET, {}))
        for row in rows:
            event = self._remember(row)
            if event is not None and fan_out:
                self._fan_out(event)
        return len(rows) == READ_COUNT

    async def _poll_forever(self) -> None:
        """Deliver every new row until cancelled, retrying from the last id after a failure."""
        while True:
            try:
                more = await self._poll(fan_out=True)
            except Exception as exc:
                if not self._poll_down:
                    log.warning("event poller failed: %s", type(exc).__name__)
                self._poll_down = True
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if self._poll_down:
                log.warning("event poller reads the database again")
                self._poll_down = False
            if not more:
                await asyncio.sleep(EVENTS_POLL_S)

    async def close(self) -> None:
        """End every subscription and stop the poller (the connections are the store's to close)."""
        await super().close()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
