"""Rate-limit every request before any handler runs, and cap concurrent event streams per address.

Opening an event stream is a request like any other (it counts against the address's budget, and
a session's), and then also holds one of the address's stream slots while it is open.

The client address is the connection's (`scope["client"]`): only the proxies that
`LOBBY_FORWARDED_ALLOW_IPS` lists may set it (uvicorn's proxy headers); this middleware never reads
`X-Forwarded-For` itself. The limiter is the lobby's, opened in the lifespan. When its
storage (Redis) cannot be reached the answer is 503 problem+json (reason `unavailable`), except for
`/healthz`, which is answered anyway: liveness does not depend on Redis.
"""

from __future__ import annotations

import hashlib
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lobby.deps import SESSION_COOKIE, bearer_credential, is_admin_credential
from lobby.errors import Unavailable, problem
from lobby.ratelimit import Decision, RateLimiter

EVENTS_PATH = "/v1/events"
LIVENESS_PATH = "/healthz"
LOGIN_PATHS = frozenset({"/v1/sessions", "/v1/players"})
SERVER_SECRET = re.compile(r"s_[A-Za-z0-9_-]+\..+")


def _key(credential: str) -> str:
    return hashlib.blake2b(credential.encode("utf-8", "replace"), digest_size=16).hexdigest()


def request_keys(scope: Scope, address: str, admin_token: str) -> list[tuple[str, str]]:
    """The `(policy, key)` buckets one request counts against."""
    keys = [("address", address)]
    if scope["method"] == "POST" and scope["path"] in LOGIN_PATHS:
        keys.append(("login", address))
    headers = Headers(scope=scope)
    credential = bearer_credential(headers.get("authorization", ""))
    if credential is not None:
        if is_admin_credential(credential, admin_token):
            return keys
        policy = "server" if SERVER_SECRET.fullmatch(credential) else "player"
        keys.append((policy, _key(credential)))
    elif cookie := cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE):
        keys.append(("player", _key(cookie)))
    return keys


class RateLimitMiddleware:
    """Answer 429 problem+json (reason `rate_limited`) over a limit; add the headers under it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request, then pass it on or refuse it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lobby = getattr(scope["app"].state, "lobby", None) if "app" in scope else None
        limiter: RateLimiter | None = getattr(lobby, "rate_limiter", None)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        keys = request_keys(scope, address, lobby.settings.admin_token)
        try:
            decision = await limiter.check(keys)
        except Unavailable as exc:
            if scope["path"] == LIVENESS_PATH:
                await self.app(scope, receive, send)
            else:
                await problem(503, exc.reason, exc.detail)(scope, receive, send)
            return
        if not decision.allowed:
            await _refuse(decision, scope, receive, send)
            return
        if scope["path"] == EVENTS_PATH and scope["method"] == "GET":
            await self._stream(limiter, decision, address, scope, receive, send)
            return
        await self.app(scope, receive, _with_headers(decision, send))

    async def _stream(
        self,
        limiter: RateLimiter,
        counted: Decision,
        address: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """An event stream: its opening was counted like any request; it also holds a slot."""
        try:
            decision = await limiter.open_stream(address)
        except Unavailable as exc:
            await problem(503, exc.reason, exc.detail)(scope, receive, send)
            return
        if not decision.allowed:
            await _refuse(decision, scope, receive, send)
            return
        try:
            await self.app(scope, receive, _with_headers(counted, _with_headers(decision, send)))
        finally:
            await limiter.close_stream(address)


def _with_headers(decision: Decision, send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in decision.headers:
                headers.append(name.decode(), value.decode())
        await send(message)

    return send_with_headers


async def _refuse(decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
    scope["app"].state.lobby.metrics.rate_limited.labels(decision.policy).inc()
    detail = (
        f"too many event streams from this address; retry in {decision.retry_after_s} s"
        if decision.policy == "streams"
        else f"rate limit '{decision.policy}' reached; retry in {decision.retry_after_s} s"
    )
    headers = {name.decode(): value.decode() for name, value in decision.headers}
    headers["retry-after"] = str(decision.retry_after_s)
    await problem(429, "rate_limited", detail, headers)(scope, receive, send)
