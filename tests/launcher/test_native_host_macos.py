"""The native host's registration on macOS, as far as Linux can show it.

Real here: the manifests in each browser's Application Support folder and the `/bin/sh` stub they
name, run with a join as a browser runs it. LaunchServices is not involved in the host, but the
`MacPlatform` constructor wants one: it is the mock of `tests/launcher/fake_macos.py`, since no Mac
runs here. That Chrome on a real Mac reads these folders is for a real Mac to check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from launcher.platforms.macos import MacPlatform

from .conftest import LOBBY, TOKEN, World
from .fake_macos import FakeLaunchServices
from .test_native_host import frame, join_message

EXTENSION = "abcdefghijklmnopabcdefghijklmnop"
FOLDERS = ("Google/Chrome", "Chromium", "Microsoft Edge")


def mac(root: Path) -> MacPlatform:
    """A MacPlatform whose Application Support is under `root` (LaunchServices mocked: no Mac here)."""
    return MacPlatform(
        str(root / "Applications"), lsregister=str(root / "no-lsregister"),
        launch_services=FakeLaunchServices(), support_dir=str(root / "Support"),  # type: ignore[arg-type]
    )  # fmt: skip


def test_each_browsers_folder_gets_the_manifest_and_the_stub_it_names_hands_off_the_join(
    installed: World,
) -> None:
    platform = mac(installed.root)
    command = [sys.executable, "-m", "launcher"]
    written = platform.register_host("arena", command, [EXTENSION])
    expected = [
        installed.root / "Support" / f / "NativeMessagingHosts" / "io.playlink.arena.json" for f in FOLDERS
    ]
    assert written == [str(path) for path in expected]
    manifest = json.loads(expected[0].read_text())
    assert manifest["path"] == str(installed.root / "Support" / "Playlink" / "native-host-arena")
    assert manifest["allowed_origins"] == [f"chrome-extension://{EXTENSION}/"]
    assert platform.host_status("arena") == written
    installed.start_client()
    done = subprocess.run(
        [manifest["path"], f"chrome-extension://{EXTENSION}/"], input=join_message(), env=installed.env,
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.stdout == frame(b'{"ok": true}'), done.stderr
    assert installed.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_unregister_removes_the_manifests_and_the_stub_only_once(world: World) -> None:
    platform = mac(world.root)
    platform.register_host("arena", [sys.executable, "-m", "launcher"], [EXTENSION])
    assert platform.unregister_host("arena") is True
    assert platform.unregister_host("arena") is False
    assert platform.host_status("arena") == []
    assert not os.path.exists(platform.host_wrapper_path("arena"))
