"""Linux and other XDG desktops: a hidden `.desktop` file, `xdg-mime default`, `update-desktop-database`.

The file is `$XDG_DATA_HOME/applications/playlink-<scheme>.desktop` with `NoDisplay=true`,
`MimeType=x-scheme-handler/<scheme>;`, an `Exec=` line quoted per the Desktop Entry specification
and ending in `open -- %u`, and the key `X-Playlink-Launcher` as the marker uninstall looks for.
When an argument of the launcher command would break in a naive `Exec=` splitter (a space in a
venv's path, a quote...), `Exec=` runs a marked `/bin/sh` stub, `$XDG_DATA_HOME/playlink/open-<scheme>`,
that `exec`s the command.

The browser extension's native host (see `launcher.hostmanifest`) is registered per user for
Chromium (`$XDG_CONFIG_HOME/chromium/NativeMessagingHosts/`) and Google Chrome
(`$XDG_CONFIG_HOME/google-chrome/NativeMessagingHosts/`); its manifest's `path` is a marked `/bin/sh`
stub, `$XDG_DATA_HOME/playlink/native-host-<scheme>`, since a manifest allows no arguments.
"""

from __future__ import annotations

import os
import shutil

from launcher.errors import PlatformError
from launcher.platforms import MARKER, Platform, Registration, check_socket_path, stub
from launcher.platforms.stubhost import StubHosts

MARKER_KEY = "X-Playlink-Launcher"
TOOL_TIMEOUT_S = 30.0
_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`=")


def quote_exec_argument(arg: str) -> str:
    """Quote one argument for an `Exec=` value, per the Desktop Entry spec (then string-escaped)."""
    if not arg or any(ord(char) < 0x20 or ord(char) == 0x7F for char in arg):
        raise PlatformError("an Exec argument must be non-empty and without control characters")
    if not set(arg) & _RESERVED:
        quoted = arg
    else:
        inner = "".join("\\" + char if char in '"`$\\' else char for char in arg)
        quoted = f'"{inner}"'
    return quoted.replace("%", "%%").replace("\\", "\\\\")


def exec_line(command: list[str]) -> str:
    """Return the `Exec=` value running `command open -- %u`."""
    return " ".join(quote_exec_argument(arg) for arg in command) + " open -- %u"


def desktop_entry(scheme: str, command: list[str]) -> str:
    """Return the text of the hidden handler `.desktop` file for `scheme`."""
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name=Playlink launcher ({scheme})\n"
        f"Comment=Hands {scheme}:// join links to the game client\n"
        f"Exec={exec_line(command)}\n"
        "NoDisplay=true\n"
        "Terminal=false\n"
        f"MimeType=x-scheme-handler/{scheme};\n"
        f"{MARKER_KEY}={MARKER}\n"
    )


