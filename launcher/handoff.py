"""Hands a parsed join to the game client, starting the client first when nothing listens.

Starting is serialized per user and scheme by a lock file in the private runtime directory, held
while the client starts and until it listens: two clicks in a row start one client, not two. The
client is started from its argument list (no shell), detached, with stdio on the null device, and
with neither the URL nor the token in its argv or environment: the token only ever travels over IPC.
"""

from __future__ import annotations

import os
import sys
import time

from launcher import endpoint, ipc
from launcher.config import Config
from launcher.errors import ClientUnavailable, EndpointError, NotListening
from launcher.urls import Join

RETRY_FIRST_S = 0.01
RETRY_MAX_S = 0.2
_REFUSED_CLIENT_SUFFIXES = (".bat", ".cmd")


def hand_off(join: Join, config: Config) -> None:
    """Deliver `join` to `config.scheme`'s client, starting it if needed; raise if it never takes it."""
    try:
        ipc.deliver(config.scheme, join, config.reply_timeout_s)
        return
    except NotListening:
        pass
    lock = endpoint.lock_path(config.scheme, "start")
    endpoint.ensure_private_dir(os.path.dirname(lock))
    try:
        with endpoint.FileLock(lock, config.client_start_wait_s + config.reply_timeout_s):
            try:
                ipc.deliver(config.scheme, join, config.reply_timeout_s)
                return
            except NotListening:
                pass
            process = start_client(config.client_command)
            _deliver_when_listening(join, config, process)
    except EndpointError as exc:
        if exc.reason != "conflict":
            raise
        raise ClientUnavailable("another launcher is still starting the game client") from None


def start_client(command: list[str]) -> object:
    """Start the client command detached: argument list, no shell, stdio on the null device."""
    import subprocess

    check_client_command(command)
    options: dict[str, object] = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True
    try:
        return subprocess.Popen(  # noqa: S603 - an argument list from the user's own config, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            cwd=os.path.expanduser("~"),
            **options,  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise ClientUnavailable(f"cannot start the game client {command[0]}: {exc.strerror}") from None


def check_client_command(command: list[str], windows: bool = sys.platform == "win32") -> None:
    """Refuse a client command that a shell would re-parse (a .bat/.cmd file on Windows)."""
    if windows and command[0].lower().rstrip(". ").endswith(_REFUSED_CLIENT_SUFFIXES):
        raise ClientUnavailable(
            "a .bat/.cmd client command is refused: cmd.exe re-parses its arguments", "forbidden"
        )


def _deliver_when_listening(join: Join, config: Config, process: object) -> None:
    """Retry delivery with a short back-off until the client listens, exits, or time runs out."""
    deadline = time.monotonic() + config.client_start_wait_s
    delay = RETRY_FIRST_S
    while True:
        try:
            ipc.deliver(config.scheme, join, config.reply_timeout_s)
            return
        except NotListening:
            pass
        status = process.poll() if process is not None else None  # type: ignore[attr-defined]
        if status:
            raise ClientUnavailable(f"the game client exited (status {status}) before listening")
        if status == 0:
            process = None  # a wrapper that started the real client and left: keep waiting
        if time.monotonic() + delay > deadline:
            raise ClientUnavailable(
                f"the game client did not listen within {config.client_start_wait_s:g} s"
            )
        time.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)
