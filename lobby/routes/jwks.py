"""The lobby's public keys as a JWK set."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lobby.deps import LobbyDep

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
async def jwks(lobby: LobbyDep) -> JSONResponse:
    """Every signing key not retired, for verifying join tokens offline."""
    lobby.keys.refresh()
    max_age = lobby.settings.jwks_max_age_s
    return JSONResponse(
        lobby.keys.jwks(), headers={"Cache-Control": f"public, max-age={max_age}"}
    )
