"""The lobby's settings, read from `LOBBY_*` environment variables, with named defaults."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lobby.log_format import LogFormat

ENV_PREFIX = "LOBBY_"
HOST = "127.0.0.1"
PORT = 8000
LAUNCH_SCHEME = "arena"
JOIN_TOKEN_TTL_S = 120
CLOCK_LEEWAY_S = 5
HEARTBEAT_TIMEOUT_S = 30
SESSION_TTL_S = 30 * 24 * 3600
JWKS_MAX_AGE_S = 60
PURGE_INTERVAL_S = 30
RATE_LIMIT_PER_ADDRESS = "300/minute"
RATE_LIMIT_PER_PLAYER = "120/minute"
RATE_LIMIT_PER_SERVER = "600/minute"
RATE_LIMIT_LOGIN = "10/minute"
RATE_LIMIT_STORAGE = "memory://"
EVENT_STREAMS_PER_ADDRESS = 16
# Unredeemed join reservations made from one client address, on all servers together: a household
# or a LAN party joins at once, while squatting slots from one address needs many.
RESERVATIONS_PER_ADDRESS = 20
EVENTS_PING_S = 15.0
EVENTS_HISTORY = 1000
EVENTS_QUEUE = 256
EVENTS_SWEEP_S = 1.0
LOG_FORMAT = "json"
REDIS_IDLE_CHECK_S = 2.0
PASSWORD_HASH_QUEUE = 8
LOGIN_FREE_FAILURES = 5
LOGIN_WAIT_S = 1
LOGIN_MAX_WAIT_S = 900
LOGIN_FAILURE_RESET_S = 12 * 3600
# Connection deadlines and caps (`lobby.connection_guard`): nginx's client_header_timeout,
# client_body_timeout and limit_conn, HAProxy's timeout http-request and maxconn.
CLIENT_HEADER_TIMEOUT_S = 10.0
CLIENT_BODY_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 0  # per worker; 0: as many as the worker's open-file limit leaves room for
MAX_CONNECTIONS_PER_ADDRESS = 256  # per worker


class SettingsError(Exception):
    """Settings that cannot start a lobby; the message names the setting."""


def default_data_dir() -> Path:
    """Return the per-user data directory of the lobby (XDG data home)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "playlink-lobby"


PositiveSeconds = Annotated[int, Field(gt=0, le=30 * 24 * 3600)]


