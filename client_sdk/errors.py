"""The SDK's one exception tree, each error carrying the stable `reason` string of DESIGN.md.

    PlaylinkError                       reason
    ├── TokenRefused                    a join token was refused
    │   ├── Malformed                   malformed
    │   ├── BadSignature                bad_signature
    │   ├── UnknownKey                  unknown_key
    │   ├── WrongType                   wrong_type
    │   ├── WrongIssuer                 wrong_issuer
    │   ├── Expired                     expired
    │   ├── NotYetValid                 not_yet_valid
    │   ├── WrongAudience               wrong_audience
    │   ├── Replayed                    replayed
    │   └── UnknownToken                unknown_token
    ├── UntrustedLobby                  untrusted_lobby (a lobby the game did not pin; the launcher's)
    ├── LobbyRefused                    the lobby answered with a problem+json refusal
    │   ├── ServerFull                  server_full
    │   ├── ServerOffline               server_offline
    │   ├── Unauthorized                unauthorized
    │   ├── Forbidden                   forbidden
    │   ├── NotFound                    not_found
    │   ├── Conflict                    conflict (also: another instance already listens for joins)
    │   ├── ValidationError             validation_error
    │   └── RateLimited                 rate_limited (`retry_after_s` when the lobby said)
    ├── LobbyUnavailable                lobby_unavailable: no answer (refused, timed out, not HTTP)
    │   └── Unavailable                 unavailable: the lobby answered 503
    └── HandshakeFailed                 handshake_failed: the game server broke the handshake protocol

Messages never contain a token.
"""

from __future__ import annotations

import httpx

from client_sdk.untrusted_json import loads

__all__ = [
    "BadSignature",
    "Conflict",
    "Expired",
    "Forbidden",
    "HandshakeFailed",
    "LobbyRefused",
    "LobbyUnavailable",
    "Malformed",
    "NotFound",
    "NotYetValid",
    "PlaylinkError",
    "RateLimited",
    "Replayed",
    "ServerFull",
    "ServerOffline",
    "TokenRefused",
    "Unauthorized",
    "Unavailable",
    "UnknownKey",
    "UnknownToken",
    "UntrustedLobby",
    "ValidationError",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
    "error_for_reason",
    "error_from_response",
]

MAX_DETAIL_CHARS = 500


class PlaylinkError(Exception):
    """Base of every error the SDK raises; `reason` is machine-readable, `detail` is for people."""

    reason = "internal"

    def __init__(self, detail: str = "", *, reason: str | None = None, status: int | None = None) -> None:
        super().__init__(detail or self.__class__.__doc__ or self.reason)
        self.detail = detail
        self.status = status
        if reason is not None:
            self.reason = reason


class TokenRefused(PlaylinkError):
    """A join token was refused; the subclass and `reason` say why."""

    reason = "token_refused"  # never raised as such: each refusal is a subclass with its own reason


class Malformed(TokenRefused):
    """The token is not a well-formed join token (shape, encoding, a claim missing or mistyped)."""

    reason = "malformed"


class BadSignature(TokenRefused):
    """The signature does not verify, or the token is not signed with ES256."""

    reason = "bad_signature"


class UnknownKey(TokenRefused):
    """The token names a key the lobby does not publish (or the lobby is down and it is not cached)."""

    reason = "unknown_key"


class WrongType(TokenRefused):
    """The token's header `typ` is not `playlink-join+jwt`."""

    reason = "wrong_type"


class WrongIssuer(TokenRefused):
    """The token's `iss` is not the pinned lobby."""

    reason = "wrong_issuer"


class Expired(TokenRefused):
    """The token's `exp` has passed (beyond the clock leeway)."""

    reason = "expired"


class NotYetValid(TokenRefused):
    """The token's `nbf` or `iat` is in the future (beyond the clock leeway)."""

    reason = "not_yet_valid"


class WrongAudience(TokenRefused):
    """The token names another game server."""

    reason = "wrong_audience"


class Replayed(TokenRefused):
    """The token was already used."""

    reason = "replayed"


class UnknownToken(TokenRefused):
    """Well signed, but the lobby never issued it as a join."""

    reason = "unknown_token"


