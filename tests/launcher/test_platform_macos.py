"""macOS registration: the generated bundle and Info.plist (lsregister and Apple Events need a Mac)."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import PlatformError
from launcher.platforms.macos import MacPlatform, bundle_id, executable_script, info_plist


def test_info_plist_claims_exactly_the_scheme_and_hides_from_the_dock() -> None:
    plist = info_plist("arena")
    assert plist["CFBundleURLTypes"] == [
        {"CFBundleURLName": "io.playlink.launcher.arena", "CFBundleURLSchemes": ["arena"]}
    ]
    assert plist["LSUIElement"] is True
    assert plist["CFBundleExecutable"] == "playlink-launcher"


def test_bundle_ids_replace_characters_a_bundle_id_cannot_have() -> None:
    assert bundle_id("com.example+beta") == "io.playlink.launcher.com.example-beta"


def make_platform(tmp_path: Path, handler: str | None = None) -> MacPlatform:
    missing = str(tmp_path / "no-lsregister")
    return MacPlatform(str(tmp_path), lsregister=missing, default_handler=lambda scheme: handler)


def test_register_writes_a_loadable_bundle_and_status_follows_launch_services(tmp_path: Path) -> None:
    bundle = Path(make_platform(tmp_path).register("arena", ["/opt/bin/launcher"]))
    assert bundle == tmp_path / "Playlink-arena.app"
    with open(bundle / "Contents/Info.plist", "rb") as handle:
        assert plistlib.load(handle)["CFBundleIdentifier"] == "io.playlink.launcher.arena"
    script = bundle / "Contents/MacOS/playlink-launcher"
    assert os.access(script, os.X_OK)
    assert make_platform(tmp_path, "io.playlink.launcher.arena").status("arena").is_default
    assert not make_platform(tmp_path, "com.other.app").status("arena").is_default


def test_the_bundle_executable_is_valid_python_for_this_interpreter(tmp_path: Path) -> None:
    script = tmp_path / "exe.py"
    script.write_text(executable_script(sys.executable, str(tmp_path / "it's \"quoted\"")))
    compiled = subprocess.run([sys.executable, "-m", "py_compile", str(script)], check=False)
    assert compiled.returncode == 0
    assert script.read_text().startswith(f"#!{sys.executable}\n")


def test_unregister_removes_only_a_marked_bundle_and_is_safe_twice(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    platform.register("arena", ["/opt/bin/launcher"])
    assert platform.unregister("arena") is True
    assert platform.unregister("arena") is False
    assert not (tmp_path / "Playlink-arena.app").exists()


def test_a_foreign_bundle_is_neither_overwritten_nor_removed(tmp_path: Path) -> None:
    foreign = tmp_path / "Playlink-arena.app/Contents"
    foreign.mkdir(parents=True)
    with open(foreign / "Info.plist", "wb") as handle:
        plistlib.dump({"CFBundleIdentifier": "com.other.app"}, handle)
    platform = make_platform(tmp_path)
    with pytest.raises(PlatformError, match="not ours"):
        platform.register("arena", ["/opt/bin/launcher"])
    assert platform.unregister("arena") is False
    assert foreign.exists()


def test_the_apple_event_module_imports_without_a_mac() -> None:
    from launcher.platforms import macos_events

    assert macos_events._code("GURL") == 0x4755524C
