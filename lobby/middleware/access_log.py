"""Give every HTTP request an id and log one access line for it when its response ends.

The id is the request's `X-Request-ID` when that is a short token of safe characters (a load
balancer's or a client's), else a fresh random one; it is echoed in the response's `X-Request-ID`
and stamped on every log record written while the request is served. The access line carries the
method, route template, path (never the query string), status, duration and client address.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lobby.log_format import request_id
from lobby.middleware.route_template import route_template

HEADER = b"x-request-id"
VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_BYTES = 12
INTERNAL_ERROR = 500

log = logging.getLogger("lobby.access")


def incoming_request_id(scope: Scope) -> str | None:
    """The request's own `X-Request-ID`, if it is well formed."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if VALID_REQUEST_ID.fullmatch(value) else None
    return None


class AccessLogMiddleware:
    """Assign the request id, echo it, and write the request's access line to `lobby.access`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on under its id; log it when it is done."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or secrets.token_urlsafe(REQUEST_ID_BYTES)
        scope.setdefault("state", {})["request_id"] = rid
        header = (HEADER, rid.encode("ascii"))
        status = INTERNAL_ERROR
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        reset = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _log_access(scope, status, time.perf_counter() - started)
            request_id.reset(reset)


def _log_access(scope: Scope, status: int, seconds: float) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    method, path = scope["method"], scope["path"]
    duration_ms = round(seconds * 1000, 3)
    fields = {
        "event": "request",
        "method": method,
        "route": route_template(scope),
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "client": client[0] if client else None,
    }
    log.info("%s %s %d %.1f ms", method, path, status, duration_ms, extra=fields)
