"""Windows: `HKCU\\Software\\Classes\\<scheme>`, per user, with an owner marker value.

    HKCU\\Software\\Classes\\<scheme>            (default) = "URL:<scheme> (Playlink)"
                                               "URL Protocol" = ""
                                               "PlaylinkLauncher" = marker
    HKCU\\Software\\Classes\\<scheme>\\shell\\open\\command
                                    (default) = "<pythonw.exe>" "-P" "-m" "launcher" open -- "%1"

`status` resolves a scheme the way Windows does (a `UserChoice` the user made in the "open with"
dialog first, then the per-user class over the machine-wide one) by reading HKCU and HKLM itself,
not the merged HKEY_CLASSES_ROOT view, which Wine does not merge.

Every argument is double-quoted; a quote or a trailing backslash in a path is refused because it
would change how `CommandLineToArgvW` splits the line. A `.bat`/`.cmd` client is refused because
cmd.exe re-parses its arguments. `winreg` is passed in so the tests can use a fake of the same API.

The browser extension's native host (see `launcher.hostmanifest`) is registered per user for Google
Chrome, Chromium and Microsoft Edge: the key `HKCU\\Software\\<browser>\\NativeMessagingHosts\\<host
name>`, whose default value is the path of the manifest in `%APPDATA%\\Playlink\\NativeMessagingHosts\\`
and which carries the marker value. Chrome starts a host through `cmd.exe /d /s /c`, so its `path`
is a marked batch file, `native-host-<scheme>.bat` beside the manifest, running the launcher with
every argument double-quoted and `%` doubled (`%*` passes on the browser's own arguments).
"""

from __future__ import annotations

import os

from launcher import hostmanifest
from launcher.errors import ClientUnavailable, ConfigError, PlatformError
from launcher.platforms import MARKER, Platform, Registration

CLASSES_KEY = "Software\\Classes"
MARKER_VALUE = "PlaylinkLauncher"
COMMAND_SUBKEY = "shell\\open\\command"
USER_CHOICE_KEY = "Software\\Microsoft\\Windows\\Shell\\Associations\\UrlAssociations"
HOST_KEYS = (
    "Software\\Google\\Chrome\\NativeMessagingHosts",
    "Software\\Chromium\\NativeMessagingHosts",
    "Software\\Microsoft\\Edge\\NativeMessagingHosts",
)
HOST_FOLDER = "NativeMessagingHosts"


def command_line(command: list[str]) -> str:
    """Return the `shell\\open\\command` value running `command open -- "%1"`."""
    for arg in command:
        if not arg or '"' in arg or arg.endswith("\\") or not arg.isprintable():
            raise PlatformError(f"cannot quote {arg!r} safely for a Windows command line")
    return " ".join(f'"{arg}"' for arg in command) + ' open -- "%1"'


def batch_file(command: list[str], scheme: str) -> str:
    """Return the batch file a host manifest names: `command native-host SCHEME %*`, marked."""
    for arg in command:
        if not arg or '"' in arg or arg.endswith("\\") or not arg.isprintable():
            raise PlatformError(f"cannot quote {arg!r} safely for a batch file")
    words = " ".join('"' + arg.replace("%", "%%") + '"' for arg in command)
    return f"@echo off\r\nrem {MARKER}\r\n{words} native-host {scheme} %*\r\n"


