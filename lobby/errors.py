"""The lobby's errors, each with a stable `reason`, and their RFC 9457 problem+json rendering.

LobbyError
 ├── TokenError            a join token refused (malformed, bad_signature, expired, replayed, ...)
 ├── AuthError             unauthorized (401)
 │    └── Forbidden        forbidden (403)
 ├── NotFound              not_found (404)
 ├── Conflict              conflict, server_full, server_offline (409)
 ├── InvalidInput          validation_error (422)
 ├── RateLimited           rate_limited, too_many_reservations (429)
 └── Unavailable           unavailable (503): the store cannot be reached
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_TYPE_BASE = "https://playlink.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("lobby")

TOKEN_REASONS = frozenset(
    {
        "malformed",
        "bad_signature",
        "unknown_key",
        "wrong_type",
        "wrong_issuer",
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "replayed",
        "unknown_token",
    }
)
STATUS_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class LobbyError(Exception):
    """Base of every error the lobby answers with; `reason` is machine-readable."""

    status: ClassVar[int] = 400
    default_reason: ClassVar[str] = "validation_error"

    def __init__(
        self, detail: str, reason: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason or self.default_reason
        self.headers = headers or {}


class TokenError(LobbyError):
    """A join token was refused; `reason` says why."""

    status_by_reason: ClassVar[dict[str, int]] = {"replayed": 409, "wrong_audience": 403}

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in TOKEN_REASONS:
            raise ValueError(f"not a token reason: {reason}")
        super().__init__(detail, reason)

    @property
    def http_status(self) -> int:
        """The HTTP status of this refusal."""
        return self.status_by_reason.get(self.reason, 401)


class AuthError(LobbyError):
    """Missing or wrong credentials (401 unauthorized) or not allowed (403 forbidden)."""

    status = 401
    default_reason = "unauthorized"


class Forbidden(AuthError):
    """Authenticated, but not allowed to do this."""

    status = 403
    default_reason = "forbidden"


class NotFound(LobbyError):
    """The resource does not exist."""

    status = 404
    default_reason = "not_found"


class Conflict(LobbyError):
    """The request conflicts with the current state (taken name, full or offline server)."""

    status = 409
    default_reason = "conflict"


class InvalidInput(LobbyError):
    """The request body or parameters are not acceptable."""

    status = 422
    default_reason = "validation_error"


class RateLimited(LobbyError):
    """Too many requests; `Retry-After` says when to try again."""

    status = 429
    default_reason = "rate_limited"


def too_many_reservations(address_cap: int, retry_after_s: float) -> RateLimited:
    """The refusal of a join over the cap on unredeemed reservations made from one address."""
    wait = max(1, math.ceil(retry_after_s))
    return RateLimited(
        f"this address already holds {address_cap} unredeemed join reservations; retry in {wait} s",
        "too_many_reservations",
        {"Retry-After": str(wait)},
    )


class Unavailable(LobbyError):
    """The store or another dependency cannot be reached right now."""

    status = 503
    default_reason = "unavailable"


def problem(
    status: int, reason: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Build an RFC 9457 problem+json response."""
    body = {
        "type": PROBLEM_TYPE_BASE + reason,
        "title": STATUS_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "reason": reason,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _status_of(exc: LobbyError) -> int:
    return exc.http_status if isinstance(exc, TokenError) else exc.status


async def _lobby_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LobbyError)
    return problem(_status_of(exc), exc.reason, exc.detail, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return problem(422, "validation_error", "; ".join(parts) or "invalid request")


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reasons = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_found"}
    reason = reasons.get(exc.status_code, "validation_error")
    detail = exc.detail if isinstance(exc.detail, str) else STATUS_TITLES.get(exc.status_code, "")
    return problem(exc.status_code, reason, detail, dict(exc.headers or {}))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error: %s", type(exc).__name__)
    return problem(500, "internal", "the lobby failed to handle this request")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of `app` an RFC 9457 problem+json response without a stack trace."""
    app.add_exception_handler(LobbyError, _lobby_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
