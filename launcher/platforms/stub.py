"""A `/bin/sh` stub that runs a fixed argument list, for paths a `#!` line or an `Exec=` cannot hold.

The kernel ends a `#!` interpreter path at the first space or tab (Linux and xnu alike), and the
generic `xdg-open` of xdg-utils 1.1 splits an `Exec=` line at every space whatever its quoting. So
where the interpreter's path has such a character, the OS runs this stub instead: every argument is
single-quoted (nothing inside single quotes is special to `sh`), and the only thing the shell expands
is `"$@"`, the stub's own arguments, passed through as they are and never re-parsed.
"""

from __future__ import annotations

import os

from launcher.errors import PlatformError

SHELL = "/bin/sh"
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+.,/:@")


def sh_quote(arg: str | bytes) -> bytes:
    """Return `arg` as one `sh` word: single-quoted, each `'` written as `'\\''`; NUL is refused."""
    raw = os.fsencode(arg)
    if not raw or b"\0" in raw:
        raise PlatformError("a stub argument must be non-empty and without NUL characters")
    return b"'" + raw.replace(b"'", b"'\\''") + b"'"


def is_plain(arg: str) -> bool:
    """Tell whether `arg` reaches a program intact through `#!`, an `Exec=` line and a naive splitter."""
    raw = os.fsencode(arg)
    return bool(raw) and all(byte in _PLAIN or byte >= 0x80 for byte in raw)


def sh_stub(command: list[str], *, comment: str, marker: str) -> bytes:
    """Return a `/bin/sh` script that `exec`s `command` followed by the stub's own arguments."""
    if "\n" in comment or "\n" in marker:
        raise PlatformError("a stub comment is one line")
    words = b" ".join(sh_quote(arg) for arg in command)
    return f"#!{SHELL}\n# {comment}\n# {marker}\n".encode() + b"exec " + words + b' "$@"\n'


def has_marker(path: str, marker: str) -> bool:
    """Tell whether the stub at `path` carries `marker` on its third line."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).split(b"\n")
    except OSError:
        return False
    return len(head) > 2 and head[2] == f"# {marker}".encode()


def write_stub(path: str, content: bytes) -> None:
    """Write an executable stub atomically (0755: readable and runnable, owner-writable)."""
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o755)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(temp, 0o755)  # noqa: S103 - an executable stub: readable and runnable, owner-writable
    os.replace(temp, path)
