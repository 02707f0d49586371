"""The SQLite data directory is 0700 and the database, WAL and shm files 0600, whatever the umask."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.lobby import new_player


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the lobby under `mask` (a service manager's usual 022), as its child processes inherit it."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def crash(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a `lobby serve` supervisor and its workers, so that nothing closes the database."""
    assert process is not None
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if entry.name.isdigit() and parent == process.pid:
                os.kill(int(entry.name), signal.SIGKILL)
    process.kill()
    process.wait()


def database_files(data_dir: Path) -> dict[str, int]:
    return {p.name: mode(p) for p in data_dir.iterdir() if p.name.startswith("lobby.db")}


def test_a_new_data_directory_and_its_database_files_are_private_under_umask_022(start_lobby, tmp_path):
    data_dir = tmp_path / "fresh" / "playlink-lobby"
    with umask(0o022):
        lobby = start_lobby(tmp_path / "run", LOBBY_DATA_DIR=str(data_dir))
        with httpx.Client(base_url=lobby.url, timeout=10) as c:
            new_player(c)
        files = database_files(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir.parent) == 0o700
    assert {"lobby.db", "lobby.db-wal", "lobby.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files


def test_world_readable_database_files_left_by_an_older_lobby_are_tightened_at_start(start_lobby, tmp_path):
    data_dir = tmp_path / "old"
    with umask(0o022):
        lobby = start_lobby(tmp_path / "run", LOBBY_DATA_DIR=str(data_dir))
        with httpx.Client(base_url=lobby.url, timeout=10) as c:
            new_player(c)
        crash(lobby.process)  # a crash leaves the WAL and shm files behind, as an older lobby's are
        for name in database_files(data_dir):
            os.chmod(data_dir / name, 0o644)
        assert {"lobby.db", "lobby.db-wal", "lobby.db-shm"} <= set(database_files(data_dir))
        lobby.start()
        files = database_files(data_dir)
    assert {"lobby.db", "lobby.db-wal", "lobby.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}, files
