"""Shared fixtures: a private HOME/XDG world in a temporary directory, and real launcher processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_CLIENT = Path(__file__).with_name("fake_client.py")
SCHEME = "arena"
LOBBY = "https://lobby.example"
LOBBY_ENCODED = "https%3A%2F%2Flobby.example"
TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6InBsYXlsaW5rLWpvaW4rand0In0.eyJzdWIiOiJwbGF5ZXIifQ.c2lnbmF0dXJl"
VALID_URL = f"{SCHEME}://join?v=1&lobby={LOBBY_ENCODED}&token={TOKEN}"


class Records:
    """What the recording fake clients (fake_client.py) wrote into `records`: starts and joins."""

    records: Path
    wait_s = 10.0

    def started(self) -> list[dict[str, object]]:
        """Return what each fake client recorded about its own start."""
        return [json.loads(path.read_text()) for path in sorted(self.records.glob("started-*.json"))]

    def joins(self) -> list[dict[str, str]]:
        """Return the joins fake clients received."""
        path = self.records / "joins.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def wait_for(self, condition: object, what: str, timeout_s: float | None = None) -> None:
        """Poll `condition` until true, failing the test after `timeout_s` (default `wait_s`)."""
        deadline = time.monotonic() + (timeout_s or self.wait_s)
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.02)


class World(Records):
    """A temporary user world: HOME, XDG dirs, a 0700 runtime dir, and a record dir for fake clients."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.runtime = root / "run"
        self.records = root / "records"
        for path in (self.home, self.records):
            path.mkdir()
        self.runtime.mkdir(mode=0o700)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_DATA_DIRS": str(root / "no-system-data"),
            "XDG_CONFIG_DIRS": str(root / "no-system-config"),
            "PYTHONPATH": str(REPO),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self._pids: list[int] = []

    def client_command(self, *extra: str) -> list[str]:
        """Return the fake client's command line, recording into this world."""
        return [sys.executable, str(FAKE_CLIENT), SCHEME, str(self.records), *extra]

    def launcher(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run the real `launcher` command in this world."""
        return subprocess.run(
            [sys.executable, "-m", "launcher", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_client(self) -> subprocess.Popen[bytes]:
        """Start the fake client directly and wait until it listens."""
        process = subprocess.Popen(self.client_command(), env=self.env)
        self._pids.append(process.pid)
        self.wait_for(lambda: any(self.records.glob(f"listening-{process.pid}")), "client listening")
        return process

    def cleanup(self) -> None:
        """Kill every fake client this world started or saw start."""
        pids = set(self._pids) | {int(entry["pid"]) for entry in self.started()}  # type: ignore[arg-type]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private world, also applied to this process's environment for in-process calls."""
    created = World(tmp_path)
    for name, value in created.env.items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    yield created
    created.cleanup()


@pytest.fixture
def installed(world: World) -> World:
    """A world where `arena` is configured to trust LOBBY and start the fake client."""
    from launcher import config

    config.save(config.Config(SCHEME, [LOBBY], world.client_command(), 10.0, 5.0))
    return world