class WindowsPlatform(Platform):
    """Registers scheme handlers under HKEY_CURRENT_USER, never machine-wide."""

    name = "windows"
    hosts_supported = True

    def __init__(self, registry: object | None = None, host_dir: str | None = None) -> None:
        if registry is None:
            import winreg as registry  # type: ignore[no-redef]
        self.reg = registry
        if host_dir is None:
            from launcher.config import config_dir

            host_dir = os.path.join(config_dir(), HOST_FOLDER)
        self.host_dir = host_dir

    def check_host_free(self, scheme: str) -> None:
        """Refuse when a browser's host key, the manifest or the batch file of `scheme` is not ours."""
        for root in HOST_KEYS:
            key = f"{root}\\{hostmanifest.host_name(scheme)}"
            if self._exists(self.reg.HKEY_CURRENT_USER, key) and not self._host_ours(key):  # type: ignore[attr-defined]
                raise PlatformError(f"HKCU\\{key} exists and is not ours; refusing to overwrite it")
        wrapper = self._wrapper(scheme)
        if os.path.lexists(wrapper) and not _batch_ours(wrapper):
            raise PlatformError(f"{wrapper} exists and is not ours; refusing to overwrite it")
        hostmanifest.check_free([self.host_dir], scheme)

    def register_host(self, scheme: str, command: list[str], extension_ids: list[str]) -> list[str]:
        """Write the batch file and the manifest, and point each browser's key at the manifest."""
        self.check_host_free(scheme)
        reg, keys = self.reg, [f"{root}\\{hostmanifest.host_name(scheme)}" for root in HOST_KEYS]
        wrapper = self._wrapper(scheme)
        text = batch_file(command, scheme)
        [manifest] = hostmanifest.write_all([self.host_dir], scheme, wrapper, extension_ids)
        with open(wrapper, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        for key in keys:
            with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, key, 0, reg.KEY_WRITE) as handle:  # type: ignore[attr-defined]
                reg.SetValueEx(handle, "", 0, reg.REG_SZ, manifest)  # type: ignore[attr-defined]
                reg.SetValueEx(handle, MARKER_VALUE, 0, reg.REG_SZ, MARKER)  # type: ignore[attr-defined]
        return [f"HKCU\\{key}" for key in keys]

    def unregister_host(self, scheme: str) -> bool:
        """Delete our browsers' keys, manifest and batch file of `scheme`."""
        removed = False
        for root in HOST_KEYS:
            key = f"{root}\\{hostmanifest.host_name(scheme)}"
            if self._host_ours(key):
                self._delete_tree(key)
                removed = True
        removed = hostmanifest.remove_all([self.host_dir], scheme) or removed
        wrapper = self._wrapper(scheme)
        if os.path.isfile(wrapper) and _batch_ours(wrapper):
            os.unlink(wrapper)
            removed = True
        return removed

    def host_status(self, scheme: str) -> list[str]:
        """Return our browsers' keys of `scheme` that point at our manifest, with the batch file there."""
        if not _batch_ours(self._wrapper(scheme)) or not hostmanifest.found([self.host_dir], scheme):
            return []
        manifest = hostmanifest.manifest_path(self.host_dir, scheme)
        keys = [f"{root}\\{hostmanifest.host_name(scheme)}" for root in HOST_KEYS]
        return [
            f"HKCU\\{key}"
            for key in keys
            if self._host_ours(key) and self._value(self.reg.HKEY_CURRENT_USER, key) == manifest  # type: ignore[attr-defined]
        ]

    def _wrapper(self, scheme: str) -> str:
        """Return the path of `scheme`'s host batch file."""
        return os.path.join(self.host_dir, f"native-host-{scheme}.bat")

    def _host_ours(self, key: str) -> bool:
        """Tell whether a browser's host key carries our marker value."""
        return self._value(self.reg.HKEY_CURRENT_USER, key, MARKER_VALUE) == MARKER  # type: ignore[attr-defined]

    def register(self, scheme: str, command: list[str]) -> str:
        """Create the scheme's keys with our marker; refuse to take over a foreign registration."""
        reg, path = self.reg, self._path(scheme)
        if self._exists(reg.HKEY_CURRENT_USER, path) and not self._ours(scheme):  # type: ignore[attr-defined]
            raise PlatformError(f"HKCU\\{path} exists and is not ours; refusing to overwrite it")
        line = command_line(command)
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, path, 0, reg.KEY_WRITE) as key:  # type: ignore[attr-defined]
            reg.SetValueEx(key, "", 0, reg.REG_SZ, f"URL:{scheme} (Playlink)")  # type: ignore[attr-defined]
            reg.SetValueEx(key, "URL Protocol", 0, reg.REG_SZ, "")  # type: ignore[attr-defined]
            reg.SetValueEx(key, MARKER_VALUE, 0, reg.REG_SZ, MARKER)  # type: ignore[attr-defined]
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, f"{path}\\{COMMAND_SUBKEY}", 0, reg.KEY_WRITE) as key:  # type: ignore[attr-defined]
            reg.SetValueEx(key, "", 0, reg.REG_SZ, line)  # type: ignore[attr-defined]
        return f"HKCU\\{path}"

    def unregister(self, scheme: str) -> bool:
        """Delete the scheme's key tree, only if it carries our marker."""
        if not self._ours(scheme):
            return False
        self._delete_tree(self._path(scheme))
        return True

    def status(self, scheme: str) -> Registration:
        """Report whether Windows resolves `scheme` to our command (HKCU over HKLM, a UserChoice first)."""
        reg, path = self.reg, self._path(scheme)
        installed = self._ours(scheme)
        ours = self._value(reg.HKEY_CURRENT_USER, f"{path}\\{COMMAND_SUBKEY}")  # type: ignore[attr-defined]
        location = f"HKCU\\{path}"
        choice = self._value(reg.HKEY_CURRENT_USER, f"{USER_CHOICE_KEY}\\{scheme}\\UserChoice", "ProgId")  # type: ignore[attr-defined]
        if choice is not None and choice != scheme:
            return Registration(scheme, installed, False, f"{location}; the user chose {choice!r} instead")
        return Registration(scheme, installed, installed and ours == self._effective(scheme), location)

    def _effective(self, scheme: str) -> str | None:
        """Return the command Windows runs for `scheme`: the per-user class wins over the machine's."""
        reg, path = self.reg, f"{self._path(scheme)}\\{COMMAND_SUBKEY}"
        if self._exists(reg.HKEY_CURRENT_USER, self._path(scheme)):  # type: ignore[attr-defined]
            return self._value(reg.HKEY_CURRENT_USER, path)  # type: ignore[attr-defined]
        return self._value(reg.HKEY_LOCAL_MACHINE, path)  # type: ignore[attr-defined]

    def check_client_command(self, command: list[str]) -> None:
        """Refuse a `.bat`/`.cmd` client command."""
        from launcher.handoff import check_client_command

        try:
            check_client_command(command, windows=True)
        except ClientUnavailable as exc:
            raise ConfigError(str(exc)) from None

    def _path(self, scheme: str) -> str:
        """Return the scheme's key path under HKEY_CURRENT_USER."""
        return f"{CLASSES_KEY}\\{scheme}"

    def _ours(self, scheme: str) -> bool:
        """Tell whether the scheme's key carries our marker value."""
        return self._value(self.reg.HKEY_CURRENT_USER, self._path(scheme), MARKER_VALUE) == MARKER  # type: ignore[attr-defined]

    def _exists(self, root: object, path: str) -> bool:
        """Tell whether a key exists."""
        try:
            self.reg.OpenKey(root, path).Close()  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _value(self, root: object, path: str, name: str = "") -> str | None:
        """Read a string value, or None when the key or the value is missing."""
        try:
            with self.reg.OpenKey(root, path) as key:  # type: ignore[attr-defined]
                value, _kind = self.reg.QueryValueEx(key, name)  # type: ignore[attr-defined]
        except OSError:
            return None
        return value if isinstance(value, str) else None

    def _delete_tree(self, path: str) -> None:
        """Delete a key and all its subkeys (winreg.DeleteKey deletes leaves only)."""
        reg = self.reg
        with reg.OpenKey(reg.HKEY_CURRENT_USER, path) as key:  # type: ignore[attr-defined]
            children = []
            while True:
                try:
                    children.append(reg.EnumKey(key, len(children)))  # type: ignore[attr-defined]
                except OSError:
                    break
        for child in children:
            self._delete_tree(f"{path}\\{child}")
        reg.DeleteKey(reg.HKEY_CURRENT_USER, path)  # type: ignore[attr-defined]


def _batch_ours(path: str) -> bool:
    """Tell whether the batch file at `path` carries our marker on its second line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read(4096).splitlines()
    except OSError:
        return False
    return len(lines) > 1 and lines[1] == f"rem {MARKER}"
