"""Builds a launcher a game can ship to players who have no Python: a Windows folder or a Linux `.pyz`.

    launcher bundle windows --embed EMBED --out DIR   # python.org's embeddable CPython + the launcher
    launcher bundle linux --out FILE.pyz              # one file that runs on the system's python3

The Windows folder is the embeddable interpreter (`EMBED`: its zip, or a folder holding it unpacked)
with the `launcher` package beside it and a `._pth` file that isolates the interpreter from any other
Python on the machine. A game's installer drops the folder in and runs
`DIR\\python.exe -m launcher install SCHEME --lobby URL -- GAME.exe`, which registers that folder's
`pythonw.exe`. The `.pyz` is installed the same way: `python3 FILE.pyz install SCHEME ...`.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipapp
import zipfile

from launcher.errors import ConfigError

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
WINDOWS_REQUIRED = ("python.exe", "pythonw.exe")
_PYZ_MAIN = "import sys\nfrom launcher.cli import main\nsys.exit(main())\n"


def build_windows(embed: str, out: str) -> str:
    """Write the self-contained Windows launcher folder `out` from the embeddable CPython `embed`."""
    if os.path.exists(out) and os.listdir(out):
        raise ConfigError(f"{out} exists and is not empty; choose a new folder")
    with tempfile.TemporaryDirectory() as scratch:
        source = embed
        if os.path.isfile(embed):
            if not zipfile.is_zipfile(embed):
                raise ConfigError(f"{embed} is neither a folder nor a zip of the embeddable CPython")
            with zipfile.ZipFile(embed) as archive:
                archive.extractall(scratch)
            source = scratch
        names = os.listdir(source) if os.path.isdir(source) else []
        stdlib = [name for name in names if name.startswith("python3") and name.endswith(".zip")]
        if not all(name in names for name in WINDOWS_REQUIRED) or len(stdlib) != 1:
            raise ConfigError(f"{embed} is not the embeddable CPython for Windows (python.exe, pythonw.exe, "
                              "python3XX.zip)")  # fmt: skip
        shutil.copytree(source, out, ignore=shutil.ignore_patterns("*._pth"), dirs_exist_ok=True)
    _copy_package(os.path.join(out, "lib", "launcher"))
    with open(os.path.join(out, stdlib[0][: -len(".zip")] + "._pth"), "w", encoding="ascii") as pth:
        pth.write(f"{stdlib[0]}\n.\nlib\n")
    return out


def build_linux(out: str) -> str:
    """Write the single-file launcher `out` (a zip application for the system's python3)."""
    with tempfile.TemporaryDirectory() as scratch:
        _copy_package(os.path.join(scratch, "launcher"))
        with open(os.path.join(scratch, "__main__.py"), "w", encoding="utf-8") as main:
            main.write(_PYZ_MAIN)
        zipapp.create_archive(scratch, out, interpreter="/usr/bin/env python3")
    os.chmod(out, os.stat(out).st_mode | stat.S_IXUSR)
    return out


def _copy_package(target: str) -> None:
    """Copy the launcher package's sources (no caches) to `target`."""
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
