"""Settings from `LOBBY_*` variables: defaults, overrides, and refusal of unknown or invalid values."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lobby.settings import Settings, SettingsError, load_settings
from tests.support.lobby import ROOT, free_port

START_REFUSAL_LIMIT_S = 10


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: no `LOBBY_*` variables, and a private XDG data home."""
    for name in [k for k in os.environ if k.startswith("LOBBY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return monkeypatch


def test_defaults_are_a_loopback_lobby_in_the_users_data_dir(env, tmp_path):
    s = load_settings()
    data_dir = tmp_path / "xdg" / "playlink-lobby"
    assert s.data_dir == data_dir
    assert s.store_url == f"sqlite:///{data_dir / 'lobby.db'}"
    assert s.keys_path == data_dir / "keys"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.issuer == "http://127.0.0.1:8000"
    assert (s.launch_scheme, s.join_token_ttl_s, s.clock_leeway_s) == ("arena", 120, 5)
    assert s.admin_token == ""
    assert s.rate_limits_enabled is True
    assert s.secure_cookies is False


def test_environment_values_are_read_and_derived_settings_follow(env, tmp_path):
    env.setenv("LOBBY_DATA_DIR", str(tmp_path / "d"))
    env.setenv("LOBBY_PORT", "9123")
    env.setenv("LOBBY_JOIN_TOKEN_TTL_S", "30")
    env.setenv("LOBBY_RATE_LIMITS_ENABLED", "false")
    env.setenv("LOBBY_LAUNCH_SCHEME", "com.example.game")
    s = load_settings()
    assert s.store_url == f"sqlite:///{tmp_path / 'd' / 'lobby.db'}"
    assert s.keys_path == tmp_path / "d" / "keys"
    assert s.issuer == "http://127.0.0.1:9123"
    assert (s.join_token_ttl_s, s.rate_limits_enabled, s.launch_scheme) == (30, False, "com.example.game")


def test_public_url_becomes_the_issuer_and_https_makes_cookies_secure(env):
    env.setenv("LOBBY_PUBLIC_URL", "https://play.example.com/")
    s = load_settings()
    assert s.issuer == "https://play.example.com"
    assert s.secure_cookies is True


@pytest.mark.parametrize("url", ["redis://r:6379/2", "rediss://r:6380/0", "redis+cluster://node:6379"])
def test_redis_urls_are_accepted_for_the_store_and_the_rate_limits(env, url):
    env.setenv("LOBBY_STORE", url)
    env.setenv("LOBBY_RATE_LIMIT_STORAGE", url)
    s = load_settings()
    assert (s.store_url, s.rate_limit_storage) == (url, url)


def test_explicit_store_and_keys_dir_win_over_the_data_dir(env, tmp_path):
    env.setenv("LOBBY_STORE", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    env.setenv("LOBBY_KEYS_DIR", str(tmp_path / "shared-keys"))
    s = load_settings()
    assert s.store_url == f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert s.keys_path == tmp_path / "shared-keys"


def test_overrides_win_over_the_environment(env):
    env.setenv("LOBBY_PORT", "9000")
    assert load_settings(port=9999).port == 9999


def test_settings_are_frozen(env):
    s = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        s.port = 1


def test_an_unknown_lobby_variable_is_refused_by_name(env):
    env.setenv("LOBBY_FOO", "1")
    with pytest.raises(SettingsError, match="LOBBY_FOO"):
        load_settings()


def test_a_misspelt_setting_is_refused_by_name(env):
    env.setenv("LOBBY_JOIN_TOKEN_TTL", "60")
    with pytest.raises(SettingsError, match="LOBBY_JOIN_TOKEN_TTL"):
        load_settings()


INVALID = [
    ("LOBBY_PORT", "abc"),
    ("LOBBY_PORT", "70000"),
    ("LOBBY_JOIN_TOKEN_TTL_S", "0"),
    ("LOBBY_JOIN_TOKEN_TTL_S", "-5"),
    ("LOBBY_JOIN_TOKEN_TTL_S", "ten"),
    ("LOBBY_CLOCK_LEEWAY_S", "61"),
    ("LOBBY_HEARTBEAT_TIMEOUT_S", "0"),
    ("LOBBY_PUBLIC_URL", "ftp://x"),
    ("LOBBY_PUBLIC_URL", "lobby.example.com"),
    ("LOBBY_PUBLIC_URL", "https://x/?q=1"),
    ("LOBBY_STORE", "postgres://db/lobby"),
    ("LOBBY_STORE", "rediss+cluster://node:6379"),
    ("LOBBY_RATE_LIMIT_STORAGE", "memcached://cache:11211"),
    ("LOBBY_ADMIN_TOKEN", "short"),
    ("LOBBY_LAUNCH_SCHEME", "Not A Scheme"),
    ("LOBBY_LAUNCH_SCHEME", "1arena"),
    ("LOBBY_RATE_LIMITS_ENABLED", "maybe"),
]


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_an_invalid_value_is_refused_naming_the_setting(env, name, value):
    env.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert name in str(refused.value)


def test_settings_class_and_loader_agree_on_the_known_names(env):
    for field in Settings.model_fields:
        env.setenv("LOBBY_" + field.upper(), "")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "unknown" not in str(refused.value)


def serve(tmp_path: Path, **settings: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOBBY_")}
    env.update({"LOBBY_DATA_DIR": str(tmp_path / "data"), "LOBBY_PORT": str(free_port()), **settings})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "lobby", "serve"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=START_REFUSAL_LIMIT_S, check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOBBY_PORT", "abc"), ("LOBBY_JOIN_TOKEN_TTL_S", "0"), ("LOBBY_PUBLIC_URL", "ftp://x"),
     ("LOBBY_FOO", "1")],
)
def test_serve_with_a_bad_setting_exits_at_once_naming_it(tmp_path, name, value):
    done, elapsed = serve(tmp_path, **{name: value})
    assert done.returncode != 0
    assert elapsed < 5
    (line,) = done.stderr.strip().splitlines()
    assert name in line
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()
