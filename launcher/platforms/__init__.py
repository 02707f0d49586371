"""Registers the launcher as a URL-scheme handler: one module per OS behind one interface, chosen here.

`current()` returns the `Platform` of this operating system (`linux.py` for every XDG desktop,
`windows.py`, `macos.py`). Each one registers, unregisters (only what carries its marker, safe to
run twice) and reports whether this launcher is the default handler of a scheme.
"""

from __future__ import annotations

import os
import sys

from launcher.errors import ConfigError, PlatformError
from launcher.urls import check_scheme

MARKER = "playlink-launcher-1"
RESERVED_SCHEMES = frozenset(
    {
        "about", "blob", "chrome", "data", "file", "ftp", "http", "https", "javascript", "mailto",
        "ms-msdt", "ms-settings", "news", "search-ms", "sftp", "smb", "ssh", "tel", "vbscript",
        "view-source", "ws", "wss",
    }
)  # fmt: skip


class Registration:
    """What `status` found for one scheme."""

    def __init__(self, scheme: str, installed: bool, is_default: bool, location: str) -> None:
        self.scheme = scheme
        self.installed = installed
        self.is_default = is_default
        self.location = location

    def describe(self) -> str:
        """Return one human line, e.g. `arena: installed, default handler (...)`."""
        state = "installed" if self.installed else "not installed"
        default = "default handler" if self.is_default else "NOT the default handler"
        return f"{self.scheme}: {state}, {default} ({self.location})"


class Platform:
    """The interface every OS module implements."""

    name = "abstract"
    hosts_supported = False  # whether register_host is implemented for this OS

    def register(self, scheme: str, command: list[str]) -> str:
        """Make `command open -- URL` the handler of `scheme`; return where it was recorded."""
        raise NotImplementedError

    def unregister(self, scheme: str) -> bool:
        """Remove our registration of `scheme`, if any; return whether something was removed."""
        raise NotImplementedError

    def status(self, scheme: str) -> Registration:
        """Tell whether our registration exists and is the default handler of `scheme`."""
        raise NotImplementedError

    def register_host(self, scheme: str, command: list[str], extension_ids: list[str]) -> list[str]:
        """Register `command native-host SCHEME` as the browsers' native host for `extension_ids`."""
        raise PlatformError(f"no browser extension host registration on {self.name}", "unsupported")

    def check_host_free(self, scheme: str) -> None:
        """Refuse before anything is written when a native host file or key of `scheme` is not ours."""

    def unregister_host(self, scheme: str) -> bool:
        """Remove our native host registration of `scheme`, if any; return whether one was removed."""
        return False

    def host_status(self, scheme: str) -> list[str]:
        """Return where our native host of `scheme` is registered (empty when nowhere)."""
        return []

    def check_client_command(self, command: list[str]) -> None:
        """Refuse a client command this OS would re-parse through a shell (none by default)."""

    def check_scheme(self, scheme: str) -> None:
        """Refuse a scheme whose clicks could never reach a client on this OS (none by default)."""


def current() -> Platform:
    """Return the `Platform` of the running operating system."""
    if sys.platform == "win32":
        from launcher.platforms.windows import WindowsPlatform

        return WindowsPlatform()
    if sys.platform == "darwin":
        from launcher.platforms.macos import MacPlatform

        return MacPlatform()
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        from launcher.platforms.linux import LinuxPlatform

        return LinuxPlatform()
    raise PlatformError(f"no URL-scheme registration for {sys.platform}", "unsupported")


def launcher_command() -> list[str]:
    """Return the argv prefix the OS should run for a click: this environment's launcher.

    From the single-file `launcher.pyz`, this interpreter and that file. On Windows the GUI-subsystem
    interpreter `pythonw.exe` beside this one with `-P -m launcher`, so that a click never opens a
    console window; elsewhere this environment's `launcher` script, else `python -P -m launcher`.
    `-P` keeps the working directory the browser or desktop happens to have off `sys.path`, so a
    `launcher` package or module lying there is never what runs.
    """
    here = os.path.dirname(os.path.abspath(sys.executable))
    archive = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isfile(archive):  # running from the single-file launcher.pyz
        return [os.path.abspath(sys.executable), archive]
    if sys.platform == "win32":
        gui = os.path.join(here, "pythonw.exe")
        return [gui if os.path.isfile(gui) else os.path.abspath(sys.executable), "-P", "-m", "launcher"]
    script = os.path.join(here, "launcher")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [os.path.abspath(sys.executable), "-P", "-m", "launcher"]


def check_installable_scheme(scheme: str) -> str:
    """Refuse schemes that are malformed or belong to the browser or the OS (http, file, ms-*...)."""
    try:
        check_scheme(scheme)
    except Exception as exc:
        raise ConfigError(f"invalid scheme: {exc}") from None
    if scheme in RESERVED_SCHEMES or scheme.startswith("ms-"):
        raise ConfigError(f"{scheme}:// belongs to the browser or the OS; choose the game's own")
    return scheme


def check_socket_path(scheme: str) -> None:
    """Refuse a scheme whose Unix socket path (in the runtime directory) would not fit in `sun_path`."""
    from launcher import endpoint
    from launcher.errors import EndpointError

    try:
        endpoint.socket_path(scheme)
    except EndpointError as exc:
        raise ConfigError(
            f"{scheme}:// is too long here: {exc} (at most {endpoint.MAX_UNIX_PATH_BYTES - 1} bytes); "
            "choose a shorter scheme"
        ) from None


def resolve_client(program: str) -> str:
    """Return the absolute path of the client program, looked up on PATH if needed."""
    import shutil

    found = program if os.path.isabs(program) else shutil.which(program)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise ConfigError(f"the client program {program!r} is not an executable file")
    return os.path.abspath(found)
