"""Runs the official Windows CPython under Wine for the Windows test lane, the way Wine needs it.

`./dev test` prepares `$PLAYLINK_WINDOWS` (the interpreter, the SDK's Windows wheels and a Wine
prefix). Windows Python never gets a regular file as stdin/stdout/stderr (under Wine it dies with
`[WinError 6]`): pipes or the null device only. `wineserver` is started first with its output on the
null device, so that it never holds a test's pipe open.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path, PureWindowsPath

REPO = Path(__file__).resolve().parents[2]
READ_AFTER_EXIT_S = 0.5
WINE_ENV = {"WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml=;winemenubuilder.exe=d"}


def windows_path(path: Path | str) -> str:
    """Return the Windows path of a Linux path, through Wine's `Z:` drive."""
    return str(PureWindowsPath("Z:\\") / str(Path(path).resolve()).lstrip("/"))


class WinePython:
    """The Windows CPython of the lane, run in one Wine prefix."""

    def __init__(self, cache: Path, prefix: Path | None = None) -> None:
        self.cache = cache
        self.python = cache / "python" / "python.exe"
        self.pythonw = cache / "python" / "pythonw.exe"
        self.prefix = prefix or cache / "prefix"
        for needed in (self.python, self.prefix / "system.reg", cache / "site"):
            if not needed.exists():
                raise RuntimeError(f"the Windows lane is not prepared ({needed} is missing): run ./dev test")
        if shutil.which("wine") is None:
            raise RuntimeError("wine is not installed: run ./dev test, which installs it")

    @classmethod
    def from_environment(cls) -> WinePython:
        """Return the lane's interpreter, or raise with the reason the lane cannot run."""
        cache = os.environ.get("PLAYLINK_WINDOWS")
        if not cache:
            raise RuntimeError("PLAYLINK_WINDOWS is unset: run ./dev test, which prepares Wine")
        return cls(Path(cache))

    def env(self, pythonpath: bool = True, **extra: str) -> dict[str, str]:
        """Return the environment of a Windows process: the repository and the SDK wheels importable."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "WINEPREFIX": str(self.prefix),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUTF8": "1",
            **WINE_ENV,
        }
        if pythonpath:
            env["PYTHONPATH"] = f"{windows_path(REPO)};{windows_path(self.cache / 'site')}"
        env.update(extra)
        return env

    def start_server(self) -> None:
        """Start this prefix's wineserver, detached from every pipe of the test run."""
        subprocess.run(
            ["wineserver", "-p"], env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60,
        )  # fmt: skip

    def stop_server(self) -> None:
        """Stop this prefix's wineserver and every Windows process in it."""
        subprocess.run(
            ["wineserver", "-k"], env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60,
        )  # fmt: skip

    def run(
        self, *args: str, exe: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run Windows Python with `args` and return its exit code and output.

        Output is read until the process exits, not until end of file: a Windows process it starts
        (a game client) inherits the Unix end of the pipes under Wine and would hold them open.
        """
        process = subprocess.Popen(
            ["wine", str(exe or self.python), *args], env=env or self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        chunks: dict[int, list[bytes]] = {1: [], 2: []}
        readers = [
            threading.Thread(target=_drain, args=(stream, chunks[fd]), daemon=True)
            for fd, stream in ((1, process.stdout), (2, process.stderr))
        ]
        for reader in readers:
            reader.start()
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        for reader in readers:
            reader.join(READ_AFTER_EXIT_S)
        out, err = (b"".join(chunks[fd]).decode(errors="replace") for fd in (1, 2))
        return subprocess.CompletedProcess(process.args, code, out, err)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start Windows Python with `args`, its stdout and stderr on pipes."""
        return subprocess.Popen(
            ["wine", str(self.python), *args], env=env or self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip


def _drain(stream: object, chunks: list[bytes]) -> None:
    """Read `stream` into `chunks` until end of file."""
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        chunks.append(chunk)
