"""`launcher install --extension-id` registers the native host for Chromium and Chrome on Linux."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from launcher import config
from launcher.hostmanifest import check_extension_id, extension_id, host_name

from .conftest import LOBBY, SCHEME, TOKEN, World
from .test_native_host import frame, join_message

EXTENSION = "abcdefghijklmnopabcdefghijklmnop"
OTHER_EXTENSION = "ponmlkjihgfedcbaponmlkjihgfedcba"
HOST = f"io.playlink.{SCHEME}"


def manifests(world: World) -> list[Path]:
    """Where Chromium and Google Chrome look for this user's host manifests."""
    config_home = world.home / ".config"
    browsers = ("chromium", "google-chrome")
    return [config_home / browser / "NativeMessagingHosts" / f"{HOST}.json" for browser in browsers]


def install(world: World, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real `launcher install arena` with the recording client."""
    return world.launcher("install", SCHEME, "--lobby", LOBBY, *extra, "--", *world.client_command())


def test_install_writes_a_manifest_per_browser_naming_only_the_games_extension(world: World) -> None:
    done = install(world, "--extension-id", EXTENSION)
    assert done.returncode == 0, done.stderr
    for path in manifests(world):
        manifest = json.loads(path.read_text())
        assert manifest["name"] == HOST
        assert manifest["type"] == "stdio"
        assert manifest["allowed_origins"] == [f"chrome-extension://{EXTENSION}/"]
        assert os.path.isabs(manifest["path"])
        assert os.access(manifest["path"], os.X_OK)
        assert str(path) in done.stdout


def test_the_registered_host_run_as_the_browser_runs_it_hands_the_join_to_the_client(world: World) -> None:
    assert install(world, "--extension-id", EXTENSION).returncode == 0
    world.start_client()
    wrapper = json.loads(manifests(world)[0].read_text())["path"]
    done = subprocess.run(
        [wrapper, f"chrome-extension://{EXTENSION}/"],
        input=join_message(),
        env=world.env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.stdout == frame(b'{"ok": true}'), done.stderr
    assert world.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_status_reports_the_host_and_uninstall_removes_it_once(world: World) -> None:
    assert install(world, "--extension-id", EXTENSION).returncode == 0
    status = world.launcher("status", SCHEME)
    assert f"{SCHEME}: browser extension native host: {manifests(world)[0]}" in status.stdout
    wrapper = json.loads(manifests(world)[0].read_text())["path"]
    assert world.launcher("uninstall", SCHEME).stdout == f"uninstalled {SCHEME}://\n"
    assert [path.exists() for path in manifests(world)] == [False, False]
    assert not os.path.exists(wrapper)
    assert world.launcher("uninstall", SCHEME).stdout == f"nothing to uninstall for {SCHEME}://\n"


def test_without_an_extension_id_no_host_is_registered_and_a_reinstall_removes_the_old_one(
    world: World,
) -> None:
    assert install(world, "--extension-id", EXTENSION, "--extension-id", OTHER_EXTENSION).returncode == 0
    origins = json.loads(manifests(world)[1].read_text())["allowed_origins"]
    assert origins == [f"chrome-extension://{EXTENSION}/", f"chrome-extension://{OTHER_EXTENSION}/"]
    assert install(world).returncode == 0
    assert [path.exists() for path in manifests(world)] == [False, False]
    assert "browser extension native host: not registered" in world.launcher("status", SCHEME).stdout


@pytest.mark.parametrize(
    "bad", ["ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP", "abcdefghijklmnopabcdefghijklmnoq", "abc", "x" * 33, ""]
)
def test_a_bad_extension_id_is_refused_before_anything_is_written(world: World, bad: str) -> None:
    done = install(world, "--extension-id", bad)
    assert done.returncode == 1
    assert done.stderr.startswith("launcher: ")
    assert not os.path.exists(config.config_path(SCHEME))
    assert [path.exists() for path in manifests(world)] == [False, False]


def test_a_manifest_that_is_not_ours_is_neither_overwritten_nor_removed(world: World) -> None:
    foreign = manifests(world)[0]
    foreign.parent.mkdir(parents=True)
    foreign.write_text('{"name": "io.playlink.arena", "description": "someone else"}')
    done = install(world, "--extension-id", EXTENSION)
    assert done.returncode == 1
    assert "is not ours" in done.stderr
    assert not os.path.exists(config.config_path(SCHEME))
    assert not (world.home / ".local" / "share" / "applications" / f"playlink-{SCHEME}.desktop").exists()
    world.launcher("uninstall", SCHEME)
    assert foreign.read_text() == '{"name": "io.playlink.arena", "description": "someone else"}'


def test_host_names_are_valid_for_browsers_and_distinct_per_scheme() -> None:
    names = [host_name(scheme) for scheme in ("arena", "a-b", "a+b", "a.b", "a2")]
    escaped = ["io.playlink.a_2db", "io.playlink.a_2bb", "io.playlink.a_2eb"]
    assert names == ["io.playlink.arena", *escaped, "io.playlink.a2"]
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789._") for name in names)


def test_an_extension_id_is_the_sha256_of_the_key_mapped_to_a_to_p() -> None:
    import hashlib

    der = b"any public key bytes"
    digest = hashlib.sha256(der).hexdigest()[:32]
    assert extension_id(der) == digest.translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))
    assert check_extension_id(extension_id(der)) == extension_id(der)
