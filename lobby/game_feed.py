"""The game list as events: publish `game` and `game_removed` whenever a server's view changes.

Routes `touch` the servers they changed; one task re-reads those (bursts coalesce while it reads)
and, every `events_sweep_s`, the whole list, which catches what no request triggers: reservations
expiring, servers missing their heartbeats, servers added by another process or the CLI. A view is
published only when it differs from the last one published, so every stream sees each change once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from lobby.events import EventBus
from lobby.schemas import game_view
from lobby.settings import Settings
from lobby.store import GameServer, Store

log = logging.getLogger("lobby")
FAILURE_PAUSE_S = 1.0
GAME_REMOVED = "game_removed"

View = dict[str, Any]


class GameFeed:
    """The last published view of every game server, kept current from the store."""

    def __init__(self, store: Store, bus: EventBus, settings: Settings) -> None:
        self._store = store
        self._bus = bus
        self._timeout_s = settings.heartbeat_timeout_s
        self._sweep_s = settings.events_sweep_s
        self._views: dict[str, View] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    async def games(self) -> list[View]:
        """Every game server's view, oldest first, after publishing the changes already touched."""
        if self._dirty:
            await self._flush()
        return list(self._views.values())

    def touch(self, server_id: str) -> None:
        """`server_id` may have changed: re-read and publish it soon."""
        self._dirty.add(server_id)
        self._wake.set()

    async def load(self) -> None:
        """Take the current list as known, publishing nothing."""
        now = time.time()
        for server in await self._store.list_servers(now):
            self._views[server.id] = self._view(server, now)

    async def run(self) -> None:
        """Publish changes until cancelled."""
        next_sweep = time.monotonic() + self._sweep_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_sweep - time.monotonic()))
            self._wake.clear()
            try:
                if time.monotonic() >= next_sweep:
                    await self._sweep()
                    next_sweep = time.monotonic() + self._sweep_s
                else:
                    await self._flush()
            except Exception as exc:
                log.warning("game feed failed: %s", type(exc).__name__)
                await asyncio.sleep(FAILURE_PAUSE_S)

    def _view(self, server: GameServer, now: float) -> View:
        return game_view(server, now, self._timeout_s)

    async def _flush(self) -> None:
        async with self._lock:
            dirty, self._dirty = self._dirty, set()
            if not dirty:
                return
            now = time.time()
            servers = await self._store.list_servers(now, dirty)
            await self._apply(servers, now, gone=dirty.difference(s.id for s in servers))

    async def _sweep(self) -> None:
        async with self._lock:
            self._dirty.clear()
            now = time.time()
            servers = await self._store.list_servers(now)
            listed = {s.id for s in servers}
            await self._apply(servers, now, gone=[sid for sid in self._views if sid not in listed])

    async def _apply(self, servers: list[GameServer], now: float, gone: Iterable[str]) -> None:
        """Publish the views that changed and the removals, all at once (the bus may batch them)."""
        published = []
        for server in servers:
            view = self._view(server, now)
            if self._views.get(view["id"]) != view:
                self._views[view["id"]] = view
                published.append(self._bus.publish("game", view))
        for server_id in gone:
            if self._views.pop(server_id, None) is not None:
                published.append(self._bus.publish(GAME_REMOVED, {"id": server_id}))
        await asyncio.gather(*published)
