"""The directory a supervisor's workers pool their metrics in: made and held by it, removed after it.

Each directory holds a lock file that its supervisor keeps locked while it lives. The kernel drops
the lock when the supervisor dies however it dies (`kill -9` included), so a later `lobby serve`
can tell a directory left by a dead supervisor from one in use, and removes only the former.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "playlink-metrics-"
HOLD_NAME = ".supervisor.lock"


def make_metrics_dir() -> tuple[Path, int]:
    """A new private directory and the descriptor of its lock, held until closed (or the process dies)."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    fd = os.open(path / HOLD_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def remove_abandoned(parent: Path | None = None) -> list[Path]:
    """Remove the metrics directories in `parent` (the temp dir) whose supervisor is dead; their paths.

    Only this user's real directories (no symlinks) with an unlocked lock file are removed; one
    without a lock file is left alone (its supervisor may be starting right now).
    """
    removed = []
    try:
        with os.scandir(parent or tempfile.gettempdir()) as entries:
            for entry in entries:
                if entry.name.startswith(PREFIX) and _abandoned_removed(entry):
                    removed.append(Path(entry.path))
    except OSError:  # no usable temp dir (a read-only root): nothing can have been left there
        return removed
    return removed


def _abandoned_removed(entry: os.DirEntry[str]) -> bool:
    try:
        if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
            return False
        fd = os.open(os.path.join(entry.path, HOLD_NAME), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(entry.path, ignore_errors=True)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
