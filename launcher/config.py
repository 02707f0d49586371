"""Each scheme's launcher configuration: trusted lobbies, the client command, and timeouts.

Stored as JSON in the user's config directory (`$XDG_CONFIG_HOME/playlink/<scheme>.json` on Linux,
`~/Library/Application Support/Playlink/` on macOS, `%APPDATA%\\Playlink\\` on Windows), written
atomically with mode 0600, and refused when another user could have written it.
"""

from __future__ import annotations

import os
import sys

from launcher import fastjson
from launcher.errors import ConfigError, URLRefused
from launcher.urls import check_scheme, normalize_lobby

CONFIG_VERSION = 1
CLIENT_START_WAIT_S = 20.0
REPLY_TIMEOUT_S = 5.0
MAX_CONFIG_BYTES = 64 * 1024
MAX_TIMEOUT_S = 600.0
_KEYS = frozenset(
    {"v", "scheme", "trusted_lobbies", "client_command", "client_start_wait_s", "reply_timeout_s"}
)


class Config:
    """One scheme's configuration, validated on construction."""

    __slots__ = (
        "client_command",
        "client_start_wait_s",
        "reply_timeout_s",
        "scheme",
        "trusted_lobbies",
    )

    def __init__(
        self,
        scheme: str,
        trusted_lobbies: list[str],
        client_command: list[str],
        client_start_wait_s: float = CLIENT_START_WAIT_S,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        try:
            self.scheme = check_scheme(scheme)
            self.trusted_lobbies = [normalize_lobby(lobby) for lobby in _strings(trusted_lobbies)]
        except URLRefused as exc:
            raise ConfigError(f"invalid configuration: {exc}") from None
        if not self.trusted_lobbies:
            raise ConfigError("at least one trusted lobby is required")
        self.client_command = _strings(client_command)
        if not self.client_command or not self.client_command[0]:
            raise ConfigError("the client command must be a non-empty list of strings")
        if any("\0" in arg for arg in self.client_command):
            raise ConfigError("the client command must not contain NUL characters")
        self.client_start_wait_s = _seconds(client_start_wait_s, "client_start_wait_s")
        self.reply_timeout_s = _seconds(reply_timeout_s, "reply_timeout_s")

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready form written to the config file."""
        return {
            "v": CONFIG_VERSION,
            "scheme": self.scheme,
            "trusted_lobbies": list(self.trusted_lobbies),
            "client_command": list(self.client_command),
            "client_start_wait_s": self.client_start_wait_s,
            "reply_timeout_s": self.reply_timeout_s,
        }


def config_dir() -> str:
    """Return the directory holding every scheme's config file for this user and OS."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        return os.path.join(os.environ.get("APPDATA") or home, "Playlink")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Playlink")
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(home, ".config")
    return os.path.join(base, "playlink")


def config_path(scheme: str) -> str:
    """Return the config file path of `scheme`."""
    return os.path.join(config_dir(), f"{check_scheme(scheme)}.json")


def load(scheme: str) -> Config:
    """Read and validate the config of `scheme`; `ConfigError` (reason not_found) if absent."""
    path = config_path(scheme)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise ConfigError(f"the scheme {scheme} is not installed", "not_found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        _check_private(os.fstat(fd), path)
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        raw = fastjson.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != _KEYS or raw["v"] != CONFIG_VERSION:
        raise ConfigError(f"{path} does not have the keys of a version {CONFIG_VERSION} config")
    if raw["scheme"] != scheme:
        raise ConfigError(f"{path} is the config of another scheme")
    return Config(
        scheme,
        raw["trusted_lobbies"],  # type: ignore[arg-type]
        raw["client_command"],  # type: ignore[arg-type]
        raw["client_start_wait_s"],  # type: ignore[arg-type]
        raw["reply_timeout_s"],  # type: ignore[arg-type]
    )


def save(config: Config) -> str:
    """Write `config` atomically with mode 0600 (directory 0700) and return its path."""
    import json

    path = config_path(config.scheme)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    temp = f"{path}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise
    return path


def remove(scheme: str) -> bool:
    """Delete the config of `scheme`; return whether there was one."""
    try:
        os.unlink(config_path(scheme))
    except FileNotFoundError:
        return False
    return True


def _check_private(stat: os.stat_result, path: str) -> None:
    """Refuse a config file that is not a regular file owned by us and writable only by us."""
    if (stat.st_mode & 0o170000) != 0o100000:
        raise ConfigError(f"{path} is not a regular file")
    if sys.platform == "win32":
        return  # under the user's profile (%APPDATA%), whose ACL already keeps other users out
    if stat.st_uid != os.getuid() or stat.st_mode & 0o022:
        raise ConfigError(f"{path} is owned or writable by another user; refusing it")


def _strings(value: object) -> list[str]:
    """Return `value` as a list of strings, or refuse it."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError("expected a list of strings")
    return list(value)


def _seconds(value: object, name: str) -> float:
    """Return `value` as a positive, bounded number of seconds, or refuse it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number of seconds")
    if not 0 < value <= MAX_TIMEOUT_S:
        raise ConfigError(f"{name} must be between 0 and {MAX_TIMEOUT_S} seconds")
    return float(value)
