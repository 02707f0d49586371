"""macOS: a tiny app bundle whose Info.plist claims the scheme, registered with `lsregister`.

`~/Applications/Playlink-<scheme>.app/Contents/Info.plist` declares `CFBundleURLTypes` for the
scheme, `LSUIElement` (no Dock icon) and our marker key; `Contents/MacOS/playlink-launcher` is a
Python script run by this interpreter. macOS delivers the URL as an Apple Event, not in argv, so that
script runs the small event loop of `launcher.platforms.macos_events` (which can only run on a Mac).
"""

from __future__ import annotations

import os
import sys

from launcher.errors import PlatformError
from launcher.platforms import MARKER, Platform, Registration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MARKER_KEY = "PlaylinkLauncher"
EXECUTABLE = "playlink-launcher"
LSREGISTER = (
    "/System/Library/Frameworks/CoreServices.framework/Frameworks/"
    "LaunchServices.framework/Support/lsregister"
)
TOOL_TIMEOUT_S = 30.0


def bundle_id(scheme: str) -> str:
    """Return the bundle identifier of `scheme`'s handler (`+` is not allowed in one)."""
    return f"io.playlink.launcher.{scheme.replace('+', '-')}"


def info_plist(scheme: str) -> dict[str, object]:
    """Return the Info.plist of `scheme`'s handler bundle."""
    return {
        "CFBundleIdentifier": bundle_id(scheme),
        "CFBundleName": f"Playlink {scheme}",
        "CFBundleExecutable": EXECUTABLE,
        "CFBundlePackageType": "APPL",
        "CFBundleInfoDictionaryVersion": "6.0",
        "CFBundleVersion": "1",
        "LSUIElement": True,
        "CFBundleURLTypes": [{"CFBundleURLName": bundle_id(scheme), "CFBundleURLSchemes": [scheme]}],
        MARKER_KEY: MARKER,
    }


def executable_script(python: str, package_parent: str) -> str:
    """Return the bundle's executable: this interpreter running the Apple Event loop."""
    return (
        f"#!{python}\n"
        '"""Playlink launcher bundle executable (generated): receives URLs as Apple Events."""\n'
        "import sys\n"
        f"sys.path.append({package_parent!r})\n"
        "from launcher.platforms.macos_events import main\n"
        "raise SystemExit(main())\n"
    )


class MacPlatform(Platform):
    """Registers one per-user app bundle per scheme with LaunchServices."""

    name = "macos"

    def __init__(
        self,
        applications_dir: str | None = None,
        lsregister: str = LSREGISTER,
        default_handler: Callable[[str], str | None] | None = None,
    ) -> None:
        self.applications_dir = applications_dir or os.path.expanduser("~/Applications")
        self.lsregister = lsregister
        self.default_handler = default_handler

    def bundle_path(self, scheme: str) -> str:
        """Return the path of `scheme`'s handler bundle."""
        return os.path.join(self.applications_dir, f"Playlink-{scheme}.app")

    def register(self, scheme: str, command: list[str]) -> str:
        """Write the bundle (Info.plist and executable) and register it with LaunchServices."""
        import plistlib

        bundle = self.bundle_path(scheme)
        if os.path.lexists(bundle) and not self._ours(bundle):
            raise PlatformError(f"{bundle} exists and is not ours; refusing to overwrite it")
        if any('"' in part or "\n" in part for part in (sys.executable, *command)):
            raise PlatformError("the interpreter path cannot be written into a script safely")
        contents = os.path.join(bundle, "Contents")
        os.makedirs(os.path.join(contents, "MacOS"), exist_ok=True)
        with open(os.path.join(contents, "Info.plist"), "wb") as handle:
            plistlib.dump(info_plist(scheme), handle)
        script = os.path.join(contents, "MacOS", EXECUTABLE)
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(executable_script(os.path.abspath(sys.executable), package_parent))
        os.chmod(script, 0o755)  # noqa: S103 - an app executable: readable and runnable, owner-writable
        self._lsregister("-f", bundle)
        return bundle

    def unregister(self, scheme: str) -> bool:
        """Unregister and delete the bundle, only if its Info.plist carries our marker."""
        import shutil

        bundle = self.bundle_path(scheme)
        if not os.path.isdir(bundle) or not self._ours(bundle):
            return False
        self._lsregister("-u", bundle)
        shutil.rmtree(bundle)
        return True

    def status(self, scheme: str) -> Registration:
        """Report whether LaunchServices names our bundle as the scheme's default handler."""
        bundle = self.bundle_path(scheme)
        installed = os.path.isdir(bundle) and self._ours(bundle)
        lookup = self.default_handler or _default_handler
        return Registration(scheme, installed, installed and lookup(scheme) == bundle_id(scheme), bundle)

    def _ours(self, bundle: str) -> bool:
        """Tell whether the bundle's Info.plist carries our marker."""
        import plistlib

        try:
            with open(os.path.join(bundle, "Contents", "Info.plist"), "rb") as handle:
                return plistlib.load(handle).get(MARKER_KEY) == MARKER
        except (OSError, ValueError):
            return False

    def _lsregister(self, *args: str) -> None:
        """Run lsregister (argument list, no shell) when it exists."""
        import subprocess

        if not os.path.exists(self.lsregister):
            return
        done = subprocess.run(  # noqa: S603 - fixed tool path, argument list
            [self.lsregister, *args], capture_output=True, timeout=TOOL_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            raise PlatformError(f"lsregister failed with status {done.returncode}")


def _default_handler(scheme: str) -> str | None:
    """Ask LaunchServices for the bundle id handling `scheme` (macOS only; None elsewhere)."""
    if sys.platform != "darwin":
        return None
    from launcher.platforms.macos_events import default_handler_bundle_id

    return default_handler_bundle_id(scheme)