class UntrustedLobby(PlaylinkError):
    """The join names a lobby that the game did not pin in its own configuration."""

    reason = "untrusted_lobby"


class LobbyRefused(PlaylinkError):
    """The lobby answered with a refusal (problem+json); `status` is its HTTP status."""

    reason = "lobby_refused"  # raised as such only with the lobby's own (unknown) reason


class ServerFull(LobbyRefused):
    """The game server has no free slot."""

    reason = "server_full"


class ServerOffline(LobbyRefused):
    """The game server missed its heartbeats."""

    reason = "server_offline"


class Unauthorized(LobbyRefused):
    """Missing or wrong credentials (admin token, server secret, session)."""

    reason = "unauthorized"


class Forbidden(LobbyRefused):
    """Authenticated, but not allowed to do this."""

    reason = "forbidden"


class NotFound(LobbyRefused):
    """The resource does not exist (or the lobby does not have this endpoint)."""

    reason = "not_found"


class Conflict(LobbyRefused):
    """The request conflicts with the lobby's current state; or, from `listen`/`start`, another
    instance of the game already listens for joins of this scheme."""

    reason = "conflict"


class ValidationError(LobbyRefused):
    """The lobby found the request invalid."""

    reason = "validation_error"


class RateLimited(LobbyRefused):
    """Too many requests; `retry_after_s` says when to try again, when the lobby said."""

    reason = "rate_limited"

    def __init__(self, detail: str = "", *, retry_after_s: float | None = None, **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class LobbyUnavailable(PlaylinkError):
    """The lobby could not be reached, or did not answer in time or in HTTP."""

    reason = "lobby_unavailable"


class Unavailable(LobbyUnavailable):
    """The lobby answered 503: its store or keys are not ready."""

    reason = "unavailable"


class HandshakeFailed(PlaylinkError):
    """The game server could not be reached or did not follow the reference handshake."""

    reason = "handshake_failed"


_BY_REASON: dict[str, type[PlaylinkError]] = {
    cls.reason: cls
    for cls in (
        Malformed,
        BadSignature,
        UnknownKey,
        WrongType,
        WrongIssuer,
        Expired,
        NotYetValid,
        WrongAudience,
        Replayed,
        UnknownToken,
        UntrustedLobby,
        ServerFull,
        ServerOffline,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        ValidationError,
        RateLimited,
        LobbyUnavailable,
        Unavailable,
        HandshakeFailed,
    )
}
_BY_STATUS: dict[int, type[PlaylinkError]] = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: NotFound,
    409: Conflict,
    413: ValidationError,
    422: ValidationError,
    429: RateLimited,
    503: Unavailable,
}


def error_for_reason(reason: str, detail: str = "", status: int | None = None) -> PlaylinkError:
    """The exception for a `reason` string; an unknown reason keeps its string on the base class."""
    cls = _BY_REASON.get(reason)
    if cls is None:
        return PlaylinkError(detail, reason=_printable(reason)[:64] or "internal", status=status)
    return cls(detail, status=status)


def error_from_response(response: httpx.Response) -> PlaylinkError:
    """The exception for a lobby's error response, from its problem+json `reason` or else its status."""
    status = response.status_code
    reason, detail = None, ""
    try:
        body = loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        reason = body.get("reason") if isinstance(body.get("reason"), str) else None
        detail = body.get("detail") if isinstance(body.get("detail"), str) else ""
    detail = _printable(detail)[:MAX_DETAIL_CHARS] or f"the lobby answered HTTP {status}"
    if reason in _BY_REASON:
        error = error_for_reason(reason, detail, status)
    elif status in _BY_STATUS:
        error = _BY_STATUS[status](detail, status=status)
    elif status >= 500:
        error = LobbyUnavailable(detail, status=status)
    else:
        error = LobbyRefused(detail, status=status, reason=reason or "validation_error")
    if isinstance(error, RateLimited):
        error.retry_after_s = _retry_after(response.headers.get("retry-after"))
    return error


def _retry_after(value: str | None) -> float | None:
    """The seconds of a `Retry-After` header given in seconds, or None."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _printable(text: str) -> str:
    """`text` with non-printable characters replaced, so a hostile detail cannot forge log lines."""
    return "".join(char if char.isprintable() else "?" for char in text)
