"""Signing keys: files on disk, the published JWKS, and `lobby keys list|rotate|retire`."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from lobby.keys import KeyRing
from tests.support.lobby import LobbyProcess, add_server, join, new_player, redeem, run_cli
from tests.support.read_only import read_only_prefix


def listed(data_dir: Path) -> dict[str, str]:
    """`lobby keys list` as {kid: state}."""
    done = run_cli(data_dir, "keys", "list")
    assert done.returncode == 0, done.stderr
    return dict(line.split("\t") for line in done.stdout.splitlines())


def key_files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "keys").iterdir())


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def published_kids(lobby_url: str) -> list[str]:
    return [k["kid"] for k in httpx.get(lobby_url + "/.well-known/jwks.json").json()["keys"]]



@dataclass(frozen=True)
class KeyedLobby:
    """A lobby of this module's own (its keys change), as it was right after its first start."""

    process: LobbyProcess
    fresh_before_start: bool
    first_key_files: list[Path]

    @property
    def data_dir(self) -> Path:
        return self.process.data_dir

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="module")
def keyed_lobby(tmp_path_factory) -> Iterator[KeyedLobby]:
    data_dir = tmp_path_factory.mktemp("keys") / "data"
    fresh = not data_dir.exists()
    process = LobbyProcess(data_dir).start()
    yield KeyedLobby(process, fresh, sorted((data_dir / "keys").glob("*.pem")))
    process.stop()


@pytest.fixture
def keyed(keyed_lobby):
    """The module's lobby, a client of it, a server and a player."""
    with httpx.Client(base_url=keyed_lobby.url, timeout=10) as client:
        yield keyed_lobby, client, add_server(client), new_player(client)


def test_first_start_creates_one_key_file_readable_only_by_its_owner(keyed_lobby):
    assert keyed_lobby.fresh_before_start
    (pem,) = keyed_lobby.first_key_files
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE(pem.parent.stat().st_mode) & 0o077 == 0
    assert pem.name.removesuffix(".pem") in published_kids(keyed_lobby.url)


def test_jwks_publishes_public_es256_signing_keys_with_caching(api, lobby):
    r = api.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert "max-age=" in r.headers["cache-control"]
    keys = r.json()["keys"]
    assert keys
    on_disk = {p.name.removesuffix(".pem") for p in (lobby.data_dir / "keys").glob("*.pem")}
    assert {k["kid"] for k in keys} == on_disk
    for key in keys:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
        assert key["x"]
        assert key["y"]
        assert "d" not in key


def test_token_verifies_with_the_published_key_of_its_kid(api, lobby):
    server, player = add_server(api), new_player(api)
    token = join(api, player, server)
    jwks = jwt.PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == kid_of(token))
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=server.id)
    assert claims["sub"] == player.id


def test_keys_list_names_the_current_key(tmp_path):
    states = listed(tmp_path)
    assert list(states.values()) == ["current"]
    assert (tmp_path / "keys" / f"{next(iter(states))}.pem").exists()


