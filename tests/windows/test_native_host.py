"""The extension's native host on the official Windows CPython (under Wine): registry, manifest, a join."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.launcher.test_native_host import join_message
from tests.support.wine import windows_path

from .conftest import LOBBY, SCHEME, TOKEN, WinWorld

HOST = f"io.playlink.{SCHEME}"
EXTENSION = "abcdefghijklmnopabcdefghijklmnop"
CALLER = f"chrome-extension://{EXTENSION}/"
ROOTS = (
    "Software\\Google\\Chrome\\NativeMessagingHosts",
    "Software\\Chromium\\NativeMessagingHosts",
    "Software\\Microsoft\\Edge\\NativeMessagingHosts",
)


def delete_keys(win: WinWorld) -> None:
    """Remove every browser's host key of `arena` (the lane's reset knows only the scheme's keys)."""
    for root in ROOTS:
        subprocess.run(
            ["wine", "reg", "delete", f"HKCU\\{root}\\{HOST}", "/f"], env=win.python.env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip


@pytest.fixture(autouse=True)
def no_host_keys(win: WinWorld) -> Iterator[None]:
    """Each test starts and ends without host keys of `arena`."""
    delete_keys(win)
    yield
    delete_keys(win)


def keys(win: WinWorld) -> dict[str, dict[str, str] | None]:
    """Each browser's host key of `arena`, as Windows Python reads it."""
    done = win.script("native_host.py", "read", HOST)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def install(win: WinWorld, *extra: str) -> None:
    """Install `arena` with the recording client and the game's extension id."""
    done = win.launcher(
        "install", SCHEME, "--lobby", LOBBY, "--start-wait", "30", *extra, "--", *win.client_command()
    )
    assert done.returncode == 0, done.stderr


def test_install_points_each_browsers_key_at_a_manifest_allowing_only_the_extension(win: WinWorld) -> None:
    install(win, "--extension-id", EXTENSION)
    manifest_file = win.config_dir / "NativeMessagingHosts" / f"{HOST}.json"
    manifest = json.loads(manifest_file.read_text())
    assert manifest["allowed_origins"] == [CALLER]
    assert manifest["path"].endswith(f"\\NativeMessagingHosts\\native-host-{SCHEME}.bat")
    for root in ROOTS:
        values = keys(win)[root]
        assert values is not None, root
        assert values[""].endswith(f"\\NativeMessagingHosts\\{HOST}.json")
        assert values["PlaylinkLauncher"] == "playlink-launcher-1"
    status = win.launcher("status", SCHEME)
    assert f"{SCHEME}: browser extension native host: HKCU\\{ROOTS[0]}\\{HOST}" in status.stdout


def test_the_host_started_as_chrome_starts_it_hands_the_join_to_the_windows_client(win: WinWorld) -> None:
    install(win, "--extension-id", EXTENSION)
    win.start_client()
    message = win.records / "message.bin"
    message.write_bytes(join_message())
    done = win.script("native_host.py", "send", HOST, CALLER, windows_path(message))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["replies"] == [{"ok": True}], result
    assert win.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_uninstall_removes_the_keys_the_manifest_and_the_batch_file(win: WinWorld) -> None:
    install(win, "--extension-id", EXTENSION)
    assert win.launcher("uninstall", SCHEME).returncode == 0
    assert set(keys(win).values()) == {None}
    assert not (win.config_dir / "NativeMessagingHosts" / f"{HOST}.json").exists()
    assert not (win.config_dir / "NativeMessagingHosts" / f"native-host-{SCHEME}.bat").exists()


def test_a_foreign_chrome_host_key_is_neither_replaced_nor_removed(win: WinWorld) -> None:
    win.script("native_host.py", "foreign", HOST)
    done = win.launcher(
        "install", SCHEME, "--lobby", LOBBY, "--extension-id", EXTENSION, "--", *win.client_command()
    )
    assert done.returncode == 1
    assert "not ours" in done.stderr
    assert not (win.config_dir / f"{SCHEME}.json").exists()
    win.launcher("uninstall", SCHEME)
    assert keys(win)[ROOTS[0]] == {"": "C:\\Other\\host.json"}
