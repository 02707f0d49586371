"""Where a scheme's IPC endpoint lives, and the checks that keep it private to this user.

The runtime directory: on Linux `$XDG_RUNTIME_DIR/playlink`, or `$XDG_CACHE_HOME/playlink/run`
(`~/.cache/playlink/run`) when `XDG_RUNTIME_DIR` is unset, a place no other user can create first;
on macOS `playlink` in the per-user temporary directory (`confstr(_CS_DARWIN_USER_TEMP_DIR)`, the
same for every process of the user whatever its environment); on Windows
`%LOCALAPPDATA%\\Playlink\\run` (lock files only: the endpoint is a named pipe, see `launcher.winpipe`).
On Linux and macOS the socket is `<runtime dir>/<scheme>.sock`; the directory is created 0700 and
refused when it is a symlink, owned by someone else, or open to group or others; the peer of every
connection must run as this user (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS).
"""

from __future__ import annotations

import os
import sys

from launcher.errors import EndpointError

RUNTIME_SUBDIR = "playlink"
MAX_UNIX_PATH_BYTES = 104
LOCK_POLL_S = 0.02
_S_IFMT = 0o170000
_S_IFDIR = 0o040000
_S_IFSOCK = 0o140000
_LINUX_SO_PEERCRED_SIZE = 12
_MACOS_SOL_LOCAL = 0
_MACOS_LOCAL_PEERCRED = 1
_MACOS_XUCRED_SIZE = 76
_DARWIN_USER_TEMP_DIR = 65537  # _CS_DARWIN_USER_TEMP_DIR of <unistd.h>
_WINDOWS_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: a symlink or junction


def runtime_dir() -> str:
    """Return this user's private runtime directory for Playlink (not created here)."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
        return os.path.join(local, "Playlink", "run")
    if sys.platform == "darwin":
        return os.path.join(_darwin_user_temp_dir(), RUNTIME_SUBDIR)
    base = os.environ.get("XDG_RUNTIME_DIR") or ""
    if os.path.isabs(base):
        return os.path.join(base, RUNTIME_SUBDIR)
    cache = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(cache):
        cache = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, RUNTIME_SUBDIR, "run")


def _darwin_user_temp_dir() -> str:
    """Return macOS's per-user temporary directory, the same for every process of this user."""
    try:
        found = os.confstr(_DARWIN_USER_TEMP_DIR)
    except (OSError, ValueError):
        found = None
    if found and os.path.isabs(found):
        return found
    import tempfile

    return tempfile.gettempdir()


def socket_path(scheme: str) -> str:
    """Return the Unix socket path of `scheme`'s game client."""
    path = os.path.join(runtime_dir(), f"{scheme}.sock")
    if len(os.fsencode(path)) >= MAX_UNIX_PATH_BYTES:
        raise EndpointError(f"the socket path {path} is too long for a Unix socket")
    return path


def lock_path(scheme: str, purpose: str) -> str:
    """Return the path of `scheme`'s lock file for `purpose` (`start` or `listen`)."""
    return os.path.join(runtime_dir(), f"{scheme}.{purpose}.lock")


def ensure_private_dir(path: str, create: bool = True) -> str:
    """Create `path` 0700 if asked and absent, then refuse it unless it is ours and private."""
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
    check_private_dir(path)
    return path


def check_private_dir(path: str) -> None:
    """Raise `EndpointError` unless `path` is a real directory owned by us with mode 0700."""
    stat = os.lstat(path)
    reparse_point = getattr(stat, "st_file_attributes", 0) & _WINDOWS_REPARSE_POINT
    if (stat.st_mode & _S_IFMT) != _S_IFDIR or reparse_point:
        raise EndpointError(f"{path} is not a directory (a symlink?); refusing it")
    if sys.platform == "win32":
        return  # under the user's own profile, whose ACL already keeps other users out
    if stat.st_uid != os.getuid():
        raise EndpointError(f"{path} belongs to another user; refusing it", "forbidden")
    if stat.st_mode & 0o077:
        raise EndpointError(f"{path} is open to other users (mode {stat.st_mode & 0o777:o})")


def is_our_socket(path: str) -> bool:
    """Tell whether `path` is a socket file (not a symlink) owned by this user."""
    stat = os.lstat(path)
    return (stat.st_mode & _S_IFMT) == _S_IFSOCK and stat.st_uid == os.getuid()


def peer_uid(sock: object) -> int | None:
    """Return the uid of the process at the other end of a Unix socket, or None if unknowable."""
    import _socket

    if hasattr(_socket, "SO_PEERCRED"):
        raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _LINUX_SO_PEERCRED_SIZE)  # type: ignore[attr-defined]
    elif sys.platform == "darwin":
        raw = sock.getsockopt(_MACOS_SOL_LOCAL, _MACOS_LOCAL_PEERCRED, _MACOS_XUCRED_SIZE)  # type: ignore[attr-defined]
    else:
        return None
    return int.from_bytes(raw[4:8], sys.byteorder)


def check_peer(sock: object) -> None:
    """Raise `EndpointError` (reason forbidden) unless the peer runs as this user."""
    uid = peer_uid(sock)
    if uid is not None and uid != os.getuid():
        raise EndpointError(f"refused a peer running as uid {uid}", "forbidden")


class FileLock:
    """An exclusive advisory lock on a file (flock, or msvcrt on Windows), waited for up to a limit."""

    def __init__(self, path: str, timeout_s: float = 0.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock, polling until `timeout_s`; return whether it was taken."""
        import time

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o600)
        deadline = time.monotonic() + self.timeout_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(LOCK_POLL_S)
        self._fd = fd
        return True

    def release(self) -> None:
        """Release the lock (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        if not self.acquire():
            raise EndpointError(f"timed out waiting for the lock {self.path}", "conflict")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    """Try once to lock `fd` exclusively without blocking."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