def test_after_rotation_new_tokens_carry_the_new_kid_and_older_tokens_still_redeem(keyed):
    lobby, client, server, player = keyed
    old_token = join(client, player, server)
    old_kid = kid_of(old_token)

    rotated = run_cli(lobby.data_dir, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.strip()
    assert new_kid != old_kid
    states = listed(lobby.data_dir)
    assert (states[old_kid], states[new_kid]) == ("active", "current")
    assert {old_kid, new_kid} <= set(published_kids(lobby.url))

    other = add_server(client)
    assert kid_of(join(client, new_player(client), other)) == new_kid  # the player's token stays theirs
    r = redeem(client, server, old_token)
    assert r.status_code == 200, r.text
    assert r.json()["player"]["id"] == player.id


def test_retired_key_leaves_jwks_and_its_unredeemed_tokens_are_refused(keyed):
    lobby, client, server, player = keyed
    old_token = join(client, player, server)
    old_kid = kid_of(old_token)
    new_kid = run_cli(lobby.data_dir, "keys", "rotate").stdout.strip()

    retired = run_cli(lobby.data_dir, "keys", "retire", old_kid)
    assert retired.returncode == 0, retired.stderr
    assert old_kid in retired.stdout
    published = published_kids(lobby.url)
    assert new_kid in published
    assert old_kid not in published
    states = listed(lobby.data_dir)
    assert (states[old_kid], states[new_kid]) == ("retired", "current")

    r = redeem(client, server, old_token)
    assert r.status_code == 401
    assert r.json()["reason"] == "unknown_key"
    assert client.get(f"/v1/games/{server.id}").json()["members"] == []


def test_retiring_the_current_key_is_refused_and_it_stays_published(keyed_lobby):
    lobby = keyed_lobby
    before = key_files(lobby.data_dir)
    (current,) = (kid for kid, state in listed(lobby.data_dir).items() if state == "current")
    done = run_cli(lobby.data_dir, "keys", "retire", current)
    assert done.returncode == 2
    assert current in done.stderr
    assert "current" in done.stderr
    assert "Traceback" not in done.stderr
    assert current in published_kids(lobby.url)
    assert key_files(lobby.data_dir) == before


def test_retiring_an_unknown_kid_is_refused(keyed_lobby):
    before = key_files(keyed_lobby.data_dir)
    done = run_cli(keyed_lobby.data_dir, "keys", "retire", "no-such-kid")
    assert done.returncode == 2
    assert "no-such-kid" in done.stderr
    assert "Traceback" not in done.stderr
    assert key_files(keyed_lobby.data_dir) == before


def test_keys_rotated_within_one_second_each_become_the_current_key_in_turn(tmp_path):
    ring = KeyRing(tmp_path / "keys")
    ring.ensure()
    made = [ring.current.kid]
    for _ in range(20):
        made.append(ring.rotate())
        assert ring.current.kid == made[-1]
    assert [k.kid for k in ring.all()] == made


def test_a_new_key_sorts_after_the_newest_even_when_the_clock_is_behind_it(tmp_path):
    ring = KeyRing(tmp_path / "keys")
    ring.ensure()
    future_kid = "29991231T235959.999999-00000000"
    (tmp_path / "keys" / f"{ring.current.kid}.pem").rename(tmp_path / "keys" / f"{future_kid}.pem")
    ring.reload()
    kid = ring.rotate()
    assert kid.startswith("30000101T000000.000000-")
    assert ring.current.kid == kid


def test_rotating_an_empty_keys_directory_makes_exactly_one_key(tmp_path):
    rotated = run_cli(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    kid = rotated.stdout.strip()
    assert key_files(tmp_path) == [".lock", f"{kid}.pem"]
    assert listed(tmp_path) == {kid: "current"}
    assert f"keys directory {tmp_path / 'keys'}" in rotated.stderr


def test_a_lobby_serves_and_lists_keys_from_a_read_only_keys_directory(tmp_path):
    """The directory is a read-only bind mount (a Kubernetes Secret volume) in the lobby's own
    mount namespace; root cannot write there either."""
    data_dir = tmp_path / "data"
    keys_dir = tmp_path / "secret-keys"
    ring = KeyRing(keys_dir)
    ring.rotate()
    (keys_dir / ".lock").unlink()  # a Secret volume holds the key files and nothing else
    kid = ring.current.kid
    read_only = read_only_prefix(str(keys_dir))

    process = LobbyProcess(data_dir, {"LOBBY_KEYS_DIR": str(keys_dir)}, wrapper=read_only).start()
    try:
        with httpx.Client(base_url=process.url, timeout=10) as client:
            server, player = add_server(client), new_player(client)
            token = join(client, player, server)
            assert kid_of(token) == kid
            assert redeem(client, server, token).status_code == 200
    finally:
        process.stop()
    assert "Traceback" not in process.logs()

    done = run_cli(data_dir, "keys", "list", wrapper=read_only_env(read_only, keys_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{kid}\tcurrent\n"
    assert sorted(p.name for p in keys_dir.iterdir()) == [f"{kid}.pem"]


def read_only_env(prefix: tuple[str, ...], keys_dir: Path) -> tuple[str, ...]:
    """`prefix`, then `env LOBBY_KEYS_DIR=keys_dir`: the CLI reads the same directory as the lobby."""
    return (*prefix, "env", f"LOBBY_KEYS_DIR={keys_dir}")
