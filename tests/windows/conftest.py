"""The Windows lane: the official Windows CPython under Wine, in a copy of the prepared prefix.

Every test here runs Windows Python for real. The lane's set-up is `./dev test`'s; when it is
missing, the tests fail with the reason (they are never skipped). Each test gets a clean state:
Windows processes killed, the `arena` registration and the launcher's files removed.
"""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.launcher.conftest import Records
from tests.support.wine import REPO, WinePython, windows_path

SCHEME = "arena"
LOBBY = "https://lobby.example"
TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6InBsYXlsaW5rLWpvaW4rand0In0.eyJzdWIiOiJwbGF5ZXIifQ.c2lnbmF0dXJl"
VALID_URL = f"{SCHEME}://join?v=1&lobby=https%3A%2F%2Flobby.example&token={TOKEN}"
FAKE_CLIENT = REPO / "tests" / "launcher" / "fake_client.py"
SCRIPTS = Path(__file__).with_name("scripts")


@pytest.fixture(scope="session")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinePython]:
    """The lane's interpreter in a session copy of the pristine prefix, its wineserver running."""
    prepared = WinePython.from_environment()
    prefix = tmp_path_factory.mktemp("wine") / "prefix"
    shutil.copytree(prepared.prefix, prefix, symlinks=True)
    python = WinePython(prepared.cache, prefix)
    python.start_server()
    yield python
    python.stop_server()


class WinWorld(Records):
    """One test's Windows user: runs the launcher and the recording client, reads what they recorded."""

    wait_s = 60.0

    def __init__(self, python: WinePython, root: Path) -> None:
        self.python = python
        self.records = root / "records"
        self.records.mkdir()
        self.click_errors = ""
        profile = python.prefix / "drive_c" / "users" / getpass.getuser() / "AppData"
        self.config_dir = profile / "Roaming" / "Playlink"
        self.runtime_dir = profile / "Local" / "Playlink"

    def client_command(self, *extra: str) -> list[str]:
        """The recording client as a Windows command line (Windows Python running fake_client.py)."""
        python = windows_path(self.python.python)
        return [python, windows_path(FAKE_CLIENT), SCHEME, windows_path(self.records), *extra]

    def launcher(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `python -m launcher ARGS` on Windows Python."""
        return self.python.run("-m", "launcher", *args, timeout=timeout)

    def script(self, name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one of this lane's Windows-side scripts."""
        return self.python.run(windows_path(SCRIPTS / name), *args, timeout=timeout)

    def install(self, *client: str, lobby: str = LOBBY) -> None:
        """Register the launcher for `arena` with the recording client (or `client`)."""
        command = list(client) or self.client_command()
        done = self.launcher("install", SCHEME, "--lobby", lobby, "--start-wait", "30", "--", *command)
        assert done.returncode == 0, done.stderr

    def click(self, *urls: str) -> list[int]:
        """Open each URL at once through the registered command line, as the Windows shell does."""
        listed = self.records / "urls.json"
        listed.write_text(json.dumps(urls))
        done = self.script("click.py", SCHEME, windows_path(listed))
        assert done.returncode == 0, done.stderr
        self.click_errors = done.stderr
        return [int(code) for code in done.stdout.split()]

    def start_client(self) -> subprocess.Popen[str]:
        """Start the recording client on Windows and wait until it listens."""
        process = self.python.popen(*self.client_command()[1:])
        listening = lambda: any(self.records.glob("listening-*")) or process.poll() is not None  # noqa: E731
        self.wait_for(listening, "the client to listen")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        return process

    def reset(self) -> None:
        """Kill every Windows process, remove the registration and the launcher's files."""
        self.python.stop_server()
        self.python.start_server()
        subprocess.run(
            ["wine", "reg", "delete", f"HKCU\\Software\\Classes\\{SCHEME}", "/f"], env=self.python.env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        shutil.rmtree(self.config_dir, ignore_errors=True)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


@pytest.fixture
def win(lane: WinePython, tmp_path: Path) -> Iterator[WinWorld]:
    """A clean Windows user for one test."""
    world = WinWorld(lane, tmp_path)
    world.reset()
    yield world
    world.reset()
