"""Files and directories only the lobby's own user may read: password hashes and keys live there."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> None:
    """Create `path` and each missing parent 0700 whatever the umask; existing ones are left as they are."""
    missing = []
    for level in (path, *path.parents):
        if level.exists():
            break
        missing.append(level)
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=PRIVATE_DIR_MODE)
        os.chmod(level, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask
    path.mkdir(parents=True, exist_ok=True)


def private_database(path: Path) -> None:
    """Make the SQLite file at `path` (created empty if missing) and its WAL, shm and journal 0600.

    SQLite creates the WAL and shm files with the database file's permissions, so a database
    that is 0600 before SQLite opens it keeps every later side file 0600 too.
    """
    private_directory(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(file, PRIVATE_FILE_MODE)