def _rate_limit(value: str) -> str:
    try:
        parse_limit(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a rate limit like '120/minute'") from None
    return value


REDIS_CLUSTER_SCHEME = "redis+cluster://"
REDIS_SCHEMES = ("redis://", "rediss://", REDIS_CLUSTER_SCHEME)


def _limit_storage(value: str) -> str:
    if not value.startswith(("memory://", *REDIS_SCHEMES)):
        raise ValueError("must be memory://, a redis[s]:// URL or a redis+cluster:// URL")
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


FORWARDED_ALLOW_IPS = ""


def _forwarded_allow_ips(value: str) -> str:
    """Addresses or networks of proxies whose X-Forwarded-For is believed; empty trusts none."""
    for item in filter(None, (part.strip() for part in value.split(","))):
        if item != "*":
            ipaddress.ip_network(item, strict=False)
    return value


class Settings(BaseSettings):
    """Every setting of one lobby; `Settings()` reads the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    host: str = HOST
    port: Annotated[int, Field(ge=0, le=65535)] = PORT
    data_dir: Path = Field(default_factory=default_data_dir)
    store: str = ""
    keys_dir: Path | None = None
    public_url: str = ""
    admin_token: str = ""
    metrics_token: str = ""
    launch_scheme: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+.-]{0,63}$")] = LAUNCH_SCHEME
    join_token_ttl_s: Annotated[int, Field(ge=1, le=3600)] = JOIN_TOKEN_TTL_S
    clock_leeway_s: Annotated[int, Field(ge=0, le=60)] = CLOCK_LEEWAY_S
    heartbeat_timeout_s: PositiveSeconds = HEARTBEAT_TIMEOUT_S
    session_ttl_s: PositiveSeconds = SESSION_TTL_S
    jwks_max_age_s: Annotated[int, Field(ge=0, le=86400)] = JWKS_MAX_AGE_S
    rate_limits_enabled: bool = True
    rate_limit_per_address: RateLimit = RATE_LIMIT_PER_ADDRESS
    rate_limit_per_player: RateLimit = RATE_LIMIT_PER_PLAYER
    rate_limit_per_server: RateLimit = RATE_LIMIT_PER_SERVER
    rate_limit_login: RateLimit = RATE_LIMIT_LOGIN
    rate_limit_storage: Annotated[str, AfterValidator(_limit_storage)] = RATE_LIMIT_STORAGE
    event_streams_per_address: Annotated[int, Field(ge=1, le=100_000)] = EVENT_STREAMS_PER_ADDRESS
    reservations_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = RESERVATIONS_PER_ADDRESS
    events_ping_s: Annotated[float, Field(ge=0.05, le=3600)] = EVENTS_PING_S
    events_history: Annotated[int, Field(ge=1, le=1_000_000)] = EVENTS_HISTORY
    events_queue: Annotated[int, Field(ge=1, le=100_000)] = EVENTS_QUEUE
    events_sweep_s: Annotated[float, Field(ge=0.05, le=3600)] = EVENTS_SWEEP_S
    log_format: LogFormat = LOG_FORMAT
    redis_idle_check_s: Annotated[float, Field(ge=0, le=3600)] = REDIS_IDLE_CHECK_S
    password_hash_queue: Annotated[int, Field(ge=0, le=10_000)] = PASSWORD_HASH_QUEUE
    login_free_failures: Annotated[int, Field(ge=0, le=1000)] = LOGIN_FREE_FAILURES
    login_wait_s: Annotated[int, Field(ge=1, le=86400)] = LOGIN_WAIT_S
    login_max_wait_s: Annotated[int, Field(ge=1, le=86400)] = LOGIN_MAX_WAIT_S
    login_failure_reset_s: PositiveSeconds = LOGIN_FAILURE_RESET_S
    client_header_timeout_s: Annotated[float, Field(gt=0, le=3600)] = CLIENT_HEADER_TIMEOUT_S
    client_body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = CLIENT_BODY_TIMEOUT_S
    max_connections: Annotated[int, Field(ge=0, le=10_000_000)] = MAX_CONNECTIONS
    max_connections_per_address: Annotated[int, Field(ge=1, le=10_000_000)] = MAX_CONNECTIONS_PER_ADDRESS
    forwarded_allow_ips: Annotated[str, AfterValidator(_forwarded_allow_ips)] = FORWARDED_ALLOW_IPS

    @model_validator(mode="after")
    def _check_urls(self) -> Self:
        if self.store and not self.store.startswith(("sqlite:///", *REDIS_SCHEMES)):
            raise ValueError(
                "LOBBY_STORE must be sqlite:///path, redis[s]://host:port/db or redis+cluster://host:port"
            )
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise ValueError("LOBBY_PUBLIC_URL must be an http(s) URL without a query")
        if self.admin_token and len(self.admin_token) < 16:
            raise ValueError("LOBBY_ADMIN_TOKEN must be at least 16 characters")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ValueError("LOBBY_METRICS_TOKEN must be at least 16 characters")
        if self.metrics_token and self.metrics_token == self.admin_token:
            raise ValueError("LOBBY_METRICS_TOKEN must differ from LOBBY_ADMIN_TOKEN")
        return self

    @property
    def store_url(self) -> str:
        """The store's URL: `LOBBY_STORE`, or the SQLite file in the data directory."""
        return self.store or f"sqlite:///{self.data_dir / 'lobby.db'}"

    @property
    def keys_path(self) -> Path:
        """The directory of signing keys."""
        return self.keys_dir or self.data_dir / "keys"

    @property
    def issuer(self) -> str:
        """The lobby's public base URL, used as the tokens' `iss`, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Whether session cookies carry `Secure` (the public URL is https)."""
        return self.issuer.startswith("https://")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, refusing unknown `LOBBY_*` names and invalid values."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        name = ENV_PREFIX + field.upper() if first["loc"] else "settings"
        raise SettingsError(f"invalid {name}: {first['msg']}") from None


def read_env_file(path: Path) -> dict[str, str]:
    """Read `LOBBY_NAME=value` lines; blank lines and `#` comments are skipped, values taken as is."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read env file {path}: {exc}") from None
    values = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip().startswith(ENV_PREFIX):
            raise SettingsError(f"invalid env file {path} line {number}: expected LOBBY_NAME=value")
        values[name.strip()] = value.strip()
    return values


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Make `env` the whole process environment while inside (settings read only os.environ)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_settings_with(env_file: Path | None) -> Settings:
    """Settings from the environment with `env_file`'s lines over it (as `lobby serve` reads them)."""
    env = dict(os.environ)
    if env_file is not None:
        env.update(read_env_file(env_file))
    with environment(env):
        return load_settings()
