"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from lobby.deps import LobbyDep
from lobby.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(lobby: LobbyDep) -> dict[str, str]:
    """The lobby can serve: its store answers and a signing key is loaded."""
    if not lobby.keys.loaded:
        raise Unavailable("no signing key is loaded")
    await lobby.store.ping()
    return {"status": "ready"}
