"""`GET /metrics`: the instance's metrics in the Prometheus text format, for loopback or the operator."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lobby.deps import LobbyDep, is_operator
from lobby.errors import AuthError, Forbidden

router = APIRouter(tags=["operations"])


def is_loopback(request: Request) -> bool:
    """Whether the request comes from this host (its connection's address, after proxy headers)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, lobby: LobbyDep) -> Response:
    """Every metric of this instance (all its workers); loopback clients, or the operator's admin token."""
    if not is_loopback(request) and not is_operator(request, lobby):
        if not lobby.settings.admin_token:
            raise Forbidden("metrics are served to loopback clients only: no LOBBY_ADMIN_TOKEN is set")
        raise AuthError("metrics need the operator's admin token from a non-loopback client")
    return Response(lobby.metrics.render(), media_type=CONTENT_TYPE_LATEST)
