"""`GET /metrics`: the instance's metrics in the Prometheus text format, for loopback or a token holder."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lobby.deps import LobbyDep, bearer, is_admin_credential, is_operator
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


def is_metrics_reader(request: Request, lobby: LobbyDep) -> bool:
    """Whether the request carries the read-only metrics token (it grants nothing else)."""
    credential = bearer(request)
    return credential is not None and is_admin_credential(credential, lobby.settings.metrics_token)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, lobby: LobbyDep) -> Response:
    """Every metric of this instance (all its workers); loopback clients, the metrics or the admin token."""
    if not is_loopback(request) and not is_metrics_reader(request, lobby) and not is_operator(request, lobby):
        if not lobby.settings.admin_token and not lobby.settings.metrics_token:
            raise Forbidden(
                "metrics are served to loopback clients only: neither LOBBY_METRICS_TOKEN nor"
                " LOBBY_ADMIN_TOKEN is set"
            )
        raise AuthError("metrics need LOBBY_METRICS_TOKEN (or the admin token) from a non-loopback client")
    return Response(lobby.metrics.render(), media_type=CONTENT_TYPE_LATEST)
