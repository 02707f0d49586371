"""The lobby's application factory: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from lobby.errors import install_error_handlers
from lobby.keys import KeyRing
from lobby.metrics import Metrics, timed_store
from lobby.middleware.access_log import AccessLogMiddleware
from lobby.middleware.body_limit import BodyLimitMiddleware
from lobby.middleware.metrics import MetricsMiddleware
from lobby.middleware.rate_limit import RateLimitMiddleware
from lobby.middleware.security_headers import SecurityHeadersMiddleware
from lobby.routes import events, games, health, joins, jwks, metrics, players, servers, sessions, tokens
from lobby.settings import PURGE_INTERVAL_S, Settings
from lobby.shutdown import on_stop_signal
from lobby.state import Lobby
from lobby.store import Store, store_from_url

log = logging.getLogger("lobby")
STATIC_DIR = Path(__file__).resolve().parent / "static"


async def _purge_forever(store: Store, clock: Lobby) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL_S)
        try:
            await store.purge(clock.now())
        except Exception as exc:
            log.warning("purge failed: %s", type(exc).__name__)


async def _index() -> FileResponse:
    """The web lobby's page: static HTML that talks to this API."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings) -> FastAPI:
    """Build a lobby app; its store and keys open when its lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keys = KeyRing(settings.keys_path)
        await asyncio.to_thread(keys.ensure)
        store = store_from_url(settings.store_url, settings.redis_idle_check_s)
        await store.open()
        meters = Metrics()
        lobby = Lobby(settings, timed_store(store, meters), keys, metrics=meters)
        app.state.lobby = lobby
        await lobby.events.open(store)
        if lobby.rate_limiter is not None:
            await lobby.rate_limiter.open(store)
        await lobby.feed.load()
        tasks = [
            asyncio.create_task(_purge_forever(store, lobby)),
            asyncio.create_task(lobby.feed.run()),
        ]
        try:
            with on_stop_signal(lambda: asyncio.ensure_future(lobby.events.close())):
                yield
        finally:
            await lobby.events.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if lobby.rate_limiter is not None:
                await lobby.rate_limiter.close()
            await store.close()

    app = FastAPI(
        title="Playlink lobby",
        version="1",
        lifespan=lifespan,
        description="Join tokens from a browser's Join button to the right game server.",
    )
    install_error_handlers(app)
    for module in (tokens, joins, games, servers, sessions, players, events, jwks, health, metrics):
        app.include_router(module.router)
    app.add_api_route("/", _index, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimitMiddleware)
    if settings.rate_limits_enabled:
        app.add_middleware(RateLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(AccessLogMiddleware)
    return app
