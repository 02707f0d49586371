"""The launcher's one exception tree, each error carrying a stable machine-readable `reason`.

    LauncherError                      reason            exit code of `launcher open`
    ├── URLRefused                     malformed, untrusted_lobby, not_configured      2
    │                                  untrusted_origin (native host only)
    ├── ClientUnavailable              unavailable                                     3
    │   └── NotListening               unavailable (nothing listens: start the client) 3
    ├── ClientRefused                  client_refused                                  3
    ├── MessageRefused                 malformed, too_large, timeout (IPC input)       1
    ├── EndpointError                  forbidden, conflict, unsafe_endpoint            3
    ├── ConfigError                    not_found, validation_error                     1
    └── PlatformError                  unsupported, registration_failed                1

This module imports nothing: it is on the critical path of every click.
"""

from __future__ import annotations


class LauncherError(Exception):
    """Base of every error the launcher raises on purpose; `str()` never contains a token."""

    reason = "unavailable"
    exit_code = 1

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class URLRefused(LauncherError):
    """The launch URL does not have exactly the shape of DESIGN.md, or its lobby is not trusted."""

    reason = "malformed"
    exit_code = 2


class ClientUnavailable(LauncherError):
    """No game client took the join: none listens, none could be started, or it did not answer."""

    reason = "unavailable"
    exit_code = 3


class NotListening(ClientUnavailable):
    """Nothing listens on the IPC endpoint (so starting the client may help)."""


class ClientRefused(LauncherError):
    """The game client answered `{"ok": false, ...}`."""

    reason = "client_refused"
    exit_code = 3


class MessageRefused(LauncherError):
    """An IPC message was too large, too slow, or not exactly of the agreed schema."""

    reason = "malformed"


class EndpointError(LauncherError):
    """The IPC endpoint is unsafe (foreign owner, open permissions) or already in use."""

    reason = "unsafe_endpoint"
    exit_code = 3


class ConfigError(LauncherError):
    """A scheme's configuration is missing, unreadable, unsafe or invalid."""

    reason = "validation_error"


class PlatformError(LauncherError):
    """Registering or querying the URL scheme with the operating system failed."""

    reason = "registration_failed"
