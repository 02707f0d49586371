"""`lobby keys|servers ... --env-file PATH`: the commands read the settings `lobby serve` reads, and
one that writes says where it wrote."""

from __future__ import annotations

from pathlib import Path

import httpx

from lobby.cli import redacted
from tests.support.lobby import LobbyProcess, free_port, run_cli, unique


def env_file(path: Path, **values: str) -> Path:
    """An env file of `LOBBY_<NAME>=value` lines."""
    path.write_text("".join(f"LOBBY_{name.upper()}={value}\n" for name, value in values.items()))
    return path


def test_servers_add_with_the_lobbys_env_file_registers_in_the_running_lobby(
    lobby: LobbyProcess, api: httpx.Client, tmp_path: Path
) -> None:
    settings = env_file(tmp_path / "lobby.env", data_dir=str(lobby.data_dir))
    name, address = unique("env-file"), f"127.0.0.1:{free_port()}"
    elsewhere = tmp_path / "not-the-lobby"  # LOBBY_DATA_DIR of the command's own environment
    added = run_cli(elsewhere, "servers", "add", name, address, "4", "--env-file", str(settings))
    assert added.returncode == 0, added.stderr
    assert f"store sqlite:///{lobby.data_dir / 'lobby.db'}" in added.stderr
    server_id = dict(line.split(": ", 1) for line in added.stdout.splitlines())["id"]
    r = api.get(f"/v1/games/{server_id}")
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name
    assert not (elsewhere / "lobby.db").exists()

    listing = run_cli(elsewhere, "servers", "list", "--env-file", str(settings))
    assert listing.returncode == 0, listing.stderr
    assert any(line.startswith(server_id) for line in listing.stdout.splitlines())


def test_keys_commands_take_the_env_file_and_name_the_directory_they_change(tmp_path: Path) -> None:
    keys_dir = tmp_path / "shared-keys"
    settings = env_file(tmp_path / "lobby.env", keys_dir=str(keys_dir))
    rotated = run_cli(tmp_path / "data", "keys", "rotate", "--env-file", str(settings))
    assert rotated.returncode == 0, rotated.stderr
    assert f"keys directory {keys_dir}" in rotated.stderr
    kid = rotated.stdout.strip()
    assert (keys_dir / f"{kid}.pem").exists()
    listing = run_cli(tmp_path / "data", "keys", "list", "--env-file", str(settings))
    assert listing.stdout == f"{kid}\tcurrent\n"
    assert not (tmp_path / "data").exists()


def test_a_bad_or_missing_env_file_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("NOT_A_LOBBY_SETTING=1\n")
    for path in (bad, tmp_path / "missing.env"):
        done = run_cli(tmp_path / "data", "servers", "add", "x", "h:1", "4", "--env-file", str(path))
        assert done.returncode == 2
        assert str(path) in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stdout == ""
    assert not (tmp_path / "data").exists()


def test_the_store_named_on_stderr_never_shows_its_password() -> None:
    assert redacted("redis://lobby:s3cret@redis.internal:6379/0") == "redis://lobby:***@redis.internal:6379/0"
    assert redacted("rediss://:s3cret@redis:6380") == "rediss://:***@redis:6380"
    assert redacted("sqlite:////var/lib/playlink/lobby.db") == "sqlite:////var/lib/playlink/lobby.db"