class LinuxPlatform(StubHosts, Platform):
    """Registers scheme handlers the freedesktop.org way, for this user only."""

    name = "linux"

    def __init__(self, data_home: str | None = None, config_home: str | None = None) -> None:
        home = os.path.expanduser("~")
        self.data_home = data_home or _xdg("XDG_DATA_HOME", os.path.join(home, ".local", "share"))
        self.config_home = config_home or _xdg("XDG_CONFIG_HOME", os.path.join(home, ".config"))

    def desktop_id(self, scheme: str) -> str:
        """Return the desktop file id (file name) of `scheme`'s handler."""
        return f"playlink-{scheme}.desktop"

    def desktop_path(self, scheme: str) -> str:
        """Return the path of `scheme`'s handler `.desktop` file."""
        return os.path.join(self.data_home, "applications", self.desktop_id(scheme))

    def stub_path(self, scheme: str) -> str:
        """Return the path of `scheme`'s `/bin/sh` stub (written only when the command needs one)."""
        return os.path.join(self.data_home, "playlink", f"open-{scheme}")

    def check_scheme(self, scheme: str) -> None:
        """Refuse a scheme whose socket path would not fit in `sun_path`."""
        check_socket_path(scheme)

    def register(self, scheme: str, command: list[str]) -> str:
        """Write the `.desktop` file, make it the default handler, refresh the desktop database."""
        path = self.desktop_path(scheme)
        if os.path.lexists(path) and not _has_marker(path):
            raise PlatformError(f"{path} exists and is not ours; refusing to overwrite it")
        command = self._runnable(scheme, command)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(desktop_entry(scheme, command))
        os.replace(temp, path)
        self._tool("xdg-mime", "default", self.desktop_id(scheme), f"x-scheme-handler/{scheme}")
        self._tool("update-desktop-database", os.path.dirname(path))
        return path

    def unregister(self, scheme: str) -> bool:
        """Remove our `.desktop` file and the mimeapps.list entries naming it."""
        path = self.desktop_path(scheme)
        removed = False
        if os.path.lexists(path) and _has_marker(path):
            os.unlink(path)
            removed = True
            self._tool("update-desktop-database", os.path.dirname(path))
        removed = self._remove_stub(scheme) or removed
        return self._forget_default(scheme) or removed

    def status(self, scheme: str) -> Registration:
        """Report whether our file exists and `xdg-mime` names it as the scheme's default."""
        path = self.desktop_path(scheme)
        installed = os.path.isfile(path) and _has_marker(path)
        default = self._tool("xdg-mime", "query", "default", f"x-scheme-handler/{scheme}")
        return Registration(scheme, installed, installed and default == self.desktop_id(scheme), path)

    def host_folders(self) -> list[str]:
        """Return the per-user native messaging host folders of the Chromium-family browsers."""
        return [
            os.path.join(self.config_home, "chromium", "NativeMessagingHosts"),
            os.path.join(self.config_home, "google-chrome", "NativeMessagingHosts"),
        ]

    def host_wrapper_path(self, scheme: str) -> str:
        """Return the path of the stub a host manifest names for `scheme`."""
        return os.path.join(self.data_home, "playlink", f"native-host-{scheme}")

    def _runnable(self, scheme: str, command: list[str]) -> list[str]:
        """Return `command`, or a stub running it when an `Exec=` splitter could break an argument."""
        if all(stub.is_plain(arg) for arg in command):
            self._remove_stub(scheme)
            return command
        path = self.stub_path(scheme)
        if os.path.lexists(path) and not stub.has_marker(path, MARKER):
            raise PlatformError(f"{path} exists and is not ours; refusing to overwrite it")
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        comment = f"Playlink launcher for {scheme}:// (generated): runs a command an Exec line cannot hold"
        stub.write_stub(path, stub.sh_stub(command, comment=comment, marker=MARKER))
        return [path]

    def _remove_stub(self, scheme: str) -> bool:
        """Delete `scheme`'s stub if it is ours; return whether one was deleted."""
        path = self.stub_path(scheme)
        if not os.path.isfile(path) or not stub.has_marker(path, MARKER):
            return False
        os.unlink(path)
        return True

    def _forget_default(self, scheme: str) -> bool:
        """Drop `x-scheme-handler/<scheme>=playlink-<scheme>.desktop` lines from mimeapps.list."""
        path = os.path.join(self.config_home, "mimeapps.list")
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines(keepends=True)
        except FileNotFoundError:
            return False
        entry = f"x-scheme-handler/{scheme}={self.desktop_id(scheme)}"
        kept = [line for line in lines if line.strip().rstrip(";") != entry]
        if len(kept) == len(lines):
            return False
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            handle.writelines(kept)
        os.replace(temp, path)
        return True

    def _tool(self, name: str, *args: str) -> str:
        """Run an XDG tool if installed (argument list, no shell) and return its stdout."""
        import subprocess

        program = shutil.which(name)
        if program is None:
            return ""
        env = dict(os.environ, XDG_DATA_HOME=self.data_home, XDG_CONFIG_HOME=self.config_home)
        try:
            done = subprocess.run(  # noqa: S603 - fixed tool, argument list, no shell
                [program, *args],
                capture_output=True,
                text=True,
                timeout=TOOL_TIMEOUT_S,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PlatformError(f"{name} failed: {exc}") from None
        if done.returncode != 0:
            raise PlatformError(f"{name} failed: {done.stderr.strip() or done.returncode}")
        return done.stdout.strip()


def _has_marker(path: str) -> bool:
    """Tell whether the `.desktop` file at `path` carries our marker key."""
    try:
        with open(path, encoding="utf-8") as handle:
            return any(line.strip() == f"{MARKER_KEY}={MARKER}" for line in handle)
    except (OSError, UnicodeDecodeError):
        return False


def _xdg(variable: str, default: str) -> str:
    """Return an XDG base directory from the environment when absolute, else `default`."""
    value = os.environ.get(variable) or ""
    return value if os.path.isabs(value) else default
