"""Count every HTTP request by route template, method and status, and time it to its last byte.

Every label is bounded (`lobby.metrics.method_label`, `status_label`; routes are templates or
`unmatched`), so requests cannot add series.

The request is counted when its response starts (so an event stream shows up while it is open)
and its duration measured when the response ends. The metrics are the lobby's, opened in the
lifespan; without a lobby the request passes through uncounted.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lobby.metrics import method_label, status_label
from lobby.middleware.route_template import route_template

INTERNAL_ERROR = 500


class MetricsMiddleware:
    """Feed `playlink_http_requests_total` and `playlink_http_request_duration_seconds`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting it when the response starts and timing it to its end."""
        lobby = getattr(scope["app"].state, "lobby", None) if "app" in scope else None
        if scope["type"] != "http" or lobby is None:
            await self.app(scope, receive, send)
            return
        metrics = lobby.metrics
        started = time.perf_counter()
        method = method_label(scope["method"])
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                route = route_template(scope)
                metrics.requests.labels(route, method, status_label(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = route_template(scope)
            if not counted:
                metrics.requests.labels(route, method, str(INTERNAL_ERROR)).inc()
            elapsed = time.perf_counter() - started
            metrics.request_seconds.labels(route, method).observe(elapsed)
