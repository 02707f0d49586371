"""macOS: a tiny app bundle whose Info.plist claims the scheme, registered and made the default handler.

`~/Applications/Playlink-<scheme>.app/Contents/Info.plist` declares `CFBundleURLTypes` for the
scheme, `LSUIElement` (no Dock icon), `LSArchitecturePriority` (arm64 first: the executable is a
script, so macOS cannot read an architecture from it) and our marker key. `Contents/MacOS/
playlink-launcher` is a `/bin/sh` stub that `exec`s this interpreter, quoted, whatever its path (the
kernel ends a `#!` path at a space). macOS delivers URLs as Apple Events, not in argv, so the
interpreter runs the event loop of `launcher.platforms.macos_events`. Install registers the bundle
with `lsregister` and makes it the scheme's default handler through LaunchServices; `status` reads
the default handler back.

The browser extension's native host is registered per user for Google Chrome, Chromium and
Microsoft Edge, in `~/Library/Application Support/<browser folder>/NativeMessagingHosts/`, its
manifest naming the marked `/bin/sh` stub `~/Library/Application Support/Playlink/native-host-<scheme>`.
"""

from __future__ import annotations

import os
import sys

from launcher.errors import PlatformError
from launcher.platforms import MARKER, Platform, Registration, check_socket_path, stub
from launcher.platforms.stubhost import StubHosts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from launcher.platforms.macos_api import LaunchServices

MARKER_KEY = "PlaylinkLauncher"
EXECUTABLE = "playlink-launcher"
LSREGISTER = (
    "/System/Library/Frameworks/CoreServices.framework/Frameworks/"
    "LaunchServices.framework/Support/lsregister"
)
TOOL_TIMEOUT_S = 30.0
HOST_BROWSER_FOLDERS = ("Google/Chrome", "Chromium", "Microsoft Edge")


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
        "LSArchitecturePriority": ["arm64", "x86_64"],
        "CFBundleURLTypes": [{"CFBundleURLName": bundle_id(scheme), "CFBundleURLSchemes": [scheme]}],
        MARKER_KEY: MARKER,
    }


def executable_script(python: str, package_parent: str) -> bytes:
    """Return the bundle's executable: a `/bin/sh` stub running the Apple Event loop in `python`.

    `-P` keeps the working directory LaunchServices chose off `sys.path`.
    """
    bootstrap = (
        "import sys\n"
        f"sys.path.append({package_parent!r})\n"
        "from launcher.platforms.macos_events import main\n"
        "raise SystemExit(main())\n"
    )
    comment = "Playlink launcher bundle executable (generated): receives URLs as Apple Events"
    return stub.sh_stub([python, "-P", "-c", bootstrap], comment=comment, marker=MARKER)


class MacPlatform(StubHosts, Platform):
    """Registers one per-user app bundle per scheme with LaunchServices."""

    name = "macos"

    def __init__(
        self,
        applications_dir: str | None = None,
        lsregister: str = LSREGISTER,
        launch_services: LaunchServices | None = None,
        python: str | None = None,
        support_dir: str | None = None,
    ) -> None:
        self.applications_dir = applications_dir or os.path.expanduser("~/Applications")
        self.support_dir = support_dir or os.path.expanduser("~/Library/Application Support")
        self.lsregister = lsregister
        self.python = os.path.abspath(python or sys.executable)
        if launch_services is None:
            from launcher.platforms.macos_api import LaunchServices

            launch_services = LaunchServices()
        self.launch_services = launch_services

    def host_folders(self) -> list[str]:
        """Return the per-user native messaging host folders of Chrome, Chromium and Edge."""
        folders = [os.path.join(self.support_dir, *name.split("/")) for name in HOST_BROWSER_FOLDERS]
        return [os.path.join(folder, "NativeMessagingHosts") for folder in folders]

    def host_wrapper_path(self, scheme: str) -> str:
        """Return the path of the stub a host manifest names for `scheme`."""
        return os.path.join(self.support_dir, "Playlink", f"native-host-{scheme}")

    def bundle_path(self, scheme: str) -> str:
        """Return the path of `scheme`'s handler bundle."""
        return os.path.join(self.applications_dir, f"Playlink-{scheme}.app")

    def check_scheme(self, scheme: str) -> None:
        """Refuse a scheme whose socket path would not fit in `sun_path` (long schemes on macOS)."""
        check_socket_path(scheme)

    def register(self, scheme: str, command: list[str]) -> str:
        """Write the bundle, register it, and make it the scheme's default handler (else remove it)."""
        import plistlib

        check_socket_path(scheme)
        bundle = self.bundle_path(scheme)
        if os.path.lexists(bundle) and not self._ours(bundle):
            raise PlatformError(f"{bundle} exists and is not ours; refusing to overwrite it")
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        executable = executable_script(self.python, package_parent)
        contents = os.path.join(bundle, "Contents")
        os.makedirs(os.path.join(contents, "MacOS"), exist_ok=True)
        with open(os.path.join(contents, "Info.plist"), "wb") as handle:
            plistlib.dump(info_plist(scheme), handle)
        stub.write_stub(os.path.join(contents, "MacOS", EXECUTABLE), executable)
        try:
            self._lsregister("-f", bundle)
            self.launch_services.set_default_handler(scheme, bundle_id(scheme))
        except PlatformError:
            self._remove(bundle)
            raise
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

    def _remove(self, bundle: str) -> None:
        """Undo a failed install: unregister and delete the bundle, whatever fails on the way."""
        import contextlib
        import shutil

        with contextlib.suppress(PlatformError, OSError):
            self._lsregister("-u", bundle)
        shutil.rmtree(bundle, ignore_errors=True)

    def status(self, scheme: str) -> Registration:
        """Report whether LaunchServices names our bundle as the scheme's default handler, and who does."""
        bundle = self.bundle_path(scheme)
        installed = os.path.isdir(bundle) and self._ours(bundle)
        handler = self.launch_services.default_handler(scheme)
        is_default = installed and handler is not None and handler.lower() == bundle_id(scheme).lower()
        other = handler or "no app"
        location = bundle if is_default else f"{bundle}; LaunchServices opens {scheme}:// with {other}"
        return Registration(scheme, installed, is_default, location)

    def _ours(self, bundle: str) -> bool:
        """Tell whether the bundle's Info.plist carries our marker."""
        import plistlib

        try:
            with open(os.path.join(bundle, "Contents", "Info.plist"), "rb") as handle:
                return bool(plistlib.load(handle).get(MARKER_KEY) == MARKER)
        except (OSError, ValueError):
            return False

    def _lsregister(self, *args: str) -> None:
        """Run lsregister (argument list, no shell) when it exists."""
        import subprocess

        if not os.path.exists(self.lsregister):
            return
        try:
            done = subprocess.run(  # noqa: S603 - fixed tool path, argument list
                [self.lsregister, *args], capture_output=True, timeout=TOOL_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PlatformError(f"lsregister failed: {exc}") from None
        if done.returncode != 0:
            raise PlatformError(f"lsregister failed with status {done.returncode}")

